"""The national payment platform over HTTP: the adapter intake opens, queries and refunds payments
through. PAYMENT_PLATFORM_URL is the API's base; each POST body is signed (signature.py) and every request
names the merchant (`X-Merchant-Code`):

    POST {base}/payments                      {"merchant_code", "order_id", "amount_vnd", "description",
                                               "return_url", "callback_url"}
        -> 200/201 {"order_id", "reference", "payment_url"}     (the same order_id again: the same answer)
    GET  {base}/payments/{order_id}
        -> 200 {"order_id", "reference", "status": "pending" | "paid" | "failed", "amount_vnd", "paid_at"}
    POST {base}/payments/{order_id}/refunds   {"merchant_code", "refund_key", "amount_vnd", "reason"}
        -> 200/201 {"refund_reference", "status": "refunded" | "pending"}   (the same refund_key: one refund)

Any other answer, or none within PAYMENT_PLATFORM_TIMEOUT_S, raises PlatformError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dossierbus_intake.payments.domain.payment import Notice, NoticeStatus
from dossierbus_intake.payments.signature import SIGNATURE_HEADER, sign
from dossierbus_shared.outages import RETRIED_4XX

MERCHANT_HEADER = "X-Merchant-Code"
M = TypeVar("M", bound=BaseModel)
REASON_CHARS = 300


class PlatformError(Exception):
    """The platform did not do what was asked: out of reach, failing, or refusing (`status` its answer's)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused_for_good(self) -> bool:
        """The platform refused the request itself (a 4xx): asking again the same way will not change
        that. Not so for no answer, 5xx, a timeout (408, 425), too many requests (429), or our own
        credentials refused (401, 403: a configuration fault, not the request's)."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in RETRIED_4XX


@dataclass(frozen=True)
class OpenedOrder:
    order_id: str
    reference: str
    payment_url: str


@dataclass(frozen=True)
class RefundAnswer:
    reference: str
    done: bool
    """False: the platform took the request but has not refunded yet (ask again with the same key)."""


@dataclass(frozen=True)
class OrderRequest:
    order_id: str
    amount_vnd: int
    description: str
    return_url: str
    callback_url: str


class PaymentPlatform(Protocol):
    async def create(self, order: OrderRequest) -> OpenedOrder: ...

    async def query(self, order_id: str) -> Notice: ...

    async def refund(self, order_id: str, refund_key: str, amount_vnd: int, reason: str) -> RefundAnswer: ...


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")
    order_id: str
    reference: str = Field(min_length=1)
    payment_url: str = Field(pattern=r"^https?://")


class _Queried(BaseModel):
    model_config = ConfigDict(extra="ignore")
    order_id: str
    reference: str
    status: Literal["pending", "paid", "failed"]
    amount_vnd: int
    paid_at: datetime | None = None


class _Refunded(BaseModel):
    model_config = ConfigDict(extra="ignore")
    refund_reference: str = Field(min_length=1)
    status: Literal["refunded", "pending"]


class HttpPaymentPlatform:
    def __init__(self, base_url: str, merchant_code: str, secret: bytes, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant_code = merchant_code
        self.secret = secret
        self.client = client

    async def create(self, order: OrderRequest) -> OpenedOrder:
        body = {
            "merchant_code": self.merchant_code,
            "order_id": order.order_id,
            "amount_vnd": order.amount_vnd,
            "description": order.description,
            "return_url": order.return_url,
            "callback_url": order.callback_url,
        }
        created = _parse(_Created, await self._post("/payments", body))
        if created.order_id != order.order_id:
            raise PlatformError(f"the platform answered order {created.order_id!r} for {order.order_id!r}")
        return OpenedOrder(created.order_id, created.reference, created.payment_url)

    async def query(self, order_id: str) -> Notice:
        response = await self._send("GET", f"/payments/{quote(order_id, safe='')}", None)
        queried = _parse(_Queried, response)
        if queried.order_id != order_id:
            raise PlatformError(f"the platform answered order {queried.order_id!r} for {order_id!r}")
        return Notice(
            order_id=queried.order_id,
            status=NoticeStatus(queried.status),
            amount_vnd=queried.amount_vnd,
            reference=queried.reference,
            paid_at=queried.paid_at,
        )

    async def refund(self, order_id: str, refund_key: str, amount_vnd: int, reason: str) -> RefundAnswer:
        body = {
            "merchant_code": self.merchant_code,
            "refund_key": refund_key,
            "amount_vnd": amount_vnd,
            "reason": reason,
        }
        refunded = _parse(_Refunded, await self._post(f"/payments/{quote(order_id, safe='')}/refunds", body))
        return RefundAnswer(refunded.refund_reference, refunded.status == "refunded")

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self._send("POST", path, json.dumps(body, separators=(",", ":")).encode())

    async def _send(self, method: str, path: str, raw: bytes | None) -> httpx.Response:
        headers = {MERCHANT_HEADER: self.merchant_code}
        if raw is not None:
            headers |= {SIGNATURE_HEADER: sign(self.secret, raw), "Content-Type": "application/json"}
        try:
            response = await self.client.request(method, self.base_url + path, content=raw, headers=headers)
        except httpx.HTTPError as error:
            raise PlatformError(f"no answer from the payment platform: {type(error).__name__}") from error
        if not response.is_success:
            raise PlatformError(
                f"the payment platform answered {response.status_code}: {_reason(response)}",
                response.status_code,
            )
        return response


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, item["loc"])) or "body" for item in error.errors())
        raise PlatformError(f"the payment platform's answer is not understood ({fields})") from error


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("detail", "message", "error", "title"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])[:REASON_CHARS]
    return response.text.strip()[:REASON_CHARS] or response.reason_phrase
