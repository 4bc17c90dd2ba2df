"""Routing's event handlers and overdue scan on the fake unit of work: what a batch of events leaves behind
(dossiers, timeline, outbox, Decision 766 records), what is refused or dropped, and that nothing of a
failed unit of work stays."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from dossierbus_routing.domain import StepStatus
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.entrypoints.overdue import OverdueWatch
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import FakeUnitOfWork, MemoryStore
from dossierbus_shared.consumer import PermanentError
from dossierbus_shared.contract.kit.cases import KIT_CODE_PREFIX, KIT_STEP
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierAssigned,
    DossierOverdue,
    DossierRated,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierVerified,
    Event,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))


def verified(
    procedure: str = "1.001193", *, due: date = date(2026, 3, 6), code: str | None = None
) -> Envelope[DossierVerified]:
    return Envelope(
        DossierVerified(
            dossier_id=uuid.uuid4(),
            dossier_code=code or f"000.00.01.H26-260302-{uuid.uuid4().hex[:4]}",
            procedure_code=procedure,
            receiving_unit="000.00.01.H26",
            outcome="verified",
            channel=Channel.ONLINE,
            applicant=APPLICANT,
            form={"child_full_name": "Nguyễn Thị Bình"},
            national_facts={"full_name": "Nguyễn Văn An"},
            submitted_at=MONDAY,
            due_date=due,
            verified_at=MONDAY,
        ),
        source="urn:dossierbus:registry",
    )


def reported(
    dossier: Envelope[DossierVerified], step: str, status: str, agency: str = "justice-hanoi"
) -> Envelope[DossierStatusReported]:
    data = dossier.data
    return Envelope(
        DossierStatusReported(
            dossier_id=data.dossier_id,
            dossier_code=data.dossier_code,
            agency_code=agency,
            step=step,
            status=DossierStatus(status),
            reported_at=MONDAY,
        ),
        source=f"urn:agency:{agency}",
    )


def events_of(store: MemoryStore, kind: type[Event] = Event) -> list[Any]:
    return [envelope.data for envelope in store.outbox if isinstance(envelope.data, kind)]


def timeline_of(store: MemoryStore, dossier: Envelope[DossierVerified]) -> list[tuple[str, str | None]]:
    return [(entry.event, entry.status) for id, entry in store.timeline if id == dossier.data.dossier_id]


async def test_a_verified_dossier_is_kept_with_its_timeline_its_events_and_its_766_record(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, arrived)

    dossier = store.dossiers[arrived.data.dossier_id]
    assert dossier.status is DossierStatus.ACCEPTED
    assert dossier.steps["birth-registration"].status is StepStatus.ASSIGNED
    assert timeline_of(store, arrived) == [
        ("submitted", "received"),
        ("status-changed", "accepted"),
        ("assigned", "assigned"),
    ]
    assert [type(event) for event in events_of(store)] == [DossierStatusChanged, DossierAssigned]
    record = store.indicators[arrived.data.dossier_id]
    # Opened from the verification, then moved by the status change published with it.
    assert (record.agency_code, record.status, record.channel) == ("justice-hanoi", "accepted", "online")


async def test_reports_in_the_batch_that_verified_the_dossier_find_it(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    steps = [reported(arrived, "birth-registration", status) for status in ("processing", "result_ready")]
    await deliver(handlers, arrived, *steps)

    assert store.dossiers[arrived.data.dossier_id].status is DossierStatus.RESULT_READY
    assert [event.status for event in events_of(store, DossierStatusChanged)] == [
        "accepted",
        "processing",
        "result_ready",
    ]


async def test_a_second_verification_of_a_dossier_changes_nothing(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, arrived)
    before = (list(store.timeline), list(store.outbox))

    again = Envelope(arrived.data, source=arrived.source)  # the same dossier, another event id
    await deliver(handlers, again)

    assert (store.timeline, store.outbox) == before


async def test_a_dossier_whose_procedure_is_not_in_the_catalogue_cannot_be_handled(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    with pytest.raises(PermanentError, match=r"procedure '9\.999999' is not in the catalogue"):
        await deliver(handlers, verified("9.999999"))
    assert (store.dossiers, store.outbox, store.indicators) == ({}, [], {})


async def test_a_failed_batch_leaves_nothing_behind(handlers: EventHandlers, store: MemoryStore) -> None:
    arrived, stranger = verified(), verified()
    with pytest.raises(PermanentError, match="report for unknown dossier"):
        await deliver(handlers, arrived, reported(stranger, "birth-registration", "processing"))
    assert (store.dossiers, store.timeline, store.outbox, store.indicators) == ({}, [], [], {})


async def test_a_refused_report_is_recorded_and_the_dossier_unchanged(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, arrived)
    sent = len(store.outbox)
    await deliver(handlers, reported(arrived, "birth-registration", "returned"))

    [*_, (_, refusal)] = store.timeline
    assert (refusal.event, refusal.outcome) == ("report-refused", "refused")
    assert refusal.note is not None and "cannot move from 'assigned' to 'returned'" in refusal.note
    assert len(store.outbox) == sent
    assert store.dossiers[arrived.data.dossier_id].status is DossierStatus.ACCEPTED


async def test_a_report_refused_before_it_was_read_goes_on_its_dossiers_timeline(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, arrived)
    forged = reported(arrived, "birth-registration", "result_ready")
    await handlers.record_refusal(forged, "unauthenticated report: not signed")
    await handlers.record_refusal(
        reported(verified(), "birth-registration", "result_ready"), "unknown dossier"
    )

    [*_, (dossier_id, refusal)] = store.timeline
    assert dossier_id == arrived.data.dossier_id
    assert (refusal.event, refusal.note, refusal.event_id) == (
        "report-refused",
        "unauthenticated report: not signed",
        forged.id,
    )
    assert len(store.timeline) == 4  # nothing for the dossier routing does not know


async def test_a_contract_kit_report_is_dropped(handlers: EventHandlers, store: MemoryStore) -> None:
    kit = verified(code=f"{KIT_CODE_PREFIX}260302-0001")
    await deliver(handlers, reported(kit, KIT_STEP, "processing"))
    assert (store.dossiers, store.timeline) == ({}, [])


async def test_the_766_record_follows_status_changes_and_keeps_the_first_rating(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = verified()
    await deliver(handlers, arrived)
    data = arrived.data
    assert store.indicators[data.dossier_id].status == "accepted"  # as published, in the same unit of work
    ratings = [
        Envelope(
            DossierRated(
                dossier_id=data.dossier_id,
                dossier_code=data.dossier_code,
                procedure_code=data.procedure_code,
                score=score,
                rated_at=MONDAY,
            ),
            source="urn:dossierbus:intake",
        )
        for score in (2, 5)
    ]
    await deliver(handlers, reported(arrived, "birth-registration", "processing"), *ratings)

    assert store.indicators[data.dossier_id].status == "processing"
    assert store.ratings[data.dossier_id].score == 2


async def test_timeline_entries_keep_the_trace_of_the_event_that_caused_them(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    tracer = TracerProvider().get_tracer("test")
    arrived = verified()
    uow = FakeUnitOfWork(store)
    await uow.load([arrived])
    with tracer.start_as_current_span("process dossier.verified") as span:
        await handlers.by_type()[DossierVerified](uow, arrived)
    await uow.commit()

    trace_id = format(span.get_span_context().trace_id, "032x")
    assert {entry.trace_id for _, entry in store.timeline} == {trace_id}


def provisional_assignments() -> float:
    return (
        REGISTRY.get_sample_value("dossierbus_provisional_deadlines_total", {"issued_on": "assigned"}) or 0.0
    )


async def test_a_provisional_assignment_is_counted_once_committed(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    clock.now = datetime(2027, 2, 3, 9, tzinfo=HANOI)  # 2027's holidays are not announced
    before = provisional_assignments()
    uow = FakeUnitOfWork(store)
    arrived = verified(due=date(2027, 2, 10))
    await uow.load([arrived])
    await handlers.by_type()[DossierVerified](uow, arrived)
    assert provisional_assignments() == before  # not while it may still roll back
    await uow.commit()
    assert provisional_assignments() == before + 1
    [assigned] = events_of(store, DossierAssigned)
    assert assigned.deadline_provisional is True


# --- overdue --------------------------------------------------------------------------------------


async def test_the_overdue_scan_reports_each_late_open_dossier_once(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    dossiers = {
        "LATE": (verified(due=date(2026, 3, 5)), ["processing"]),
        "DUE-TODAY": (verified(due=date(2026, 3, 6)), ["processing"]),
        "PAUSED": (verified(due=date(2026, 3, 4)), ["processing", "supplement_requested"]),
        "DONE": (verified(due=date(2026, 3, 4)), ["processing", "result_ready", "returned"]),
        "AT-NEXT-AGENCY": (verified("3.000722", due=date(2026, 3, 5)), ["processing", "result_ready"]),
    }
    for arrived, statuses in dossiers.values():
        await deliver(handlers, arrived, *(reported(arrived, "birth-registration", s) for s in statuses))
    codes = {arrived.data.dossier_code: name for name, (arrived, _) in dossiers.items()}
    watch = OverdueWatch(store.unit_of_work, handlers.context, interval_s=60)
    clock.now = datetime(2026, 3, 6, 10, tzinfo=HANOI)  # Friday
    store.outbox.clear()

    assert sorted(codes[code] for code in await watch.scan()) == ["AT-NEXT-AGENCY", "LATE"]
    assert await watch.scan() == []  # once per dossier
    late = dossiers["LATE"][0].data
    [event] = [event for event in events_of(store, DossierOverdue) if event.dossier_id == late.dossier_id]
    assert (event.status, event.due_date, event.detected_at) == ("processing", date(2026, 3, 5), clock.now)
    assert event.open_steps == ["birth-registration@justice-hanoi"]
    assert timeline_of(store, dossiers["LATE"][0])[-1] == ("overdue", "processing")

    clock.now = datetime(2026, 3, 9, 8, tzinfo=HANOI)  # Monday: "DUE-TODAY" is now late as well
    assert [codes[code] for code in await watch.scan()] == ["DUE-TODAY"]
    assert len(events_of(store, DossierOverdue)) == 3
