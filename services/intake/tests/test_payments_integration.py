"""Payments on a real PostgreSQL against the payment platform's simulator served on a local port, and
intake's callback endpoint served on another: the simulator's signed callbacks (duplicated, reordered,
dropped), reconciliation by query, refunds, and what reaches the outbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select

from dossierbus_devstack.parts import free_port
from dossierbus_devstack.payment_gateway import create_app, order_of
from dossierbus_devstack.payment_gateway import sign as platform_sign
from dossierbus_intake.bootstrap import MIGRATIONS
from dossierbus_intake.domain.submission import SubmissionRequest
from dossierbus_intake.entrypoints.events import on_status_changed
from dossierbus_intake.payments.domain.payment import PaymentState
from dossierbus_intake.payments.entrypoints import http
from dossierbus_intake.payments.entrypoints.events import on_payment_requested
from dossierbus_intake.payments.platform import HttpPaymentPlatform
from dossierbus_intake.payments.use_cases import OrderLinks, Payments
from dossierbus_intake.submissions import Submissions
from dossierbus_intake.tracking import TrackingSecrets
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.auth import Authenticator, Caller, Role, StaticTokens
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierPaymentRequested, DossierStatus, DossierStatusChanged, Fee
from dossierbus_shared.http_errors import install_error_handlers
from dossierbus_shared.outbox import outbox

UNIT = "000.00.01.H26"
MERCHANT = "DOSSIERBUS-TEST"
SECRET = b"test-callback-secret"
OPERATOR_TOKEN = "operator-token-for-refunds"
PORTAL = Caller(Role.PORTAL, "portal")
AMOUNT = 70_000


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app on a loopback port of its own, in this event loop, until the block ends."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class World:
    db: Database
    payments: Payments
    gateway: str
    """The simulator's URL (its control endpoints)."""
    callback_url: str
    control: httpx.AsyncClient
    intake: str
    """Intake's payment API (operators call it with OPERATOR_BEARER)."""


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    schema = f"p{uuid.uuid4().hex[:10]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    db = Database(database_url, schema, pool_size=4)
    intake_port = free_port()
    callback_url = f"http://127.0.0.1:{intake_port}/payments/callback"
    simulator = create_app(MERCHANT, SECRET, "http://127.0.0.1")
    async with serving(simulator) as gateway, httpx.AsyncClient(timeout=10) as client:
        platform = HttpPaymentPlatform(gateway + "/api/v1", MERCHANT, SECRET, client)
        payments = Payments(
            lambda: db.unit_of_work(IntakeUnitOfWork),
            platform,
            OrderLinks(callback_url=callback_url, return_url="https://portal.example/{dossier_code}"),
            reconcile_after_s=0,
        )
        intake = FastAPI()
        intake.state.authenticator = Authenticator(static=StaticTokens({Role.OPERATOR: OPERATOR_TOKEN}))
        install_error_handlers(intake)
        intake.include_router(http.router(payments, callback_secret=SECRET, merchant_code=MERCHANT))
        server = uvicorn.Server(
            uvicorn.Config(intake, host="127.0.0.1", port=intake_port, log_level="warning", lifespan="off")
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            yield World(db, payments, gateway, callback_url, client, f"http://127.0.0.1:{intake_port}")
        finally:
            server.should_exit = True
            await task
    await db.dispose()


async def owing(world: World) -> str:
    """A dossier received by intake, then routing's request for its fees consumed: its code."""
    submissions = Submissions(
        lambda: world.db.unit_of_work(IntakeUnitOfWork),
        default_catalogue(),
        vietnam_calendar(),
        [UNIT],
        TrackingSecrets("k"),
    )
    receipt, _ = await submissions.submit(request(), f"pay-{uuid.uuid4()}")
    requested = Envelope(
        DossierPaymentRequested(
            dossier_id=receipt.dossier_id,
            dossier_code=receipt.dossier_code,
            procedure_code=receipt.procedure_code,
            amount_vnd=AMOUNT,
            fees=[
                Fee(step="registration", agency_code="justice-hanoi", fee_vnd=50_000),
                Fee(step="certificate", agency_code="police-hanoi", fee_vnd=20_000),
            ],
            requested_at=datetime.now(UTC),
        ),
        source="urn:dossierbus:routing",
    )
    async with world.db.unit_of_work(IntakeUnitOfWork) as uow:
        await uow.load([requested])
        await on_payment_requested(uow, requested)
    return receipt.dossier_code


def request() -> SubmissionRequest:
    return SubmissionRequest.model_validate(
        {
            "procedure_code": "1.001193",
            "channel": "online",
            "applicant": {
                "personal_id": "001085123456",
                "full_name": "Nguyễn Văn An",
                "date_of_birth": "1985-04-12",
            },
            "form": {
                "child_full_name": "Nguyễn Thị Bình",
                "child_date_of_birth": "2026-02-27",
                "child_sex": "female",
                "place_of_birth": "Bệnh viện Phụ sản Hà Nội",
                "relationship": "father",
            },
        }
    )


async def control(world: World, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = await world.control.request(method, world.gateway + path, json=body)
    assert response.is_success, response.text
    return response.json()


async def staged(world: World, code: str) -> list[str]:
    async with world.db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.event_type).where(outbox.c.subject == code).order_by(outbox.c.id)
        )
        return [event_type.removeprefix("vn.gov.dossierbus.") for event_type in rows.scalars()]


async def test_duplicated_and_reordered_callbacks_pay_once(world: World) -> None:
    code = await owing(world)
    opened = await world.payments.open(code, PORTAL)
    assert opened.state is PaymentState.PENDING and opened.pay_url is not None
    again = await world.payments.open(code, PORTAL)
    assert again.pay_url == opened.pay_url, "an open order is answered as it is"
    order = order_of(opened.pay_url)
    assert order == f"{code}-P1"

    await control(world, "POST", "/control/behaviour", {"duplicate": True, "reorder": True})
    paid = await control(world, "POST", f"/control/pay/{order}", {"outcomes": ["failed", "paid"]})

    # paid, paid, failed, failed: each answered 200, only the first changed anything.
    answers = [
        (item["notice"]["status"], item["status"], json.loads(item["answer"])["outcome"])
        for item in paid["callbacks"]
    ]
    assert answers == [
        ("paid", 200, "applied"),
        ("paid", 200, "unchanged"),
        ("failed", 200, "unchanged"),
        ("failed", 200, "unchanged"),
    ]
    payment = await world.payments.find(code, PORTAL)
    assert payment.state is PaymentState.PAID
    assert payment.receipt is not None and payment.receipt.number == f"BL-{code}"
    assert await staged(world, code) == ["dossier.submitted.v1", "dossier.paid.v1"]


async def test_a_lost_callback_is_found_by_reconciliation(world: World) -> None:
    code = await owing(world)
    opened = await world.payments.open(code, PORTAL)
    assert opened.pay_url is not None
    await control(world, "POST", "/control/behaviour", {"drop": True})
    await control(world, "POST", f"/control/pay/{order_of(opened.pay_url)}", {"outcomes": ["paid"]})
    assert (await world.payments.find(code, PORTAL)).state is PaymentState.PENDING

    assert await world.payments.reconcile() == 1
    assert (await world.payments.find(code, PORTAL)).state is PaymentState.PAID
    assert await world.payments.reconcile() == 0, "nothing pending any more"
    assert await staged(world, code) == ["dossier.submitted.v1", "dossier.paid.v1"]


async def test_bad_callbacks_are_refused_and_change_nothing(world: World) -> None:
    code = await owing(world)
    opened = await world.payments.open(code, PORTAL)
    assert opened.pay_url is not None
    order = order_of(opened.pay_url)
    good = {
        "merchant_code": MERCHANT,
        "order_id": order,
        "reference": "PG-FORGED",
        "status": "paid",
        "amount_vnd": AMOUNT,
        "paid_at": None,
    }

    async def post(body: dict[str, Any], secret: bytes = SECRET) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = {"X-Payment-Signature": platform_sign(secret, raw), "Content-Type": "application/json"}
        return await world.control.post(world.callback_url, content=raw, headers=headers)

    refused = {
        "forged": await post(good, b"not the merchant's secret"),
        "amount": await post({**good, "amount_vnd": AMOUNT - 1}),
        "order": await post({**good, "order_id": f"{code}-P9"}),
        "merchant": await post({**good, "merchant_code": "SOMEONE"}),
    }
    statuses = {name: response.status_code for name, response in refused.items()}
    assert statuses == {"forged": 401, "amount": 422, "order": 404, "merchant": 422}
    for response in refused.values():
        assert response.headers["content-type"] == "application/problem+json"
    assert (await world.payments.find(code, PORTAL)).state is PaymentState.PENDING
    assert await staged(world, code) == ["dossier.submitted.v1"]


async def refused_before_processing(world: World, code: str) -> None:
    """Routing's word that the dossier was refused while only accepted, consumed by intake."""
    payment = await world.payments.find(code, PORTAL)
    rejected = Envelope(
        DossierStatusChanged(
            dossier_id=payment.dossier_id,
            dossier_code=code,
            procedure_code=payment.procedure_code,
            previous_status=DossierStatus.ACCEPTED,
            status=DossierStatus.REJECTED,
            due_date=date(2026, 12, 31),
            changed_at=datetime.now(UTC),
        ),
        source="urn:dossierbus:routing",
    )
    async with world.db.unit_of_work(IntakeUnitOfWork) as uow:
        await uow.load([rejected])
        await on_status_changed(uow, rejected)


async def test_a_paid_dossier_refused_before_processing_is_refunded_once(world: World) -> None:
    code = await owing(world)
    opened = await world.payments.open(code, PORTAL)
    assert opened.pay_url is not None
    await control(world, "POST", f"/control/pay/{order_of(opened.pay_url)}", {"outcomes": ["paid"]})
    assert await world.payments.refund_due() == 0, "nothing to refund while the dossier stands"

    await refused_before_processing(world, code)
    assert (await world.payments.find(code, PORTAL)).state is PaymentState.REFUND_PENDING

    await control(world, "POST", "/control/failures", {"status": 503, "count": 1})
    assert await world.payments.refund_due() == 0, "the platform is away: asked again next time"
    assert await world.payments.refund_due() == 1
    assert await world.payments.refund_due() == 0
    refunded = await world.payments.find(code, PORTAL)
    assert refunded.state is PaymentState.REFUNDED
    assert refunded.view()["refund"]["reason"] == "dossier rejected before processing"
    (order,) = [
        item
        for item in (await control(world, "GET", "/control/orders"))["orders"]
        if item["order_id"].startswith(code)
    ]
    assert order["status"] == "refunded" and len(order["refunds"]) == 1
    assert await staged(world, code) == ["dossier.submitted.v1", "dossier.paid.v1", "dossier.refunded.v1"]


async def test_a_refund_the_platform_refuses_for_good_waits_for_an_operator(world: World) -> None:
    code = await owing(world)
    opened = await world.payments.open(code, PORTAL)
    assert opened.pay_url is not None
    await control(world, "POST", f"/control/pay/{order_of(opened.pay_url)}", {"outcomes": ["paid"]})
    await refused_before_processing(world, code)
    refused_before = REGISTRY.get_sample_value("dossierbus_payment_refunds_refused_total") or 0.0

    await control(world, "POST", "/control/failures", {"status": 409, "count": 1})
    assert await world.payments.refund_due() == 0
    refused = await world.payments.find(code, PORTAL)
    assert refused.state is PaymentState.REFUND_REFUSED
    assert refused.refund is not None and "409" in (refused.refund.refused or "")
    assert REGISTRY.get_sample_value("dossierbus_payment_refunds_refused_total") == refused_before + 1
    assert code in [waiting.dossier_code for waiting in await world.payments.refunds_refused()]
    assert await world.payments.refund_due() == 0, "not asked again every round"

    # Operators see it and, once they settled it with the platform, ask again: over intake's API.
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    waiting = await world.control.get(f"{world.intake}/payments/refunds-refused", headers=operator)
    assert waiting.status_code == 200, waiting.text
    [listed] = [item for item in waiting.json() if item["dossier_code"] == code]
    assert "409" in listed["refused"] and listed["reason"] == "dossier rejected before processing"
    assert (await world.control.get(f"{world.intake}/payments/refunds-refused")).status_code == 401
    not_refused = await owing(world)
    again = await world.control.post(
        f"{world.intake}/dossiers/{not_refused}/payment/refund", headers=operator
    )
    assert again.status_code == 409, again.text
    again = await world.control.post(f"{world.intake}/dossiers/{code}/payment/refund", headers=operator)
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "refund_pending"
    assert await world.payments.refund_due() == 1
    assert (await world.payments.find(code, PORTAL)).state is PaymentState.REFUNDED
    assert code not in [waiting.dossier_code for waiting in await world.payments.refunds_refused()]


async def test_two_opens_at_once_open_one_order(world: World) -> None:
    code = await owing(world)
    first, second = await asyncio.gather(world.payments.open(code, PORTAL), world.payments.open(code, PORTAL))
    assert first.pay_url is not None and first.pay_url == second.pay_url
    orders = (await control(world, "GET", "/control/orders"))["orders"]
    assert [item["order_id"] for item in orders if item["order_id"].startswith(code)] == [f"{code}-P1"]
