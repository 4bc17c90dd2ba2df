"""A local stand-in for the national payment platform, which intake opens, queries and refunds dossiers'
payments at (docs/payments.md). It runs as a child process of the stack (`python -m
dossierbus_devstack.payment_gateway --port P`, its merchant code and secret in PAYMENT_SIMULATOR_MERCHANT
and PAYMENT_SIMULATOR_SECRET), keeps its orders in memory, and:

- takes `POST /api/v1/payments` (signed by the merchant, idempotent on the order id: the same order again
  is answered as it was, another amount for it is refused 409) and answers the page where the citizen pays;
- lets a test or the demo act as the citizen: `POST /control/pay/{order_id}` with the outcomes of the
  citizen's tries (`["paid"]`, `["failed", "paid"]`...), after which it sends the signed callbacks; or a
  person, on `GET /pay/{order_id}` in a browser;
- answers `GET /api/v1/payments/{order_id}` (the query) and `POST /api/v1/payments/{order_id}/refunds`
  (idempotent on the refund key);
- can be told (`POST /control/behaviour`) to drop, duplicate or reorder its callbacks, and (`POST
  /control/failures`) to fail its next API calls with a status of the test's choosing; what it sent and
  what intake answered is at `GET /control/callbacks`, its orders at `GET /control/orders`. The control
  endpoints take no key: the simulator listens on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dossierbus_devstack.parts import Simulator

API = "/api/v1"
SIGNATURE_HEADER = "X-Payment-Signature"
MERCHANT_HEADER = "X-Merchant-Code"
Outcome = Literal["paid", "failed"]


def sign(secret: bytes, body: bytes) -> str:
    """HMAC-SHA256 over the raw body, as the platform documents it (written here on its own, not imported
    from intake, so that the two sides are checked against each other)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_code: str
    order_id: str = Field(min_length=1, max_length=100)
    amount_vnd: int = Field(gt=0)
    description: str = Field(max_length=255)
    return_url: str
    callback_url: str = Field(pattern=r"^https?://")


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_code: str
    refund_key: str = Field(min_length=1, max_length=100)
    amount_vnd: int = Field(gt=0)
    reason: str = Field(max_length=500)


class PayRequest(BaseModel):
    """The citizen's tries on the platform's page, in order; the last one is what became of the order."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[Outcome] = Field(default_factory=lambda: list[Outcome](["paid"]), min_length=1)


class Behaviour(BaseModel):
    """What the simulator does with the callbacks of the next payments (until told otherwise)."""

    model_config = ConfigDict(extra="forbid")

    drop: bool = False
    """Send no callback at all (intake's reconciliation must find the payment)."""
    duplicate: bool = False
    """Send every callback twice."""
    reorder: bool = False
    """Send a payment's callbacks newest first (a "failed" try arrives after the "paid")."""


class FailureRule(BaseModel):
    """Answer the next `count` API calls with `status`."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    detail: str = "simulated failure"


@dataclass
class Order:
    request: CreateRequest
    reference: str
    status: str = "pending"
    paid_at: datetime | None = None
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class GatewayState:
    merchant_code: str
    secret: bytes
    public_url: str
    orders: dict[str, Order] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)
    failures: list[FailureRule] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def failure(self) -> FailureRule | None:
        if not self.failures:
            return None
        rule = self.failures[0]
        rule.count -= 1
        if rule.count == 0:
            self.failures.pop(0)
        return rule


def create_app(merchant_code: str, secret: bytes, public_url: str) -> FastAPI:
    app = FastAPI(title="payment platform simulator")
    state = GatewayState(merchant_code, secret, public_url.rstrip("/"))
    app.state.gateway = state

    def refused(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    async def merchant_call(
        request: Request, merchant: str | None, signature: str | None
    ) -> JSONResponse | bytes:
        """The raw body of a merchant's API call, or why it is refused."""
        if rule := state.failure():
            return refused(rule.status, rule.detail)
        if merchant != state.merchant_code:
            return refused(401, f"unknown merchant ({MERCHANT_HEADER})")
        raw = await request.body()
        if request.method == "POST" and not (
            signature and hmac.compare_digest(sign(state.secret, raw).encode(), signature.encode())
        ):
            return refused(401, f"missing or wrong {SIGNATURE_HEADER}")
        return raw

    @app.post(f"{API}/payments")
    async def create(
        request: Request,
        x_merchant_code: Annotated[str | None, Header()] = None,
        x_payment_signature: Annotated[str | None, Header()] = None,
    ) -> Response:
        raw = await merchant_call(request, x_merchant_code, x_payment_signature)
        if isinstance(raw, Response):
            return raw
        try:
            body = CreateRequest.model_validate_json(raw)
        except ValidationError as error:
            return refused(422, f"invalid payment request: {error.errors()}")
        if body.merchant_code != state.merchant_code:
            return refused(422, "merchant_code is not the caller's")
        order = state.orders.get(body.order_id)
        if order is not None and order.request.amount_vnd != body.amount_vnd:
            return refused(409, "this order id was used for another amount")
        if order is None:
            order = state.orders[body.order_id] = Order(body, reference=f"PG{secrets.token_hex(6).upper()}")
        return JSONResponse(
            {
                "order_id": body.order_id,
                "reference": order.reference,
                "payment_url": f"{state.public_url}/pay/{body.order_id}",
            },
            status_code=201,
        )

    @app.get(API + "/payments/{order_id}")
    async def query(
        order_id: str, request: Request, x_merchant_code: Annotated[str | None, Header()] = None
    ) -> Response:
        raw = await merchant_call(request, x_merchant_code, None)
        if isinstance(raw, Response):
            return raw
        order = state.orders.get(order_id)
        if order is None:
            return refused(404, f"no order {order_id}")
        return JSONResponse(notice(order, order.status))

    @app.post(API + "/payments/{order_id}/refunds")
    async def refund(
        order_id: str,
        request: Request,
        x_merchant_code: Annotated[str | None, Header()] = None,
        x_payment_signature: Annotated[str | None, Header()] = None,
    ) -> Response:
        raw = await merchant_call(request, x_merchant_code, x_payment_signature)
        if isinstance(raw, Response):
            return raw
        try:
            body = RefundRequest.model_validate_json(raw)
        except ValidationError as error:
            return refused(422, f"invalid refund request: {error.errors()}")
        order = state.orders.get(order_id)
        if order is None:
            return refused(404, f"no order {order_id}")
        if (done := order.refunds.get(body.refund_key)) is not None:
            return JSONResponse(done)  # the same key: the same refund
        if order.status != "paid" or body.amount_vnd != order.request.amount_vnd:
            return refused(409, f"order {order_id} is {order.status}; refunds are of a paid order, in full")
        done = {"refund_reference": f"RF{secrets.token_hex(6).upper()}", "status": "refunded"}
        order.refunds[body.refund_key] = done
        order.status = "refunded"
        return JSONResponse(done, status_code=201)

    @app.post("/control/pay/{order_id}")
    async def pay(order_id: str, tries: PayRequest) -> Response:
        """Act as the citizen: each try happens, then the callbacks go (as the behaviour says)."""
        order = state.orders.get(order_id)
        if order is None:
            return refused(404, f"no order {order_id}")
        if order.status != "pending" and order.status != "failed":
            return refused(409, f"order {order_id} is {order.status}")
        notices = []
        for outcome in tries.outcomes:
            order.status = outcome
            order.paid_at = datetime.now(UTC) if outcome == "paid" else None
            notices.append(notice(order, outcome))
        sent = await send_callbacks(order, notices)
        return JSONResponse({"order_id": order_id, "status": order.status, "callbacks": sent})

    async def send_callbacks(order: Order, notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        behaviour = state.behaviour
        if behaviour.drop:
            return []
        if behaviour.reorder:
            notices = notices[::-1]
        if behaviour.duplicate:
            notices = [copy for item in notices for copy in (item, item)]
        sent = []
        async with httpx.AsyncClient(timeout=10) as http:
            for item in notices:
                raw = json.dumps(item).encode()
                headers = {SIGNATURE_HEADER: sign(state.secret, raw), "Content-Type": "application/json"}
                try:
                    answer = await http.post(order.request.callback_url, content=raw, headers=headers)
                    result: dict[str, Any] = {"status": answer.status_code, "answer": answer.text[:500]}
                except httpx.HTTPError as error:
                    result = {"status": None, "answer": f"{type(error).__name__}: {error}"}
                record = {"at": datetime.now(UTC).isoformat(), "notice": item, **result}
                state.callbacks.append(record)
                sent.append(record)
        return sent

    def notice(order: Order, status: str) -> dict[str, Any]:
        return {
            "merchant_code": state.merchant_code,
            "order_id": order.request.order_id,
            "reference": order.reference,
            "status": "paid" if status == "refunded" else status,
            "amount_vnd": order.request.amount_vnd,
            "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        }

    @app.get("/pay/{order_id}", response_class=HTMLResponse)
    async def page(order_id: str) -> Response:
        """The page the citizen is sent to: pay, or give up."""
        order = state.orders.get(order_id)
        if order is None:
            return HTMLResponse("<h1>No such order</h1>", status_code=404)
        request = order.request
        return HTMLResponse(
            f"<h1>Payment platform (simulator)</h1><p>{escape(request.description)}: "
            f"<strong>{request.amount_vnd:,} VND</strong> (order {escape(order_id)}, {order.status})</p>"
            f'<form method="post" action="/pay/{escape(order_id)}"><button name="outcome" value="paid">Pay'
            '</button> <button name="outcome" value="failed">Cancel</button></form>'
        )

    @app.post("/pay/{order_id}")
    async def page_submitted(order_id: str, request: Request) -> Response:
        form = (await request.body()).decode()
        outcome: Outcome = "paid" if "outcome=paid" in form else "failed"
        answer = await pay(order_id, PayRequest(outcomes=[outcome]))
        order = state.orders.get(order_id)
        if answer.status_code != 200 or order is None:
            return answer
        return RedirectResponse(order.request.return_url, status_code=303)

    @app.post("/control/behaviour")
    async def behave(behaviour: Behaviour) -> dict[str, Any]:
        state.behaviour = behaviour
        return behaviour.model_dump()

    @app.post("/control/failures")
    async def add_failure(rule: FailureRule) -> dict[str, Any]:
        state.failures.append(rule)
        return {"failures": [item.model_dump() for item in state.failures]}

    @app.delete("/control/failures")
    async def clear_failures() -> dict[str, Any]:
        state.failures.clear()
        return {"failures": []}

    @app.get("/control/orders")
    async def orders() -> dict[str, Any]:
        return {
            "orders": [
                {
                    **notice(order, order.status),
                    "status": order.status,
                    "refunds": list(order.refunds.values()),
                }
                for order in state.orders.values()
            ]
        }

    @app.get("/control/callbacks")
    async def callbacks() -> dict[str, Any]:
        return {"callbacks": state.callbacks}

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    return app


class PaymentGatewaySimulator(Simulator):
    """The simulator as a part of the stack, and the client its tests use."""

    def __init__(self, port: int, merchant_code: str, secret: str, log: Path) -> None:
        env = {"PAYMENT_SIMULATOR_MERCHANT": merchant_code, "PAYMENT_SIMULATOR_SECRET": secret}
        super().__init__(
            "the payment platform simulator", "dossierbus_devstack.payment_gateway", port, log, env
        )
        self.merchant_code = merchant_code
        self.secret = secret

    @property
    def api_url(self) -> str:
        """What intake's PAYMENT_PLATFORM_URL is set to."""
        return self.url + API

    async def pay(self, order_id: str, outcomes: list[str] | None = None) -> dict[str, Any]:
        """Act as the citizen paying (or failing to) the order; what the callbacks got back."""
        return await self._call("POST", f"/control/pay/{order_id}", {"outcomes": outcomes or ["paid"]})

    async def behave(self, *, drop: bool = False, duplicate: bool = False, reorder: bool = False) -> None:
        await self._call(
            "POST", "/control/behaviour", {"drop": drop, "duplicate": duplicate, "reorder": reorder}
        )

    async def fail(self, status: int, *, count: int = 1) -> None:
        await self._call("POST", "/control/failures", {"status": status, "count": count})

    async def orders(self) -> list[dict[str, Any]]:
        kept: list[dict[str, Any]] = (await self._call("GET", "/control/orders"))["orders"]
        return kept

    async def callbacks(self) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = (await self._call("GET", "/control/callbacks"))["callbacks"]
        return sent

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.request(method, self.url + path, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


def order_of(pay_url: str) -> str:
    """The order id in a payment URL the simulator gave."""
    return pay_url.rstrip("/").rsplit("/", 1)[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dossierbus_devstack.payment_gateway", description=__doc__
    )
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    merchant = os.environ.get("PAYMENT_SIMULATOR_MERCHANT", "")
    secret = os.environ.get("PAYMENT_SIMULATOR_SECRET", "")
    if not merchant or not secret:
        parser.error("PAYMENT_SIMULATOR_MERCHANT and PAYMENT_SIMULATOR_SECRET must be set")
    app = create_app(merchant, secret.encode(), f"http://127.0.0.1:{args.port}")
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, access_log=False)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
