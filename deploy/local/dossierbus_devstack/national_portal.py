"""A local stand-in for the national public service portal's status-sync API (Cổng DVCQG), which routing
tells every status change of a dossier (docs/portal-sync.md). It runs as a child process of the stack
(`python -m dossierbus_devstack.national_portal --port P`, its key in PORTAL_SIMULATOR_API_KEY), keeps what it
receives in memory, and takes the changes in batches:

    POST /api/v1/dossiers/status   X-API-Key: ...
    {"changes": [{"idempotency_key": "<uuid>", "sync": {"MaHoSo": ..., ...}}, ...]}   (1 to 100 changes)

    200 {"results": [{"idempotency_key": ..., "status": 200, "detail": null, "retry_after_s": null,
                      "replayed": false}, ...]}   one per change, in the order sent

Each change is answered on its own, with the HTTP status a call of its own would have had:

- the sync is checked (422 naming the field: the sync fields and no others, so personal data added by
  mistake is refused, not kept);
- it is idempotent on the change's `idempotency_key`: the same key with the same sync is answered 200
  again (`replayed: true`) and kept once; the same key with another sync is refused 409.

The request as a whole is answered without results when it cannot be read as a batch: 401 without the
API key or with another, 400 for a body that is not JSON, 422 for one that is not the envelope above
(naming where), 413 for more than 100 changes.

It can be told to fail (`POST /control/failures`: the next N changes, or those of one dossier, answered
with a status of the test's choosing, 503 or 429 with retry_after_s say; with `whole_request: true`, the
next N requests, or those carrying a change of that dossier, answered so as a whole, Retry-After in the
header), and lets tests read what it took (`GET /control/received?dossier=CODE`) and every change it
answered (`GET /control/calls`: one entry per change, with the number of the request that carried it).
The control endpoints take no key: the simulator listens on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.parts import Simulator

SYNC_PATH = "/api/v1/dossiers/status"
MAX_CHANGES = 100
"""Most changes one request may carry (413 beyond)."""


class StatusSync(BaseModel):
    """One sync: the fields the portal needs, and nothing else."""

    model_config = ConfigDict(extra="forbid")

    MaHoSo: str = Field(min_length=1, max_length=64)
    MaTTHC: str = Field(pattern=r"^\d\.\d{6}$")
    MaDonViTiepNhan: str | None = Field(default=None, max_length=64)
    TrangThaiHoSo: int = Field(ge=1, le=10)
    ThoiDiemXuLy: datetime
    NgayKetThucTheoQuyDinh: date
    DonViXuLy: str | None = Field(default=None, max_length=64)


class Change(BaseModel):
    """One change of a batch: its key and its sync (checked on its own, so a bad sync is that change's
    422, not the request's)."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=100)
    sync: dict[str, Any]


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: list[Change] = Field(min_length=1, max_length=MAX_CHANGES)


class FailureRule(BaseModel):
    """Answer the next `count` changes (of `dossier_code` only, when given) with `status` and `detail`; with
    `whole_request`, the next `count` requests (carrying a change of `dossier_code`, when given)."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    dossier_code: str | None = None
    detail: str = "simulated failure"
    retry_after_s: int | None = Field(default=None, ge=0)
    whole_request: bool = False


@dataclass
class PortalState:
    api_key: str
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[FailureRule] = field(default_factory=list)
    requests: int = 0
    """Sync requests answered so far (each call names the request that carried it)."""

    def failure_for(self, codes: Sequence[str | None], *, whole_request: bool) -> FailureRule | None:
        """The first rule for a change of one of `codes` (any, for a rule without a dossier), used once."""
        for rule in self.failures:
            if rule.whole_request is whole_request and (
                rule.dossier_code is None or rule.dossier_code in codes
            ):
                rule.count -= 1
                if rule.count == 0:
                    self.failures.remove(rule)
                return rule
        return None


def _readable(body: Any) -> list[tuple[str | None, str | None]]:
    """(dossier code, key) of each change of a body that may not be a batch at all, as far as it can be
    read: what a whole request's answer is logged against."""
    changes = body.get("changes") if isinstance(body, dict) else None
    found: list[tuple[str | None, str | None]] = []
    for item in changes if isinstance(changes, list) else []:
        change: dict[str, Any] = item if isinstance(item, dict) else {}
        sync = change.get("sync")
        code = sync.get("MaHoSo") if isinstance(sync, dict) else None
        key = change.get("idempotency_key")
        found.append((code if isinstance(code, str) else None, key if isinstance(key, str) else None))
    return found


def _fields(error: ValidationError) -> str:
    return ", ".join(".".join(map(str, item["loc"])) or "body" for item in error.errors())


def create_app(api_key: str) -> FastAPI:
    app = FastAPI(title="national portal simulator (status sync)")
    state = PortalState(api_key)
    app.state.portal = state

    def call(request: int, code: str | None, key: str | None, result: dict[str, Any], whole: bool) -> None:
        state.calls.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "request": request,
                "dossier": code,
                "key": key,
                "whole_request": whole,
                **{name: value for name, value in result.items() if name != "idempotency_key"},
            }
        )

    def whole(
        request: int, status: int, detail: str, body: Any, retry_after_s: int | None = None
    ) -> Response:
        """The request answered as a whole: logged against each change that could be read, if any."""
        result = {"status": status, "detail": detail, "retry_after_s": retry_after_s, "replayed": None}
        for code, key in _readable(body) or [(None, None)]:
            call(request, code, key, result, True)
        response = JSONResponse({"detail": detail}, status_code=status)
        if retry_after_s is not None:
            response.headers["Retry-After"] = str(retry_after_s)
        return response

    def take(request: int, change: Change) -> dict[str, Any]:
        """One change of a batch, answered as a call of its own would have been."""
        key = change.idempotency_key
        code = change.sync.get("MaHoSo")
        code = code if isinstance(code, str) else None

        def answer(status: int, detail: str | None = None, **more: Any) -> dict[str, Any]:
            result = {"idempotency_key": key, "status": status, "detail": detail, "retry_after_s": None}
            result |= {"replayed": None} | more
            call(request, code, key, result, False)
            return result

        if rule := state.failure_for([code], whole_request=False):
            return answer(rule.status, rule.detail, retry_after_s=rule.retry_after_s)
        try:
            sync = StatusSync.model_validate(change.sync)
        except ValidationError as error:
            return answer(422, f"invalid sync: {_fields(error)}")
        payload = sync.model_dump(mode="json")
        if (kept := state.by_key.get(key)) is not None:
            if kept["payload"] != payload:
                return answer(409, "idempotency_key already used with another sync")
            return answer(200, replayed=True)
        kept = {"key": key, "payload": payload, "received_at": datetime.now(UTC).isoformat()}
        state.by_key[key] = kept
        state.received.append(kept)
        return answer(200, replayed=False)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": str(error.errors())}, status_code=422)

    @app.post(SYNC_PATH)
    async def sync(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> Response:
        state.requests += 1
        number = state.requests
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if rule := state.failure_for([code for code, _ in _readable(body)], whole_request=True):
            return whole(number, rule.status, rule.detail, body, rule.retry_after_s)
        if not x_api_key or not hmac.compare_digest(x_api_key.encode(), state.api_key.encode()):
            return whole(number, 401, "missing or wrong X-API-Key", body)
        if body is None:
            return whole(number, 400, "the body is not JSON", body)
        if len(changes := _readable(body)) > MAX_CHANGES:
            detail = f"{len(changes)} changes in one request; at most {MAX_CHANGES}"
            return whole(number, 413, detail, body)
        try:
            batch = Batch.model_validate(body)
        except ValidationError as error:
            return whole(number, 422, f"invalid batch: {_fields(error)}", body)
        return JSONResponse({"results": [take(number, change) for change in batch.changes]})

    @app.get("/control/received")
    async def received(dossier: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        kept = [item for item in state.received if dossier is None or item["payload"]["MaHoSo"] == dossier]
        return {"received": kept}

    @app.get("/control/calls")
    async def calls(dossier: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        return {"calls": [call for call in state.calls if dossier is None or call["dossier"] == dossier]}

    @app.post("/control/failures")
    async def add_failure(rule: FailureRule) -> dict[str, Any]:
        state.failures.append(rule)
        return {"failures": [item.model_dump() for item in state.failures]}

    @app.delete("/control/failures")
    async def clear_failures() -> dict[str, Any]:
        state.failures.clear()
        return {"failures": []}

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    return app


class NationalPortalSimulator(Simulator):
    """The simulator as a part of the stack, and the client its tests use."""

    def __init__(self, port: int, api_key: str, log: Path) -> None:
        module, env = "dossierbus_devstack.national_portal", {"PORTAL_SIMULATOR_API_KEY": api_key}
        super().__init__("the national portal simulator", module, port, log, env)
        self.api_key = api_key

    @property
    def sync_url(self) -> str:
        """What routing's PORTAL_SYNC_URL is set to."""
        return self.url + SYNC_PATH

    async def received(self, dossier_code: str | None = None) -> list[dict[str, Any]]:
        """What the portal took (once per idempotency key), in the order it took it."""
        params = {"dossier": dossier_code} if dossier_code else {}
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{self.url}/control/received", params=params)
        response.raise_for_status()
        kept: list[dict[str, Any]] = response.json()["received"]
        return kept

    async def wait_for_codes(
        self, dossier_code: str, codes: Sequence[int], timeout_s: float = 60
    ) -> list[dict[str, Any]]:
        """What the portal took of a dossier, once it is these national status codes, in this order."""

        async def taken() -> list[dict[str, Any]]:
            kept = await self.received(dossier_code)
            assert [item["payload"]["TrangThaiHoSo"] for item in kept] == list(codes), kept
            return kept

        return await eventually(taken, timeout_s=timeout_s)

    async def fail(
        self, status: int, *, count: int = 1, dossier_code: str | None = None, **more: Any
    ) -> None:
        """Answer the next `count` changes (of one dossier, when given) with `status`; with
        `whole_request=True`, the next `count` requests as a whole."""
        rule = {"status": status, "count": count, "dossier_code": dossier_code, **more}
        async with httpx.AsyncClient(timeout=10) as http:
            (await http.post(f"{self.url}/control/failures", json=rule)).raise_for_status()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dossierbus_devstack.national_portal", description=__doc__
    )
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    api_key = os.environ.get("PORTAL_SIMULATOR_API_KEY", "")
    if not api_key:
        parser.error("PORTAL_SIMULATOR_API_KEY must be set")
    config = uvicorn.Config(create_app(api_key), host="127.0.0.1", port=args.port, access_log=False)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
