"""Fees and payment in the `Dossier` aggregate and its handlers, in memory: a dossier whose procedure has
fees is accepted and held in financial obligation (no step, clock paused) until intake reports it paid;
a wrong amount is refused, a repeat or a late payment ignored, a payment after withdrawal recorded
without starting anything, a refund recorded; free procedures flow as before. Also what the national
portal is told (code 6) and what the Decision 766 projection counts (indicator 3.6)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dossierbus_routing.domain import Context, Dossier, StepStatus, TimelineEntry
from dossierbus_routing.domain.indicator_record import IndicatorRecord
from dossierbus_routing.domain.indicators import NEVER, Counts, report
from dossierbus_routing.domain.payment import FINANCIAL_OBLIGATION, Payment
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import MemoryStore
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierAssigned,
    DossierPaid,
    DossierPaymentRequested,
    DossierRefunded,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    Fee,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR = vietnam_calendar()
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
THURSDAY = datetime(2026, 3, 5, 10, tzinfo=HANOI)
RESIDENCE, RECORD, BIRTH = "1.004194", "2.001417", "1.001193"
"""Permanent residence registration (10,000 VND), the criminal record certificate (200,000 + 5,000 VND, a
fee per step) and birth registration (free)."""
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))


def context(clock: SettableClock | None = None, **choices: Any) -> Context:
    return Context(default_catalogue(), CALENDAR, clock=clock or SettableClock(MONDAY), **choices)


def verified(procedure: str = RESIDENCE, *, due: date = date(2026, 3, 11)) -> DossierVerified:
    return DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:4]}",
        procedure_code=procedure,
        receiving_unit="000.00.01.H26",
        outcome="verified",
        channel=Channel.ONLINE,
        applicant=APPLICANT,
        form={"new_address": "Số 9, phường Hoàn Kiếm"},
        national_facts={"full_name": "Nguyễn Văn An"},
        submitted_at=MONDAY,
        due_date=due,
        verified_at=MONDAY,
    )


def paid(dossier: Dossier | DossierVerified, amount: int = 10_000, receipt: str = "BL-0001") -> DossierPaid:
    dossier_id = dossier.id if isinstance(dossier, Dossier) else dossier.dossier_id
    code = dossier.code if isinstance(dossier, Dossier) else dossier.dossier_code
    return DossierPaid(
        dossier_id=dossier_id,
        dossier_code=code,
        amount_vnd=amount,
        receipt_number=receipt,
        payment_reference=f"PAY-{receipt}",
        paid_at=THURSDAY,
    )


def refunded(dossier: Dossier, amount: int = 10_000, receipt: str = "BL-0001") -> DossierRefunded:
    return DossierRefunded(
        dossier_id=dossier.id,
        dossier_code=dossier.code,
        amount_vnd=amount,
        receipt_number=receipt,
        refund_reference="RF-0001",
        reason="refused before processing",
        refunded_at=THURSDAY,
    )


def drained(dossier: Dossier) -> tuple[list[Any], list[TimelineEntry]]:
    envelopes, entries = dossier.drain()
    return [envelope.data for envelope in envelopes], entries


def held(clock: SettableClock | None = None, procedure: str = RESIDENCE, **choices: Any) -> Dossier:
    dossier = Dossier.receive(verified(procedure), context(clock, **choices), event_id=uuid.uuid4())
    dossier.drain()
    return dossier


# --- the aggregate ----------------------------------------------------------------------------------------


def test_a_free_procedure_is_assigned_at_once_and_owes_nothing() -> None:
    dossier = Dossier.receive(verified(BIRTH), context(), event_id=uuid.uuid4())
    events, _ = drained(dossier)

    assert dossier.payment is None and not dossier.awaiting_payment
    assert dossier.shown_status == "accepted"
    assert [type(event) for event in events] == [DossierStatusChanged, DossierAssigned]


def test_a_dossier_with_fees_is_accepted_then_held_with_no_step_and_its_clock_paused() -> None:
    dossier = Dossier.receive(verified(), context(), event_id=uuid.uuid4())
    events, entries = drained(dossier)

    assert dossier.status is DossierStatus.ACCEPTED
    assert dossier.awaiting_payment and dossier.shown_status == FINANCIAL_OBLIGATION
    assert [type(event) for event in events] == [DossierStatusChanged, DossierPaymentRequested]
    requested = events[1]
    assert requested.amount_vnd == 10_000 and requested.procedure_code == RESIDENCE
    assert requested.fees == [Fee(step="permanent-residence", agency_code="police-hanoi", fee_vnd=10_000)]
    assert dossier.steps["permanent-residence"].status is StepStatus.WAITING
    assert dossier.paused_since == MONDAY
    assert [(entry.event, entry.status) for entry in entries] == [
        ("submitted", "received"),
        ("status-changed", "accepted"),
        ("payment-requested", FINANCIAL_OBLIGATION),
        ("clock-paused", FINANCIAL_OBLIGATION),
    ]
    assert entries[2].note == (
        "fees due: 10000 VND (permanent-residence@police-hanoi 10000 VND); national status 6"
    )


def test_a_linked_procedure_asks_each_steps_fee_of_the_agency_that_handles_it() -> None:
    def onboarded(procedure: str, step: str, unit: str | None) -> str | None:
        return "justice-hanoi-2" if step == "certified-copy" else None

    dossier = Dossier.receive(verified(RECORD), context(onboarded_agency=onboarded), event_id=uuid.uuid4())
    [_, requested], _ = drained(dossier)

    assert requested.amount_vnd == 205_000
    assert requested.fees == [
        Fee(step="criminal-record", agency_code="justice-hanoi", fee_vnd=200_000),
        Fee(step="certified-copy", agency_code="justice-hanoi-2", fee_vnd=5_000),
    ]


def test_the_payment_starts_the_steps_and_moves_the_due_date_by_the_days_it_waited() -> None:
    clock = SettableClock(MONDAY)
    dossier = held(clock)
    clock.now = THURSDAY  # paid three working days later

    assert dossier.pay(paid(dossier), context(clock), event_id=uuid.uuid4()) is None
    events, entries = drained(dossier)

    assert not dossier.awaiting_payment and dossier.shown_status == "accepted"
    assert dossier.payment is not None and dossier.payment.state == "paid"
    assert dossier.payment.receipt_number == "BL-0001"
    assert dossier.paused_since is None and dossier.paused_working_days == 3
    assert dossier.due_date == date(2026, 3, 16)  # 11 March moved by 3 working days
    [assigned] = events
    assert isinstance(assigned, DossierAssigned)
    assert (assigned.step, assigned.agency_code, assigned.due_date) == (
        "permanent-residence",
        "police-hanoi",
        date(2026, 3, 16),
    )
    assert [(entry.event, entry.outcome) for entry in entries] == [
        ("paid", "applied"),
        ("clock-resumed", "applied"),
        ("assigned", "applied"),
    ]
    assert entries[0].note == "receipt BL-0001, 10000 VND (payment PAY-BL-0001)"


def test_a_payment_of_another_amount_is_refused_and_the_dossier_stays_held() -> None:
    dossier = held()

    why = dossier.pay(paid(dossier, amount=9_000), context(), event_id=uuid.uuid4())
    events, [entry] = drained(dossier)

    assert why is not None and "differs from the 10000 VND requested" in why
    assert (entry.event, entry.outcome) == ("paid", "refused")
    assert events == [] and dossier.awaiting_payment
    assert dossier.steps["permanent-residence"].status is StepStatus.WAITING


@pytest.mark.parametrize(
    ("receipt", "why"),
    [("BL-0001", "a repeat of the payment already taken"), ("BL-0002", "already paid (receipt BL-0001)")],
)
def test_a_second_payment_is_recorded_and_ignored(receipt: str, why: str) -> None:
    dossier = held()
    dossier.pay(paid(dossier), context(), event_id=uuid.uuid4())
    dossier.drain()
    before = dossier.steps["permanent-residence"].status

    refused = dossier.pay(paid(dossier, receipt=receipt), context(), event_id=uuid.uuid4())
    events, [entry] = drained(dossier)

    assert refused is not None and why in refused
    assert (entry.event, entry.outcome) == ("paid", "ignored")
    assert events == [] and dossier.steps["permanent-residence"].status is before
    assert dossier.payment is not None and dossier.payment.receipt_number == "BL-0001"


def test_a_payment_for_a_free_dossier_is_refused() -> None:
    dossier = Dossier.receive(verified(BIRTH), context(), event_id=uuid.uuid4())
    dossier.drain()

    why = dossier.pay(paid(dossier), context(), event_id=uuid.uuid4())
    events, [entry] = drained(dossier)

    assert why is not None and "owes nothing" in why
    assert (entry.event, entry.outcome, events) == ("paid", "refused", [])


def test_a_held_dossier_may_be_withdrawn_and_a_payment_after_that_starts_nothing() -> None:
    clock = SettableClock(MONDAY)
    dossier = held(clock)
    dossier.withdraw("changed my mind", context(clock))
    [withdrawn], _ = drained(dossier)
    assert isinstance(withdrawn, DossierStatusChanged) and withdrawn.status is DossierStatus.WITHDRAWN
    assert dossier.paused_since is None and dossier.shown_status == "withdrawn"

    assert dossier.pay(paid(dossier), context(clock), event_id=uuid.uuid4()) is None
    events, [entry] = drained(dossier)

    assert events == [] and dossier.status is DossierStatus.WITHDRAWN
    assert dossier.steps["permanent-residence"].status is StepStatus.CANCELLED
    assert entry.note is not None and "already withdrawn: nothing starts" in entry.note
    assert dossier.payment is not None and dossier.payment.state == "paid"

    assert dossier.refund(refunded(dossier), context(clock), event_id=uuid.uuid4()) is None
    _, [entry] = drained(dossier)
    assert (entry.event, entry.outcome, dossier.payment.state) == ("refunded", "applied", "refunded")
    assert entry.note == "refund RF-0001 of receipt BL-0001, 10000 VND: refused before processing"


def test_a_refund_of_nothing_paid_is_refused_and_a_second_one_ignored() -> None:
    dossier = held()
    why = dossier.refund(refunded(dossier), context(), event_id=uuid.uuid4())
    _, [entry] = drained(dossier)
    assert why is not None and (entry.event, entry.outcome) == ("refunded", "refused")
    assert dossier.awaiting_payment

    dossier.pay(paid(dossier), context(), event_id=uuid.uuid4())
    dossier.refund(refunded(dossier), context(), event_id=uuid.uuid4())
    dossier.drain()
    again = dossier.refund(refunded(dossier), context(), event_id=uuid.uuid4())
    _, [entry] = drained(dossier)
    assert again is not None and (entry.event, entry.outcome) == ("refunded", "ignored")
    # The refund leaves the dossier's own status alone: routing only records it.
    assert dossier.status is DossierStatus.ACCEPTED


def test_a_held_dossier_is_never_overdue_and_no_agency_can_report_on_it() -> None:
    clock = SettableClock(MONDAY)
    dossier = held(clock)
    clock.now = datetime(2026, 4, 1, 9, tzinfo=HANOI)  # long past its due date

    assert not dossier.check_overdue(context(clock))
    report = DossierStatusReported(
        dossier_id=dossier.id,
        dossier_code=dossier.code,
        agency_code="police-hanoi",
        step="permanent-residence",
        status=DossierStatus.PROCESSING,
        reported_at=MONDAY,
    )
    refused = dossier.take_report(report, context(clock), event_id=uuid.uuid4())
    assert refused is not None and "not assigned to agency 'police-hanoi'" in refused
    assert dossier.awaiting_payment


def test_a_payment_survives_its_json_column() -> None:
    dossier = held()
    dossier.pay(paid(dossier), context(), event_id=uuid.uuid4())
    assert dossier.payment is not None

    assert Payment.from_json(dossier.payment.to_json()) == dossier.payment


# --- the handlers, the portal and the 766 projection --------------------------------------------------


def published(store: MemoryStore, kind: type[Any]) -> list[Envelope[Any]]:
    return [envelope for envelope in store.outbox if isinstance(envelope.data, kind)]


async def test_the_portal_is_told_code_6_then_the_payment_assigns_the_step_and_counts_for_766(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    arrived = verified()
    await deliver(handlers, Envelope(arrived, source="urn:dossierbus:registry"))
    [requested] = published(store, DossierPaymentRequested)  # the 766 record followed what was published

    rows = [(row["status"], row["national_status"], row["state"]) for row in store.portal_sync]
    assert rows == [
        ("received", 1, "pending"),
        ("accepted", 2, "pending"),
        (FINANCIAL_OBLIGATION, 6, "pending"),
    ]
    six = store.portal_sync[2]
    assert six["idempotency_key"] == requested.id and six["previous_status"] == "accepted"
    assert six["payload"]["TrangThaiHoSo"] == 6 and "applicant" not in str(six["payload"])
    record = store.indicators[arrived.dossier_id]
    assert record.fee_required and not record.paid_online and record.overdue_from == NEVER
    assert published(store, DossierAssigned) == []

    clock.now = THURSDAY
    await deliver(handlers, Envelope(paid(arrived), source="urn:dossierbus:intake"))

    [assigned] = published(store, DossierAssigned)
    assert assigned.data.agency_code == "police-hanoi"
    assert store.dossiers[arrived.dossier_id].payment is not None
    assert store.indicators[arrived.dossier_id].paid_online
    assert len(store.portal_sync) == 3, "the payment itself is no national status change"


async def test_either_order_of_the_acceptance_and_the_request_keeps_the_766_record_paused(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, Envelope(arrived, source="urn:dossierbus:registry"))
    [requested] = published(store, DossierPaymentRequested)
    [accepted] = [e for e in published(store, DossierStatusChanged) if e.data.status == "accepted"]
    catalogue, calendar = default_catalogue(), vietnam_calendar()
    for first, then in ((accepted, requested), (requested, accepted)):
        record = IndicatorRecord.opened(arrived, catalogue, calendar)
        for envelope in (first, then):
            if isinstance(envelope.data, DossierStatusChanged):
                record.apply(envelope.data, catalogue, calendar)
            else:
                record.fees_requested()
        assert record.overdue_from == NEVER


async def test_a_payment_not_applied_leaves_the_766_record_unpaid(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, Envelope(arrived, source="urn:dossierbus:registry"))
    await deliver(handlers, Envelope(paid(arrived, amount=1), source="urn:dossierbus:intake"))

    assert not store.indicators[arrived.dossier_id].paid_online
    assert store.dossiers[arrived.dossier_id].awaiting_payment
    assert store.timeline[-1][1].outcome == "refused"


async def test_a_payment_for_an_unknown_dossier_is_refused_for_good(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    stranger = verified()
    with pytest.raises(PermanentError, match="payment for unknown dossier"):
        await deliver(handlers, Envelope(paid(stranger), source="urn:dossierbus:intake"))
    assert (store.dossiers, store.timeline, store.outbox) == ({}, [], [])


def test_indicator_3_6_is_measured_only_where_fees_are_owed() -> None:
    free = report(Counts("justice-hanoi", BIRTH, received=4))
    assert "3.6" not in [item["indicator"] for item in free["score"]["components"]]
    assert free["paid_online_rate"] is None

    owed = report(Counts("police-hanoi", RESIDENCE, received=4, fee_required=4, paid_online=3))
    [component] = [item for item in owed["score"]["components"] if item["indicator"] == "3.6"]
    assert (component["ratio"], component["points"], component["max_points"]) == (0.75, 4.5, 6)
    assert (owed["fee_required"], owed["paid_online"], owed["paid_online_rate"]) == (4, 3, 0.75)
