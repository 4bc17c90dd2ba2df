"""A local stand-in for the national public service portal's status-sync API (Cổng DVCQG), which routing
tells every status change of a dossier (docs/portal-sync.md). It runs as a child process of the stack
(`python -m dossierbus_devstack.national_portal --port P`, its key in PORTAL_SIMULATOR_API_KEY), keeps what it
receives in memory, and:

- checks the API key (`X-API-Key`: 401 without it or with another) and the body (422 naming the field:
  the sync fields and no others, so personal data added by mistake is refused, not kept);
- is idempotent on `Idempotency-Key` (required: 400 without): the same key with the same body is answered
  200 again and kept once; the same key with another body is refused 409;
- can be told to fail (`POST /control/failures`: the next N calls, or those of one dossier, answered
  with a status of the test's choosing, 503 or 429 with Retry-After say), and lets tests read what it
  took (`GET /control/received?dossier=CODE`) and every call it answered (`GET /control/calls`). The
  control endpoints take no key: the simulator listens on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
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


class StatusSync(BaseModel):
    """The body of one sync: the fields the portal needs, and nothing else."""

    model_config = ConfigDict(extra="forbid")

    MaHoSo: str = Field(min_length=1, max_length=64)
    MaTTHC: str = Field(pattern=r"^\d\.\d{6}$")
    MaDonViTiepNhan: str | None = Field(default=None, max_length=64)
    TrangThaiHoSo: int = Field(ge=1, le=10)
    ThoiDiemXuLy: datetime
    NgayKetThucTheoQuyDinh: date
    DonViXuLy: str | None = Field(default=None, max_length=64)


class FailureRule(BaseModel):
    """Answer the next `count` calls (of `dossier_code` only, when given) with `status` and `detail`."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    dossier_code: str | None = None
    detail: str = "simulated failure"
    retry_after_s: int | None = Field(default=None, ge=0)


@dataclass
class PortalState:
    api_key: str
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[FailureRule] = field(default_factory=list)

    def failure_for(self, code: str | None) -> FailureRule | None:
        for rule in self.failures:
            if rule.dossier_code is None or rule.dossier_code == code:
                rule.count -= 1
                if rule.count == 0:
                    self.failures.remove(rule)
                return rule
        return None


def create_app(api_key: str) -> FastAPI:
    app = FastAPI(title="national portal simulator (status sync)")
    state = PortalState(api_key)
    app.state.portal = state

    def answer(status: int, body: dict[str, Any], code: str | None, key: str | None) -> JSONResponse:
        state.calls.append(
            {"at": datetime.now(UTC).isoformat(), "dossier": code, "key": key, "status": status, **body}
        )
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": str(error.errors())}, status_code=422)

    @app.post(SYNC_PATH)
    async def sync(
        request: Request,
        x_api_key: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        raw = await request.body()
        try:
            body = await request.json()
        except ValueError:
            body = None
        code = body.get("MaHoSo") if isinstance(body, dict) else None
        if rule := state.failure_for(code if isinstance(code, str) else None):
            response = answer(rule.status, {"detail": rule.detail}, code, idempotency_key)
            if rule.retry_after_s is not None:
                response.headers["Retry-After"] = str(rule.retry_after_s)
            return response
        if not x_api_key or not hmac.compare_digest(x_api_key.encode(), state.api_key.encode()):
            return answer(401, {"detail": "missing or wrong X-API-Key"}, code, idempotency_key)
        if not idempotency_key:
            return answer(400, {"detail": "Idempotency-Key is required"}, code, idempotency_key)
        try:
            sync = StatusSync.model_validate_json(raw)
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, item["loc"])) or "body" for item in error.errors())
            return answer(422, {"detail": f"invalid sync body: {fields}"}, code, idempotency_key)
        payload = sync.model_dump(mode="json")
        if (kept := state.by_key.get(idempotency_key)) is not None:
            if kept["payload"] != payload:
                detail = "Idempotency-Key already used with another body"
                return answer(409, {"detail": detail}, code, idempotency_key)
            return answer(200, {"accepted": True, "replayed": True}, code, idempotency_key)
        kept = {"key": idempotency_key, "payload": payload, "received_at": datetime.now(UTC).isoformat()}
        state.by_key[idempotency_key] = kept
        state.received.append(kept)
        return answer(200, {"accepted": True, "replayed": False}, code, idempotency_key)

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
        """Answer the next `count` syncs (of one dossier, when given) with `status`."""
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
