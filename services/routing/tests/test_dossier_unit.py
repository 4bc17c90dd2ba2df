"""The `Dossier` aggregate, in memory: linked procedures across agencies, rejections as the procedure says,
the citizen's supplement and the paused clock, withdrawal, refused reports, overdue dossiers, and what
each change records (events for other services, timeline entries)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from dossierbus_routing.domain import (
    NEUTRAL_REJECTION,
    Context,
    Dossier,
    IllegalTransition,
    StepStatus,
    TimelineEntry,
    UnknownProcedure,
    UnknownStep,
    check_transition,
)
from dossierbus_routing.testing import SettableClock
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import Catalogue, Procedure, default_catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    Channel,
    DossierAssigned,
    DossierOverdue,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierStepCancelled,
    DossierSupplemented,
    DossierVerified,
    ResultDocument,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR = vietnam_calendar()
BIRTH, BIRTH_GROUP, DEATH_GROUP = "1.001193", "3.000722", "2.002913"
MONDAY = datetime(2026, 3, 2, 9, tzinfo=HANOI)
APPLICANT = Applicant(personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12))
BIRTH_GROUP_STEPS = {
    "birth-registration": "justice-hanoi",
    "permanent-residence": "police-hanoi",
    "health-insurance-card": "social-insurance-hanoi",
    "identity-card": "police-hanoi",
}


def result_host(agency: str) -> str:
    return f"ketqua.{agency}.gov.vn"


def context(
    clock: SettableClock | None = None, catalogue: Catalogue | None = None, **choices: Any
) -> Context:
    return Context(
        catalogue or default_catalogue(),
        CALENDAR,
        result_domains=lambda agency: [result_host(agency)],
        clock=clock or SettableClock(MONDAY),
        **choices,
    )


def verified(
    procedure: str = BIRTH,
    *,
    outcome: Literal["verified", "rejected"] = "verified",
    submitted_at: datetime = MONDAY,
    due: date = date(2026, 3, 6),
) -> DossierVerified:
    return DossierVerified(
        dossier_id=uuid.uuid4(),
        dossier_code=f"000.00.01.H26-260302-{uuid.uuid4().hex[:4]}",
        procedure_code=procedure,
        receiving_unit="000.00.01.H26",
        outcome=outcome,
        reasons=["date_of_birth differs from the national population database"]
        if outcome == "rejected"
        else [],
        channel=Channel.ONLINE,
        applicant=APPLICANT,
        form={"child_full_name": "Nguyễn Thị Bình"},
        national_facts={"full_name": "Nguyễn Văn An"},
        submitted_at=submitted_at,
        due_date=due,
        verified_at=submitted_at,
    )


def receive(ctx: Context, procedure: str = BIRTH, **kwargs: Any) -> Dossier:
    return Dossier.receive(verified(procedure, **kwargs), ctx, event_id=uuid.uuid4())


def report(
    dossier: Dossier, step: str, status: str, *, agency: str | None = None, urls: tuple[str, ...] = ()
) -> DossierStatusReported:
    agency = agency or dossier.steps[step].agency or "nobody"
    return DossierStatusReported(
        dossier_id=dossier.id,
        dossier_code=dossier.code,
        agency_code=agency,
        step=step,
        status=DossierStatus(status),
        result_documents=[ResultDocument(name=f"{step}.pdf", url=url) for url in urls],
        reported_at=MONDAY,
    )


def take(dossier: Dossier, ctx: Context, step: str, *statuses: str) -> None:
    """The step's agency reports these, each applied (with a result document when it has its result)."""
    for status in statuses:
        urls = (f"https://{result_host(dossier.steps[step].agency or '')}/{step}.pdf",)
        refused = dossier.take_report(
            report(dossier, step, status, urls=urls if status == "result_ready" else ()),
            ctx,
            event_id=uuid.uuid4(),
        )
        assert refused is None, refused


def status_of(dossier: Dossier) -> DossierStatus:
    return dossier.status


def drained(dossier: Dossier) -> tuple[list[Any], list[TimelineEntry]]:
    """The events (their data) and timeline entries recorded since the last call."""
    envelopes, entries = dossier.drain()
    return [envelope.data for envelope in envelopes], entries


def statuses_changed(entries: list[TimelineEntry]) -> list[str]:
    return [entry.status or "" for entry in entries if entry.event == "status-changed"]


def steps_of(dossier: Dossier) -> dict[str, tuple[str | None, StepStatus]]:
    return {step.id: (step.agency, step.status) for step in dossier.steps.values()}


def assert_legal_path(statuses: list[str]) -> None:
    for previous, following in zip(["received", *statuses], statuses, strict=False):
        check_transition(DossierStatus(previous), DossierStatus(following), by_agency=False)


# --- a dossier arrives --------------------------------------------------------------------------------


def test_a_verified_dossier_is_accepted_and_its_first_step_assigned() -> None:
    dossier = receive(context())
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.ACCEPTED
    assert steps_of(dossier) == {"birth-registration": ("justice-hanoi", StepStatus.ASSIGNED)}
    assert [(entry.event, entry.status) for entry in entries] == [
        ("submitted", "received"),
        ("status-changed", "accepted"),
        ("assigned", "assigned"),
    ]
    assert entries[0].at == MONDAY and entries[0].note == "due 2026-03-06; deadline_provisional=false"
    changed, assigned = events
    assert isinstance(changed, DossierStatusChanged) and changed.status is DossierStatus.ACCEPTED
    assert isinstance(assigned, DossierAssigned)
    assert (assigned.agency_code, assigned.step, assigned.due_date) == (
        "justice-hanoi",
        "birth-registration",
        date(2026, 3, 6),
    )
    assert (assigned.applicant, assigned.national_facts) == (APPLICANT, {"full_name": "Nguyễn Văn An"})
    assert assigned.deadline_provisional is False
    assert drained(dossier) == ([], [])  # drained once


def test_a_dossier_the_registry_refused_is_rejected_with_a_neutral_reason() -> None:
    dossier = receive(context(), outcome="rejected")
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.REJECTED
    assert dossier.rejection_reasons == ["date_of_birth differs from the national population database"]
    assert steps_of(dossier) == {"birth-registration": (None, StepStatus.CANCELLED)}
    assert statuses_changed(entries) == ["rejected"]
    [rejection] = events  # no agency held a step: none is told
    assert isinstance(rejection, DossierStatusChanged)
    assert (rejection.note, rejection.national_status) == (NEUTRAL_REJECTION, 3)
    assert all("date_of_birth" not in (entry.note or "") for entry in entries)


def test_a_due_date_in_an_unannounced_year_is_provisional_on_the_assignment_and_timeline() -> None:
    tet = datetime(2027, 2, 3, 9, tzinfo=HANOI)
    dossier = receive(context(SettableClock(tet)), submitted_at=tet, due=date(2027, 2, 3))
    events, entries = drained(dossier)

    [assigned] = [event for event in events if isinstance(event, DossierAssigned)]
    assert assigned.deadline_provisional is True
    notes = {entry.event: entry.note or "" for entry in entries}
    assert "deadline_provisional=true" in notes["submitted"] and "2027" in notes["submitted"]
    assert "deadline_provisional=true" in notes["assigned"]


def test_an_agency_onboarded_for_the_step_in_the_receiving_unit_is_assigned_it() -> None:
    def onboarded(procedure: str, step: str, unit: str | None) -> str | None:
        return (
            "justice-hanoi-ba-dinh"
            if (procedure, step, unit) == (BIRTH, "birth-registration", "000.00.01.H26")
            else None
        )

    dossier = receive(context(onboarded_agency=onboarded))
    [_, assigned] = drained(dossier)[0]
    assert assigned.agency_code == dossier.steps["birth-registration"].agency == "justice-hanoi-ba-dinh"


def test_a_procedure_missing_from_the_catalogue_is_refused() -> None:
    with pytest.raises(UnknownProcedure, match=r"procedure '9\.999999' is not in the catalogue"):
        receive(context(), "9.999999")


# --- linked procedures --------------------------------------------------------------------------------


def test_the_linked_birth_group_runs_across_three_agencies() -> None:
    ctx = context()
    dossier = receive(ctx, BIRTH_GROUP)
    take(dossier, ctx, "birth-registration", "processing")
    assert [step for step, (_, status) in steps_of(dossier).items() if status is not StepStatus.WAITING] == [
        "birth-registration"
    ]
    take(dossier, ctx, "birth-registration", "result_ready")
    # The other three start together once the birth certificate exists.
    assert status_of(dossier) is DossierStatus.TRANSFERRED
    assert {step: agency for step, (agency, _) in steps_of(dossier).items()} == BIRTH_GROUP_STEPS
    for step in list(BIRTH_GROUP_STEPS)[1:]:
        take(dossier, ctx, step, "processing", "result_ready", "returned")
    take(dossier, ctx, "birth-registration", "returned")
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.RETURNED
    assert {status for _, status in steps_of(dossier).values()} == {StepStatus.RETURNED}
    assigned = [(entry.step, entry.agency_code) for entry in entries if entry.event == "assigned"]
    assert assigned == list(BIRTH_GROUP_STEPS.items())
    changed = statuses_changed(entries)
    assert changed[:3] == ["accepted", "processing", "transferred"]
    assert changed[-2:] == ["result_ready", "returned"]
    assert_legal_path(changed)
    assert all(entry.agency_code for entry in entries if entry.step)
    # The dossier's result is every step's result, in the procedure's order.
    [ready] = [
        e for e in events if isinstance(e, DossierStatusChanged) and e.status is DossierStatus.RESULT_READY
    ]
    assert [document.name for document in ready.result_documents] == [
        f"{step}.pdf" for step in BIRTH_GROUP_STEPS
    ]


def test_the_linked_death_group_runs_across_three_agencies() -> None:
    ctx = context()
    dossier = receive(ctx, DEATH_GROUP)
    take(dossier, ctx, "death-registration", "processing", "result_ready", "returned")
    for step in ("residence-deletion", "funeral-allowance"):
        take(dossier, ctx, step, "processing", "result_ready", "returned")

    assert status_of(dossier) is DossierStatus.RETURNED
    assert steps_of(dossier) == {
        "death-registration": ("justice-hanoi", StepStatus.RETURNED),
        "residence-deletion": ("police-hanoi", StepStatus.RETURNED),
        "funeral-allowance": ("social-insurance-hanoi", StepStatus.RETURNED),
    }
    assert_legal_path(statuses_changed(drained(dossier)[1]))


def test_a_refused_follow_up_step_ends_alone_and_the_other_results_still_come() -> None:
    """The birth group says `continue` for the health insurance card."""
    ctx = context()
    dossier = receive(ctx, BIRTH_GROUP)
    take(dossier, ctx, "birth-registration", "processing", "result_ready", "returned")
    take(dossier, ctx, "health-insurance-card", "processing", "rejected")
    assert status_of(dossier) is DossierStatus.TRANSFERRED
    for step in ("permanent-residence", "identity-card"):
        take(dossier, ctx, step, "processing", "result_ready", "returned")
    _, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.RETURNED
    assert steps_of(dossier)["health-insurance-card"] == ("social-insurance-hanoi", StepStatus.REJECTED)
    refused = [
        (e.step, e.agency_code) for e in entries if e.event == "step-changed" and e.status == "rejected"
    ]
    assert refused == [("health-insurance-card", "social-insurance-hanoi")]
    assert_legal_path(statuses_changed(entries))


def test_the_last_open_step_refused_after_the_others_returned_passes_through_result_ready() -> None:
    ctx = context()
    dossier = receive(ctx, BIRTH_GROUP)
    take(dossier, ctx, "birth-registration", "processing", "result_ready", "returned")
    for step in ("permanent-residence", "identity-card"):
        take(dossier, ctx, step, "processing", "result_ready", "returned")
    drained(dossier)
    take(dossier, ctx, "health-insurance-card", "processing", "rejected")

    assert statuses_changed(drained(dossier)[1]) == ["processing", "result_ready", "returned"]


def test_a_refused_first_step_rejects_the_linked_dossier_and_the_rest_never_start() -> None:
    ctx = context()
    dossier = receive(ctx, BIRTH_GROUP)
    take(dossier, ctx, "birth-registration", "processing", "rejected")
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.REJECTED
    assert steps_of(dossier) == {
        "birth-registration": ("justice-hanoi", StepStatus.REJECTED),
        "permanent-residence": (None, StepStatus.CANCELLED),
        "health-insurance-card": (None, StepStatus.CANCELLED),
        "identity-card": (None, StepStatus.CANCELLED),
    }
    assert [entry.step for entry in entries if entry.event == "assigned"] == ["birth-registration"]
    assert statuses_changed(entries) == ["accepted", "processing", "rejected"]
    assert not [event for event in events if isinstance(event, DossierStepCancelled)]  # nobody held them
    [rejection] = [
        e for e in events if isinstance(e, DossierStatusChanged) and e.status is DossierStatus.REJECTED
    ]
    assert rejection.national_status == 8  # received, then stopped


def test_a_rejection_that_rejects_the_dossier_cancels_the_steps_other_agencies_hold() -> None:
    strict = Procedure.model_validate(
        {
            "code": "9.000009",
            "version": 1,
            "name": {"vi": "x"},
            "legal_basis": [],
            "processing_working_days": 1,
            "applicant": "citizen",
            "form": {},
            "steps": [
                {"id": "a", "agency": "justice-hanoi"},
                {"id": "b", "agency": "police-hanoi", "after": ["a"], "on_rejection": "reject_dossier"},
                {"id": "c", "agency": "social-insurance-hanoi", "after": ["a"], "on_rejection": "continue"},
                {"id": "d", "agency": "police-hanoi", "after": ["c"]},
            ],
        }
    )
    catalogue = default_catalogue()
    ctx = context(
        catalogue=catalogue.model_copy(update={"procedures": {**catalogue.procedures, "9.000009": strict}})
    )
    dossier = receive(ctx, "9.000009")
    take(dossier, ctx, "a", "processing", "result_ready")
    take(dossier, ctx, "c", "processing")
    drained(dossier)
    take(dossier, ctx, "b", "processing", "rejected")
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.REJECTED
    assert {step: status for step, (_, status) in steps_of(dossier).items()} == {
        "a": StepStatus.RESULT_READY,  # its result stands
        "b": StepStatus.REJECTED,
        "c": StepStatus.CANCELLED,
        "d": StepStatus.CANCELLED,
    }
    [cancelled] = [event for event in events if isinstance(event, DossierStepCancelled)]
    assert (cancelled.agency_code, cancelled.step, cancelled.reason) == (
        "social-insurance-hanoi",
        "c",
        "rejected at step 'b'",
    )
    assert {entry.note for entry in entries if entry.step == "d"} == {"rejected at step 'b'"}


# --- the citizen's supplement and the paused clock ----------------------------------------------------


def test_a_supplement_request_pauses_the_clock_and_the_supplement_resumes_it_moving_the_due_date() -> None:
    clock = SettableClock(MONDAY)
    ctx = context(clock)
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing", "supplement_requested")
    _, entries = drained(dossier)
    assert status_of(dossier) is DossierStatus.SUPPLEMENT_REQUESTED
    assert (dossier.paused_since, dossier.supplement_requests) == (MONDAY, 1)
    assert [entry.note for entry in entries if entry.event == "clock-paused"] == [
        "clock paused with 2026-03-06 as due date"
    ]

    clock.now = MONDAY + timedelta(days=14)  # two weeks: ten working days
    document = ResultDocument(name="giay-chung-sinh.pdf", url="https://portal.example/uploads/1.pdf")
    assert dossier.supplement(None, "Giấy chứng sinh", [document], ctx) == "birth-registration"
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.PROCESSING
    assert (dossier.paused_since, dossier.paused_working_days) == (None, 10)
    assert dossier.due_date == CALENDAR.add_working_days(date(2026, 3, 6), 10) == date(2026, 3, 20)
    assert dossier.appointment_date == date(2026, 3, 6)
    assert [
        (entry.event, entry.step, entry.note) for entry in entries if entry.event != "status-changed"
    ] == [
        ("supplemented", "birth-registration", "Giấy chứng sinh"),
        (
            "clock-resumed",
            "birth-registration",
            "clock paused for 10 working day(s); due date moved from 2026-03-06 to 2026-03-20",
        ),
    ]
    changed, supplemented = events
    assert isinstance(changed, DossierStatusChanged) and changed.due_date == date(2026, 3, 20)
    assert isinstance(supplemented, DossierSupplemented)
    assert (supplemented.agency_code, supplemented.step, supplemented.documents) == (
        "justice-hanoi",
        "birth-registration",
        [document],
    )
    assert supplemented.due_date == date(2026, 3, 20)

    with pytest.raises(IllegalTransition, match="no step of this dossier waits for a supplement"):
        dossier.supplement(None, None, [], ctx)


def test_a_supplement_sent_the_day_it_was_asked_for_moves_nothing() -> None:
    clock = SettableClock(MONDAY)
    ctx = context(clock)
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing", "supplement_requested")
    clock.now = MONDAY + timedelta(hours=6)
    dossier.supplement("birth-registration", None, [], ctx)

    assert (dossier.due_date, dossier.paused_working_days) == (date(2026, 3, 6), 0)
    [supplemented] = [entry for entry in drained(dossier)[1] if entry.event == "supplemented"]
    assert supplemented.note == "supplement sent by the applicant"


def test_an_agency_resuming_the_step_itself_restarts_the_clock_too() -> None:
    clock = SettableClock(MONDAY)
    ctx = context(clock)
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing", "supplement_requested")
    clock.now = MONDAY + timedelta(days=7)  # five working days
    take(dossier, ctx, "birth-registration", "processing")

    assert (dossier.status, dossier.due_date, dossier.paused_since) == (
        DossierStatus.PROCESSING,
        date(2026, 3, 13),
        None,
    )


def test_a_linked_dossier_stays_paused_until_every_step_has_its_supplement() -> None:
    ctx = context()
    dossier = receive(ctx, BIRTH_GROUP)
    take(dossier, ctx, "birth-registration", "processing", "result_ready", "returned")
    for step in ("permanent-residence", "identity-card"):
        take(dossier, ctx, step, "processing", "supplement_requested")
    assert status_of(dossier) is DossierStatus.SUPPLEMENT_REQUESTED

    with pytest.raises(
        UnknownStep, match=r"several steps wait for a supplement \(identity-card, permanent-residence\)"
    ):
        dossier.supplement(None, None, [], ctx)
    with pytest.raises(UnknownStep, match=r"procedure 3\.000722 has no step 'passport'"):
        dossier.supplement("passport", None, [], ctx)
    with pytest.raises(
        IllegalTransition, match="step 'health-insurance-card' does not wait for a supplement"
    ):
        dossier.supplement("health-insurance-card", None, [], ctx)

    dossier.supplement("permanent-residence", None, [], ctx)
    assert (dossier.status, dossier.paused_since) == (DossierStatus.SUPPLEMENT_REQUESTED, MONDAY)
    assert dossier.supplement(None, None, [], ctx) == "identity-card"  # the only one left
    _, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.PROCESSING and dossier.paused_since is None
    assert dossier.supplement_requests == 1
    assert [entry.event for entry in entries].count("clock-paused") == 1
    assert [entry.event for entry in entries].count("clock-resumed") == 1


# --- refused reports and withdrawal -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "status", "agency", "reason"),
    [
        ("birth-registration", "returned", None, "step cannot move from 'processing' to 'returned'"),
        ("birth-registration", "withdrawn", None, "an agency may not report status 'withdrawn'"),
        ("birth-registration", "accepted", None, "an agency may not report status 'accepted'"),
        ("birth-registration", "result_ready", "police-hanoi", "not assigned to agency 'police-hanoi'"),
        ("passport", "result_ready", "justice-hanoi", "procedure 1.001193 has no step 'passport'"),
    ],
)
def test_a_report_the_state_machine_does_not_allow_is_refused_recorded_and_not_applied(
    step: str, status: str, agency: str | None, reason: str
) -> None:
    ctx = context()
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing")
    drained(dossier)
    event_id = uuid.uuid4()

    refused = dossier.take_report(report(dossier, step, status, agency=agency), ctx, event_id=event_id)

    assert refused is not None and reason in refused
    events, [entry] = drained(dossier)
    assert events == []
    assert (entry.event, entry.outcome, entry.status, entry.note, entry.event_id) == (
        "report-refused",
        "refused",
        status,
        refused,
        event_id,
    )
    assert status_of(dossier) is DossierStatus.PROCESSING
    assert steps_of(dossier) == {"birth-registration": ("justice-hanoi", StepStatus.PROCESSING)}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(document.cookie)", "is not an https URL"),
        (f"http://{result_host('justice-hanoi')}/r.pdf", "is not an https URL"),
        ("https://results.evil.example/r.pdf", "is not on a domain the agency registered"),
        (f"https://{result_host('police-hanoi')}/r.pdf", "is not on a domain the agency registered"),
    ],
)
def test_a_result_link_not_https_on_a_host_the_agency_registered_is_refused(url: str, reason: str) -> None:
    ctx = context()
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing")

    refused = dossier.take_report(
        report(dossier, "birth-registration", "result_ready", urls=(url,)), ctx, event_id=uuid.uuid4()
    )

    assert refused is not None and reason in refused
    assert dossier.steps["birth-registration"].documents == []
    good = f"https://{result_host('justice-hanoi')}/r.pdf"
    assert (
        dossier.take_report(
            report(dossier, "birth-registration", "result_ready", urls=(good,)), ctx, event_id=uuid.uuid4()
        )
        is None
    )
    assert dossier.steps["birth-registration"].documents == [
        {"name": "birth-registration.pdf", "url": good, "sha256": None}
    ]


def test_the_citizen_withdraws_a_dossier_in_progress_and_its_agency_is_told() -> None:
    ctx = context()
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing")
    drained(dossier)

    dossier.withdraw("Nộp nhầm", ctx)
    events, entries = drained(dossier)

    assert status_of(dossier) is DossierStatus.WITHDRAWN
    assert steps_of(dossier) == {"birth-registration": ("justice-hanoi", StepStatus.CANCELLED)}
    cancelled, changed = events
    assert isinstance(cancelled, DossierStepCancelled)
    assert (cancelled.agency_code, cancelled.step, cancelled.reason) == (
        "justice-hanoi",
        "birth-registration",
        "withdrawn by the applicant: Nộp nhầm",
    )
    assert isinstance(changed, DossierStatusChanged) and changed.status is DossierStatus.WITHDRAWN
    assert entries[-1].note == "withdrawn by the applicant: Nộp nhầm"

    with pytest.raises(IllegalTransition, match="cannot move from 'withdrawn' to 'withdrawn'"):
        dossier.withdraw(None, ctx)
    refused = dossier.take_report(
        report(dossier, "birth-registration", "result_ready"), ctx, event_id=uuid.uuid4()
    )
    assert refused is not None and "already 'withdrawn'" in refused


def test_a_linked_dossier_withdrawn_tells_only_the_agencies_holding_a_step() -> None:
    ctx = context()
    dossier = receive(ctx, BIRTH_GROUP)
    take(dossier, ctx, "birth-registration", "processing")
    dossier.withdraw(None, ctx)
    events, entries = drained(dossier)

    assert {status for _, status in steps_of(dossier).values()} == {StepStatus.CANCELLED}
    assert [(e.agency_code, e.step) for e in events if isinstance(e, DossierStepCancelled)] == [
        ("justice-hanoi", "birth-registration")
    ]
    assert entries[-1].note == "withdrawn by the applicant"


def test_a_returned_dossier_cannot_be_withdrawn() -> None:
    ctx = context()
    dossier = receive(ctx)
    take(dossier, ctx, "birth-registration", "processing", "result_ready", "returned")
    with pytest.raises(IllegalTransition, match="cannot move from 'returned' to 'withdrawn'"):
        dossier.withdraw(None, ctx)


def test_a_dossier_whose_procedure_left_the_catalogue_can_still_be_withdrawn() -> None:
    dossier = receive(context())
    catalogue = default_catalogue()
    without = catalogue.model_copy(
        update={"procedures": {code: p for code, p in catalogue.procedures.items() if code != BIRTH}}
    )
    dossier.withdraw(None, context(catalogue=without))
    assert status_of(dossier) is DossierStatus.WITHDRAWN


def test_a_refusal_decided_before_the_report_was_read_is_recorded() -> None:
    ctx = context()
    dossier = receive(ctx)
    drained(dossier)
    forged = report(dossier, "birth-registration", "result_ready")
    event_id = uuid.uuid4()
    dossier.refuse_report(forged, "unauthenticated report: not signed", ctx, event_id=event_id)

    [entry] = drained(dossier)[1]
    assert (entry.event, entry.outcome, entry.note, entry.agency_code, entry.event_id) == (
        "report-refused",
        "refused",
        "unauthenticated report: not signed",
        "justice-hanoi",
        event_id,
    )
    assert status_of(dossier) is DossierStatus.ACCEPTED


# --- overdue --------------------------------------------------------------------------------------


def test_a_dossier_past_its_due_date_is_reported_overdue_once() -> None:
    clock = SettableClock(datetime(2026, 3, 6, 10, tzinfo=HANOI))  # Friday
    ctx = context(clock)
    dossier = receive(ctx, due=date(2026, 3, 5))
    take(dossier, ctx, "birth-registration", "processing")
    drained(dossier)

    assert dossier.check_overdue(ctx) is True
    [envelope], [entry] = dossier.drain()
    overdue = envelope.data
    assert isinstance(overdue, DossierOverdue)
    assert (overdue.status, overdue.due_date, overdue.detected_at) == (
        "processing",
        date(2026, 3, 5),
        clock.now,
    )
    assert overdue.open_steps == ["birth-registration@justice-hanoi"]
    assert dossier.overdue_at == clock.now
    assert (entry.event, entry.status, entry.event_id) == ("overdue", "processing", envelope.id)
    assert entry.note == "due 2026-03-05, not finished on 2026-03-06; open: birth-registration@justice-hanoi"

    assert dossier.check_overdue(ctx) is False
    assert dossier.drain() == ([], [])


def test_open_steps_of_an_overdue_linked_dossier_leave_out_the_waiting_ones() -> None:
    clock = SettableClock(datetime(2026, 3, 9, 10, tzinfo=HANOI))
    ctx = context(clock)
    dossier = receive(ctx, BIRTH_GROUP, due=date(2026, 3, 5))
    take(dossier, ctx, "birth-registration", "processing", "result_ready")
    take(dossier, ctx, "identity-card", "processing", "result_ready", "returned")
    drained(dossier)

    assert dossier.check_overdue(ctx) is True
    [overdue] = drained(dossier)[0]
    assert overdue.status is DossierStatus.TRANSFERRED
    assert overdue.open_steps == [
        "health-insurance-card@social-insurance-hanoi",
        "permanent-residence@police-hanoi",
    ]


@pytest.mark.parametrize(
    ("statuses", "now"),
    [
        (("processing",), datetime(2026, 3, 5, 16, tzinfo=HANOI)),  # due today is still on time
        (("processing", "supplement_requested"), datetime(2026, 3, 9, 10, tzinfo=HANOI)),  # clock paused
        (("processing", "result_ready", "returned"), datetime(2026, 3, 9, 10, tzinfo=HANOI)),
    ],
)
def test_a_dossier_due_today_paused_or_finished_is_not_overdue(
    statuses: tuple[str, ...], now: datetime
) -> None:
    clock = SettableClock(MONDAY)
    ctx = context(clock)
    dossier = receive(ctx, due=date(2026, 3, 5))
    take(dossier, ctx, "birth-registration", *statuses)
    clock.now = now
    drained(dossier)

    assert dossier.check_overdue(ctx) is False
    assert dossier.drain() == ([], [])


def test_each_event_carries_the_dossier_and_routing_as_its_source() -> None:
    dossier = receive(context())
    envelopes, _ = dossier.drain()
    assert {(envelope.source, envelope.subject, envelope.key) for envelope in envelopes} == {
        ("urn:dossierbus:routing", dossier.code, str(dossier.id))
    }
    assert all(isinstance(envelope, Envelope) for envelope in envelopes)
