"""Only the applicant (her citizen token) or the portal may withdraw a dossier: the dossier code with its
tracking secret, which is enough to follow it on intake, withdraws nothing, whether sent as intake's
header or as a bearer token, and neither do staff or agency tokens. (tests/test_authorization.py walks
the same matrix on the real stack, citizen tokens included.)"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dossierbus_routing.domain import Context, Dossier
from dossierbus_routing.entrypoints import dependencies, http
from dossierbus_routing.unit_of_work import MemoryStore
from dossierbus_shared.auth import Authenticator, Role, StaticTokens
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import Applicant, Channel, DossierStatus, DossierVerified
from dossierbus_shared.http_errors import install_error_handlers

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = "001085123456"
SECRET = "s" * 32
TOKENS = {Role.PORTAL: "portal-token", Role.OPERATOR: "operator-token", Role.AUDITOR: "auditor-token"}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, MemoryStore, str]:
    context = Context(default_catalogue(), vietnam_calendar(), clock=lambda: MONDAY)
    store = MemoryStore()
    verified = DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code="000.00.01.H26-260302-0001",
        procedure_code="1.001193",
        receiving_unit="000.00.01.H26",
        outcome="verified",
        channel=Channel.ONLINE,
        applicant=Applicant(
            personal_id=APPLICANT, full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12)
        ),
        form={},
        submitted_at=MONDAY,
        due_date=date(2026, 3, 6),
        verified_at=MONDAY,
    )
    dossier = Dossier.receive(verified, context, event_id=uuid.uuid4())
    dossier.drain()
    store.dossiers[dossier.id] = dossier

    async def view(code: str, *_: Any) -> dict[str, Any]:  # the view reads tables the fake does not have
        [shown] = [d for d in store.dossiers.values() if d.code == code]
        return {"dossier_code": code, "status": shown.status.value}

    monkeypatch.setattr(http, "_view", view)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(http.router)
    dependencies.provide(app, context, store.unit_of_work)
    app.state.authenticator = Authenticator(static=StaticTokens(TOKENS))
    return TestClient(app, raise_server_exceptions=False), store, dossier.code


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 401),
        ({"X-Tracking-Secret": SECRET}, 401),
        ({"Authorization": f"Bearer {SECRET}"}, 401),
        ({"Authorization": "Bearer operator-token"}, 403),
        ({"Authorization": "Bearer auditor-token"}, 403),
    ],
    ids=["anonymous", "tracking secret header", "tracking secret as token", "operator", "auditor"],
)
def test_nobody_but_the_applicant_or_the_portal_withdraws(
    world: tuple[TestClient, MemoryStore, str], headers: dict[str, str], expected: int
) -> None:
    client, store, code = world
    answer = client.post(
        f"/dossiers/{code}/withdrawal", json={"applicant_personal_id": APPLICANT}, headers=headers
    )
    assert answer.status_code == expected, answer.text
    [dossier] = store.dossiers.values()
    assert dossier.status is DossierStatus.ACCEPTED


def test_the_portal_withdraws_for_the_applicant(world: tuple[TestClient, MemoryStore, str]) -> None:
    client, store, code = world
    answer = client.post(
        f"/dossiers/{code}/withdrawal",
        json={"applicant_personal_id": APPLICANT, "reason": "Nộp nhầm"},
        headers={"Authorization": "Bearer portal-token"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "withdrawn"
    [dossier] = store.dossiers.values()
    assert dossier.status is DossierStatus.WITHDRAWN
