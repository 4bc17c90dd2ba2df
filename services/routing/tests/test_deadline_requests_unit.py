"""An agency's extension of the due date (form 04), its stop with a legal basis (form 05), and a supplement
request with a deadline that routing enforces, on the `Dossier` aggregate through routing's handlers and
the fake unit of work: what is applied, what is refused and recorded, what is published, and how Decision
766 still judges an extended dossier by its original due date."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dossierbus_routing.domain import Context, StepStatus
from dossierbus_routing.domain.deadlines import DeadlinePolicy
from dossierbus_routing.entrypoints.events import EventHandlers
from dossierbus_routing.entrypoints.overdue import SupplementDeadlineWatch
from dossierbus_routing.testing import SettableClock, deliver
from dossierbus_routing.unit_of_work import MemoryStore
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import Catalogue, default_catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierDeadlineExtended,
    DossierExtensionRequested,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierStepCancelled,
    DossierVerified,
    Event,
    NationalStatus,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
FRIDAY = date(2026, 3, 6)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))
BIRTH, BIRTH_GROUP = "1.001193", "3.000722"
DECREE_LEGAL_BASIS = "Điều 16 Luật Hộ tịch 2014"


def handlers_with(
    clock: SettableClock,
    store: MemoryStore,
    policy: DeadlinePolicy | None = None,
    catalogue: Catalogue | None = None,
) -> EventHandlers:
    context = Context(
        catalogue or default_catalogue(),
        vietnam_calendar(),
        clock=clock,
        deadlines=policy or DeadlinePolicy(),
    )
    return EventHandlers(context, store.unit_of_work)


def verified(procedure: str = BIRTH, due: date = FRIDAY) -> Envelope[DossierVerified]:
    return Envelope(
        DossierVerified(
            dossier_id=uuid.uuid4(),
            dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:4]}",
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
    dossier: Envelope[DossierVerified],
    status: str,
    *,
    step: str = "birth-registration",
    agency: str = "justice-hanoi",
    **extra: Any,
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
            **extra,
        ),
        source=f"urn:agency:{agency}",
    )


def extension(
    dossier: Envelope[DossierVerified],
    due: date,
    *,
    step: str = "birth-registration",
    agency: str = "justice-hanoi",
) -> Envelope[DossierExtensionRequested]:
    data = dossier.data
    return Envelope(
        DossierExtensionRequested(
            dossier_id=data.dossier_id,
            dossier_code=data.dossier_code,
            agency_code=agency,
            step=step,
            due_date=due,
            reason="Cần xác minh thêm với cơ quan khác / facts to verify with another agency",
            requested_at=MONDAY,
        ),
        source=f"urn:agency:{agency}",
    )


def events_of(store: MemoryStore, kind: type[Event]) -> list[Any]:
    return [envelope.data for envelope in store.outbox if isinstance(envelope.data, kind)]


def timeline_of(store: MemoryStore, dossier: Envelope[DossierVerified]) -> list[Any]:
    return [entry for id, entry in store.timeline if id == dossier.data.dossier_id]


async def processing(handlers: EventHandlers, procedure: str = BIRTH) -> Envelope[Any]:
    arrived = verified(procedure)
    await deliver(handlers, arrived, reported(arrived, "processing"))
    return arrived


# --- extensions ----------------------------------------------------------------------------------------


async def test_an_extension_moves_the_due_date_and_is_published_and_recorded(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    store.outbox.clear()
    await deliver(handlers, extension(arrived, date(2026, 3, 11)))  # Friday + 3 working days

    dossier = store.dossiers[arrived.data.dossier_id]
    assert (dossier.due_date, dossier.original_due_date) == (date(2026, 3, 11), FRIDAY)
    assert (dossier.extensions, dossier.extended_working_days) == (1, 3)
    assert dossier.status is DossierStatus.PROCESSING  # the status does not change
    [extended] = events_of(store, DossierDeadlineExtended)
    assert (extended.previous_due_date, extended.due_date, extended.original_due_date) == (
        FRIDAY,
        date(2026, 3, 11),
        FRIDAY,
    )
    assert (extended.agency_code, extended.step, extended.status, extended.extensions) == (
        "justice-hanoi",
        "birth-registration",
        "processing",
        1,
    )
    assert extended.reason.startswith("Cần xác minh")
    entry = timeline_of(store, arrived)[-1]
    assert (entry.event, entry.outcome, entry.agency_code) == (
        "deadline-extended",
        "applied",
        "justice-hanoi",
    )
    assert entry.note.startswith("due date moved from 2026-03-06 to 2026-03-11 (3 working day(s)")
    assert "Decision 766 still judges by 2026-03-06" in entry.note


async def test_the_national_portal_is_told_the_new_due_date_with_the_unchanged_status(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    await deliver(handlers, extension(arrived, date(2026, 3, 11)))

    changes = [row for row in store.portal_sync if row["dossier_id"] == arrived.data.dossier_id]
    assert [(row["status"], row["national_status"]) for row in changes] == [
        ("received", 1),
        ("accepted", 2),
        ("processing", 4),
        ("processing", 4),
    ]
    before, after = changes[-2]["payload"], changes[-1]["payload"]
    assert (before["NgayKetThucTheoQuyDinh"], after["NgayKetThucTheoQuyDinh"]) == ("2026-03-06", "2026-03-11")
    assert after["DonViXuLy"] == "justice-hanoi"
    [extended] = [e for e in store.outbox if isinstance(e.data, DossierDeadlineExtended)]
    assert changes[-1]["idempotency_key"] == extended.id  # sent again with the same key: one change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"agency": "police-hanoi"}, "not assigned to agency 'police-hanoi'"),
        ({"step": "identity-card"}, "has no step 'identity-card'"),
        ({"due": FRIDAY}, "is not after the current one 2026-03-06"),
        ({"due": date(2026, 3, 7)}, "2026-03-07 is not a working day"),  # a Saturday
        # 11 working days after Friday 6 March; the default ceiling is 10 in all.
        ({"due": date(2026, 3, 23)}, "adds 11 working day(s) to the 0 already granted; procedure 1.001193"),
    ],
)
async def test_an_extension_the_rules_do_not_allow_is_recorded_and_never_applied(
    handlers: EventHandlers, store: MemoryStore, change: dict[str, Any], reason: str
) -> None:
    arrived = await processing(handlers)
    store.outbox.clear()
    await deliver(handlers, extension(arrived, change.pop("due", date(2026, 3, 9)), **change))

    dossier = store.dossiers[arrived.data.dossier_id]
    assert (dossier.due_date, dossier.original_due_date, dossier.extensions) == (FRIDAY, None, 0)
    assert store.outbox == []
    entry = timeline_of(store, arrived)[-1]
    assert (entry.event, entry.outcome) == ("extension-refused", "refused")
    assert reason in entry.note


async def test_a_finished_step_or_dossier_cannot_be_extended(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    await deliver(handlers, reported(arrived, "result_ready"))
    await deliver(handlers, extension(arrived, date(2026, 3, 9)))
    assert "is already 'result_ready'; nothing to extend" in timeline_of(store, arrived)[-1].note

    await deliver(handlers, reported(arrived, "returned"))
    await deliver(handlers, extension(arrived, date(2026, 3, 9)))
    assert "already 'returned' (a final status)" in timeline_of(store, arrived)[-1].note
    assert store.dossiers[arrived.data.dossier_id].due_date == FRIDAY


async def test_several_extensions_share_one_ceiling(clock: SettableClock, store: MemoryStore) -> None:
    handlers = handlers_with(clock, store, DeadlinePolicy(extension_max_working_days=5))
    arrived = await processing(handlers)
    await deliver(handlers, extension(arrived, date(2026, 3, 11)))  # +3
    await deliver(handlers, extension(arrived, date(2026, 3, 16)))  # +3 more: 6 > 5
    assert "adds 3 working day(s) to the 3 already granted; procedure 1.001193 allows 5" in (
        timeline_of(store, arrived)[-1].note
    )
    await deliver(handlers, extension(arrived, date(2026, 3, 13)))  # +2 more: 5

    dossier = store.dossiers[arrived.data.dossier_id]
    assert (dossier.due_date, dossier.original_due_date) == (date(2026, 3, 13), FRIDAY)
    assert (dossier.extensions, dossier.extended_working_days) == (2, 5)
    assert [event.extensions for event in events_of(store, DossierDeadlineExtended)] == [1, 2]


async def test_a_procedure_may_set_its_own_ceiling(clock: SettableClock, store: MemoryStore) -> None:
    catalogue = default_catalogue()
    strict = catalogue.procedures[BIRTH].model_copy(update={"extension_max_working_days": 0})
    handlers = handlers_with(
        clock,
        store,
        DeadlinePolicy(extension_max_working_days=30),
        Catalogue(agencies=catalogue.agencies, procedures={**catalogue.procedures, BIRTH: strict}),
    )
    arrived = await processing(handlers)
    await deliver(handlers, extension(arrived, date(2026, 3, 9)))
    assert "procedure 1.001193 allows 0 in all" in timeline_of(store, arrived)[-1].note


async def test_an_extension_refused_before_it_was_read_goes_on_the_timeline(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    forged = extension(arrived, date(2026, 3, 9))
    await handlers.record_refusal(forged, "unauthenticated report: not signed")
    entry = timeline_of(store, arrived)[-1]
    assert (entry.event, entry.outcome, entry.note, entry.event_id) == (
        "extension-refused",
        "refused",
        "unauthenticated report: not signed",
        forged.id,
    )
    assert store.dossiers[arrived.data.dossier_id].extensions == 0


# --- Decision 766: an extended dossier is judged by its original due date -------------------------------


async def finished_on(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock, *, extended_to: date | None
) -> bool | None:
    """Whether the 766 record says on time for a dossier due Friday 6 March that ends Tuesday 10 March."""
    arrived = await processing(handlers)
    if extended_to is not None:
        await deliver(handlers, extension(arrived, extended_to))
    clock.now = datetime(2026, 3, 10, 10, tzinfo=HANOI)
    await deliver(handlers, reported(arrived, "result_ready"))  # its record follows the status changes
    record = store.indicators[arrived.data.dossier_id]
    assert record.ended_status == "result_ready"
    return record.on_time


async def test_an_extended_dossier_finished_after_its_original_due_date_still_counts_late(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    assert await finished_on(handlers, store, clock, extended_to=date(2026, 3, 11)) is False
    [result] = [event for event in events_of(store, DossierStatusChanged) if event.status == "result_ready"]
    assert (result.due_date, result.original_due_date) == (date(2026, 3, 11), FRIDAY)
    assert store.indicators[result.dossier_id].due_date == FRIDAY


async def test_the_same_dossier_due_later_from_the_start_is_on_time(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    arrived = verified(due=date(2026, 3, 11))
    await deliver(handlers, arrived, reported(arrived, "processing"))
    clock.now = datetime(2026, 3, 10, 10, tzinfo=HANOI)
    await deliver(handlers, reported(arrived, "result_ready"))
    assert store.indicators[arrived.data.dossier_id].on_time is True


async def test_a_pause_after_an_extension_moves_both_dates(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    arrived = await processing(handlers)
    await deliver(handlers, extension(arrived, date(2026, 3, 11)))
    await deliver(handlers, reported(arrived, "supplement_requested", note="Thiếu giấy chứng sinh"))
    clock.now = datetime(2026, 3, 4, 10, tzinfo=HANOI)  # two working days later
    await deliver(handlers, reported(arrived, "processing"))

    dossier = store.dossiers[arrived.data.dossier_id]
    assert (dossier.due_date, dossier.original_due_date) == (date(2026, 3, 13), date(2026, 3, 10))
    resumed = events_of(store, DossierStatusChanged)[-1]
    assert (resumed.status, resumed.due_date, resumed.original_due_date) == (
        "processing",
        date(2026, 3, 13),
        date(2026, 3, 10),
    )


# --- stops (form 05) ---------------------------------------------------------------------------------


async def test_a_stop_with_its_legal_basis_ends_the_dossier_with_national_status_8(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    store.outbox.clear()
    stop = reported(
        arrived, "rejected", note="Người yêu cầu không đủ điều kiện", legal_basis=DECREE_LEGAL_BASIS
    )
    await deliver(handlers, stop)

    assert store.dossiers[arrived.data.dossier_id].status is DossierStatus.REJECTED
    [changed] = events_of(store, DossierStatusChanged)
    assert (changed.status, changed.national_status, changed.legal_basis) == (
        "rejected",
        NationalStatus.STOPPED,
        DECREE_LEGAL_BASIS,
    )
    expected = f"stopped under {DECREE_LEGAL_BASIS}: Người yêu cầu không đủ điều kiện"
    assert changed.note == expected
    kept = [(entry.event, entry.note) for entry in timeline_of(store, arrived)[-2:]]
    assert kept == [("step-changed", expected), ("status-changed", expected)]


async def test_a_rejection_without_a_legal_basis_carries_none(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    await deliver(handlers, reported(arrived, "rejected", note="Hồ sơ giả mạo"))
    changed = events_of(store, DossierStatusChanged)[-1]
    assert (changed.national_status, changed.legal_basis, changed.note) == (8, None, "Hồ sơ giả mạo")


@pytest.mark.parametrize(
    ("status", "extra", "reason"),
    [
        ("processing", {"legal_basis": DECREE_LEGAL_BASIS}, "legal_basis is only for a rejection"),
        ("result_ready", {"supplement_deadline_working_days": 3}, "only for a supplement request"),
    ],
)
async def test_extras_on_the_wrong_report_are_refused(
    handlers: EventHandlers, store: MemoryStore, status: str, extra: dict[str, Any], reason: str
) -> None:
    arrived = await processing(handlers)
    await deliver(handlers, reported(arrived, status, **extra))
    entry = timeline_of(store, arrived)[-1]
    assert (entry.event, entry.outcome) == ("report-refused", "refused")
    assert reason in entry.note
    assert store.dossiers[arrived.data.dossier_id].status is DossierStatus.PROCESSING


# --- supplement deadlines ----------------------------------------------------------------------------


async def test_a_supplement_request_with_a_deadline_names_its_last_day(
    handlers: EventHandlers, store: MemoryStore
) -> None:
    arrived = await processing(handlers)
    request = reported(
        arrived, "supplement_requested", note="Thiếu giấy chứng sinh", supplement_deadline_working_days=2
    )
    await deliver(handlers, request)

    dossier = store.dossiers[arrived.data.dossier_id]
    assert dossier.steps["birth-registration"].supplement_due_date == date(2026, 3, 4)  # Monday + 2
    changed = events_of(store, DossierStatusChanged)[-1]
    assert (changed.status, changed.supplement_due_date) == ("supplement_requested", date(2026, 3, 4))
    assert changed.note == "Thiếu giấy chứng sinh; supplement due by 2026-03-04 (2 working day(s))"


async def test_the_deadline_comes_from_the_request_else_the_procedure_else_the_setting(
    clock: SettableClock, store: MemoryStore
) -> None:
    handlers = handlers_with(clock, store, DeadlinePolicy(supplement_deadline_working_days=3))
    group = await processing(handlers, BIRTH_GROUP)  # the birth group's 7 days (Decree 63/2024)
    plain = await processing(handlers)  # no days in the catalogue: the setting's 3
    await deliver(handlers, reported(group, "supplement_requested"), reported(plain, "supplement_requested"))
    assert store.dossiers[group.data.dossier_id].steps["birth-registration"].supplement_due_date == date(
        2026, 3, 11
    )
    assert store.dossiers[plain.data.dossier_id].steps["birth-registration"].supplement_due_date == date(
        2026, 3, 5
    )

    unset = MemoryStore()
    without = handlers_with(clock, unset)  # no setting: a plain procedure's request has no deadline
    waiting = await processing(without)
    await deliver(without, reported(waiting, "supplement_requested"))
    assert unset.dossiers[waiting.data.dossier_id].steps["birth-registration"].supplement_due_date is None
    assert events_of(unset, DossierStatusChanged)[-1].supplement_due_date is None


async def test_a_dossier_not_supplemented_in_time_is_refused_once_with_notice(
    handlers: EventHandlers, store: MemoryStore, clock: SettableClock
) -> None:
    late = await processing(handlers)
    on_time = await processing(handlers)
    for arrived in (late, on_time):
        await deliver(handlers, reported(arrived, "supplement_requested", supplement_deadline_working_days=2))
    watch = SupplementDeadlineWatch(store.unit_of_work, handlers.context, interval_s=60)

    clock.now = datetime(2026, 3, 4, 16, tzinfo=HANOI)  # the last day: not yet
    assert await watch.scan() == []
    await deliver(handlers, reported(on_time, "processing"))  # the supplement came at the counter
    store.outbox.clear()

    clock.now = datetime(2026, 3, 5, 8, tzinfo=HANOI)
    assert await watch.scan() == [late.data.dossier_code]
    assert await watch.scan() == []

    dossier = store.dossiers[late.data.dossier_id]
    assert dossier.status is DossierStatus.REJECTED
    assert dossier.steps["birth-registration"].status is StepStatus.CANCELLED
    note = (
        "refused automatically: the supplement asked for at step 'birth-registration' was not received by "
        "2026-03-04"
    )
    [cancelled] = events_of(store, DossierStepCancelled)
    assert (cancelled.agency_code, cancelled.step, cancelled.reason) == (
        "justice-hanoi",
        "birth-registration",
        note,
    )
    [changed] = events_of(store, DossierStatusChanged)
    assert (changed.previous_status, changed.status, changed.national_status) == (
        "supplement_requested",
        "rejected",
        NationalStatus.STOPPED,
    )
    assert (changed.note, changed.supplement_due_date) == (note, date(2026, 3, 4))
    assert ("status-changed", "rejected", note) in [
        (entry.event, entry.status, entry.note) for entry in timeline_of(store, late)
    ]
    assert store.dossiers[on_time.data.dossier_id].status is DossierStatus.PROCESSING
