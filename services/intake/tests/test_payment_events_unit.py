"""What payments make of consumed events: routing's request opens one payment for a dossier this intake
received, once; a status change reaches the dossier's payment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from dossierbus_intake.payments.domain.payment import Payment, PaymentState
from dossierbus_intake.payments.entrypoints.events import follow_status, on_payment_requested
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierPaymentRequested,
    DossierStatus,
    DossierStatusChanged,
    Fee,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@dataclass
class Dossiers:
    here: set[uuid.UUID]

    def get(self, dossier_id: uuid.UUID) -> object | None:
        return object() if dossier_id in self.here else None


@dataclass
class Payments:
    kept: dict[uuid.UUID, Payment] = field(default_factory=dict)

    def get(self, dossier_id: uuid.UUID) -> Payment | None:
        return self.kept.get(dossier_id)

    def add(self, payment: Payment) -> None:
        assert payment.dossier_id not in self.kept
        self.kept[payment.dossier_id] = payment


@dataclass
class Work:
    dossiers: Dossiers
    payments: Payments = field(default_factory=Payments)


def request(dossier_id: uuid.UUID, amount: int = 70_000) -> Envelope[DossierPaymentRequested]:
    return Envelope(
        DossierPaymentRequested(
            dossier_id=dossier_id,
            dossier_code="000.00.01.H26-261202-0007",
            procedure_code="1.001193",
            amount_vnd=amount,
            fees=[Fee(step="registration", agency_code="justice-hanoi", fee_vnd=amount)],
            requested_at=NOW,
        ),
        source="urn:dossierbus:routing",
    )


def uow(work: Work) -> IntakeUnitOfWork:
    return cast(IntakeUnitOfWork, work)


async def test_a_request_opens_one_payment_and_a_repeat_changes_nothing() -> None:
    dossier_id = uuid.uuid4()
    work = Work(Dossiers({dossier_id}))
    await on_payment_requested(uow(work), request(dossier_id))
    await on_payment_requested(uow(work), request(dossier_id, amount=1))
    payment = work.payments.kept[dossier_id]
    assert (payment.amount_vnd, payment.state) == (70_000, PaymentState.AWAITING_PAYMENT)


async def test_a_request_for_a_dossier_another_intake_received_is_left_alone() -> None:
    work = Work(Dossiers(set()))
    await on_payment_requested(uow(work), request(uuid.uuid4()))
    assert work.payments.kept == {}


async def test_a_refusal_reaches_the_dossier_s_payment() -> None:
    dossier_id = uuid.uuid4()
    work = Work(Dossiers({dossier_id}))
    await on_payment_requested(uow(work), request(dossier_id))
    refused: dict[str, Any] = {
        "dossier_id": dossier_id,
        "dossier_code": "000.00.01.H26-261202-0007",
        "procedure_code": "1.001193",
        "previous_status": DossierStatus.ACCEPTED,
        "status": DossierStatus.REJECTED,
        "due_date": date(2026, 12, 20),
        "changed_at": NOW,
    }
    follow_status(uow(work), DossierStatusChanged(**refused))
    assert work.payments.kept[dossier_id].closed_reason == "dossier rejected before it was paid"
    follow_status(uow(work), DossierStatusChanged(**{**refused, "dossier_id": uuid.uuid4()}))  # none: nothing
