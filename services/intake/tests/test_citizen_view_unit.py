"""Putting the citizen's dossier page together from intake's record and the services' answers: what each
answer adds, what a missing or malformed one costs (its section, never the page), which links are kept."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dossierbus_intake.citizen.sources import DossierReads, Read
from dossierbus_intake.citizen.view import detail, newest_first, safe_payment_link, summary
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_shared.catalogue import default_catalogue

CATALOGUE = default_catalogue()
APPLICANT = "001085123456"
CODE = "000.00.01.H26-261202-0001"


def dossier(code: str = CODE, *, submitted: datetime | None = None, procedure: str = "1.001193") -> Dossier:
    return Dossier(
        id=uuid.uuid4(),
        code=code,
        procedure_code=procedure,
        channel="online",
        applicant_personal_id=APPLICANT,
        submitted_at=submitted or datetime(2026, 12, 2, 2, 0, tzinfo=UTC),
        due_date=date(2026, 12, 7),
        request_fingerprint="f",
        tracking_secret_sha256=None,
        status="processing",
    )


def routing_view(**changes: Any) -> dict[str, Any]:
    """Routing's `GET /dossiers/{code}` answer (views.dossier_document), for a birth registration."""
    view: dict[str, Any] = {
        "dossier_code": CODE,
        "procedure_code": "1.001193",
        "status": "returned",
        "agency_code": "justice-hanoi",
        "step": "birth-registration",
        "due_date": "2026-12-09",
        "deadline": {
            "appointment_date": "2026-12-07",
            "due_date": "2026-12-09",
            "deadline_provisional": False,
            "paused": False,
            "paused_since": None,
            "overdue": False,
            "original_due_date": "2026-12-07",
        },
        "steps": [
            {
                "step": "birth-registration",
                "agency_code": "justice-hanoi",
                "after": [],
                "status": "returned",
                "result_documents": [
                    {
                        "name": "Trích lục khai sinh",
                        "url": "https://results.example.gov.vn/a.pdf",
                        "sha256": "ab" * 32,
                    },
                    {"name": "Script", "url": "javascript:alert(1)"},
                    {"name": "Plain", "url": "http://results.example.gov.vn/b.pdf"},
                ],
                "assigned_at": "2026-12-02T02:00:01+00:00",
                "updated_at": "2026-12-02T02:00:05+00:00",
                "supplement_due_date": None,
            }
        ],
        "timeline": [
            {
                "at": "2026-12-02T02:00:00+00:00",
                "event": "submitted",
                "status": "received",
                "outcome": "applied",
            },
            {
                "at": "2026-12-02T02:00:01+00:00",
                "event": "assigned",
                "status": "assigned",
                "outcome": "applied",
            },
            {
                "at": "2026-12-02T02:00:02+00:00",
                "event": "report-refused",
                "status": "x",
                "outcome": "refused",
            },
            {
                "at": "2026-12-02T02:00:03+00:00",
                "event": "status-changed",
                "status": "returned",
                "agency_code": "justice-hanoi",
                "note": "The result has been returned to the applicant.",
                "outcome": "applied",
            },
        ],
    }
    view.update(changes)
    return view


NOTIFICATIONS = {
    "dossier_code": CODE,
    "notifications": [
        {
            "channel": "email",
            "recipient": "a***@example.vn",
            "subject": "Giấy tiếp nhận hồ sơ / Receipt",
            "status": "delivered",
            "created_at": "2026-12-02T02:00:00+00:00",
            "delivered_at": "2026-12-02T02:00:09+00:00",
        },
        {
            "channel": "webhook",
            "recipient": "justice-hanoi",
            "subject": "x",
            "status": "delivered",
            "created_at": "2026-12-02T02:00:00+00:00",
        },
    ],
}

PAYMENT = {
    "dossier_code": CODE,
    "amount_vnd": 8000,
    "fees": [{"step": "birth-registration", "agency_code": "justice-hanoi", "fee_vnd": 8000}],
    "state": "paid",
    "pay_url": None,
    "receipt": {"number": f"BL-{CODE}", "amount_vnd": 8000, "issued_at": "2026-12-02T03:00:00+00:00"},
    "refund": None,
}


def reads(
    routing: Read | None = None, notifications: Read | None = None, payment: Read | None = None
) -> DossierReads:
    return DossierReads(
        routing or Read("ok", routing_view()),
        notifications or Read("ok", NOTIFICATIONS),
        payment or Read("absent"),
    )


def test_routings_view_gives_status_due_date_steps_results_and_history() -> None:
    shown = detail(dossier(), reads(), CATALOGUE)
    assert shown.processing == "ok"
    assert shown.status == "returned"
    assert shown.summary.status == "processing"  # intake's own record, shown on the list
    assert shown.due_date == date(2026, 12, 9)
    assert shown.original_due_date == date(2026, 12, 7)  # an extension moved it
    assert shown.agency_name["en"].startswith("Civil status office")
    [step] = shown.steps
    # A procedure of one step: the step bears the procedure's name.
    assert step.name == CATALOGUE.procedures["1.001193"].name
    assert step.status == "returned" and step.agency_code == "justice-hanoi"
    # Only the https result is a link: a script or plain-http URL never reaches the page.
    assert [(link.name, link.url) for _, link in shown.results] == [
        ("Trích lục khai sinh", "https://results.example.gov.vn/a.pdf")
    ]
    assert shown.results[0][1].sha256 == "ab" * 32
    # The steps table shows assignments; refused reports are routing's business, not hers.
    assert [(entry.event, entry.status) for entry in shown.history] == [
        ("submitted", "received"),
        ("status-changed", "returned"),
    ]
    assert shown.history[1].note == "The result has been returned to the applicant."


def test_her_notifications_are_listed_but_not_the_agencies_webhooks() -> None:
    shown = detail(dossier(), reads(), CATALOGUE)
    assert shown.notifications is not None
    [mail] = shown.notifications
    assert (mail.channel, mail.recipient, mail.status) == ("email", "a***@example.vn", "delivered")
    assert mail.at == datetime(2026, 12, 2, 2, 0, 9, tzinfo=UTC)


def test_no_payment_found_means_no_fees() -> None:
    shown = detail(dossier(), reads(payment=Read("absent")), CATALOGUE)
    assert (shown.fees, shown.payment) == ("none", None)


def test_a_payment_shows_its_lines_state_and_receipt() -> None:
    shown = detail(dossier(), reads(payment=Read("ok", PAYMENT)), CATALOGUE)
    assert shown.fees == "due" and shown.payment is not None
    [line] = shown.payment.fees
    assert (line.step, line.agency_code, line.fee_vnd) == ("birth-registration", "justice-hanoi", 8000)
    assert line.step_name == CATALOGUE.procedures["1.001193"].name and line.agency_name["vi"]
    assert shown.payment.state == "paid" and not shown.payment.payable
    assert shown.payment.receipt is not None and shown.payment.receipt.number == f"BL-{CODE}"


def test_a_refund_is_shown() -> None:
    refunded = {
        **PAYMENT,
        "state": "refunded",
        "refund": {
            "reference": "RF-1",
            "amount_vnd": 8000,
            "reason": "refused before processing",
            "refunded_at": "2026-12-03T03:00:00+00:00",
        },
    }
    shown = detail(dossier(), reads(payment=Read("ok", refunded)), CATALOGUE)
    assert shown.payment is not None and shown.payment.refund is not None
    assert shown.payment.refund.reason == "refused before processing"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://pay.example.vn/p/1", True),
        ("http://127.0.0.1:9402/pay/1", True),
        ("http://pay.example.vn/p/1", False),
        ("javascript:alert(1)", False),
        ("//evil.example/p", False),
    ],
)
def test_a_payment_link_is_kept_only_when_safe_to_follow(url: str, kept: bool) -> None:
    awaiting = {**PAYMENT, "state": "awaiting_payment", "pay_url": url, "receipt": None}
    shown = detail(dossier(), reads(payment=Read("ok", awaiting)), CATALOGUE)
    assert shown.payment is not None and shown.payment.payable
    assert (shown.payment.pay_url == url) is kept
    assert safe_payment_link(url) is kept


@pytest.mark.parametrize(
    "broken",
    [
        {**PAYMENT, "amount_vnd": -1},
        {**PAYMENT, "amount_vnd": True},
        {**PAYMENT, "amount_vnd": "8000"},
        {**PAYMENT, "fees": [{"step": "birth-registration"}]},
        {**PAYMENT, "receipt": {"number": "x"}},
        {"dossier_code": CODE},
    ],
)
def test_a_payment_answer_out_of_shape_costs_the_fees_section_only(broken: dict[str, Any]) -> None:
    shown = detail(dossier(), reads(payment=Read("ok", broken)), CATALOGUE)
    assert (shown.fees, shown.payment) == ("unavailable", None)
    assert shown.processing == "ok" and shown.steps


def test_payments_unreadable_is_said_rather_than_taken_for_no_fees() -> None:
    shown = detail(dossier(), reads(payment=Read("unavailable", detail="intake answered 503")), CATALOGUE)
    assert shown.fees == "unavailable"


def test_a_dossier_routing_has_not_received_yet_shows_intakes_record() -> None:
    shown = detail(dossier(), reads(routing=Read("absent")), CATALOGUE)
    assert shown.processing == "not_yet"
    assert (shown.status, shown.due_date, shown.steps) == ("processing", date(2026, 12, 7), ())


@pytest.mark.parametrize(
    "answer",
    [
        Read("unavailable", detail="routing did not answer"),
        Read("ok", {"status": "returned"}),  # no due date
        Read("ok", routing_view(due_date="soon")),
        Read("ok", routing_view(steps=[{"agency_code": "justice-hanoi"}])),
    ],
)
def test_routing_unreadable_or_out_of_shape_shows_intakes_record(answer: Read) -> None:
    shown = detail(dossier(), reads(routing=answer, payment=Read("ok", PAYMENT)), CATALOGUE)
    assert shown.processing == "unavailable"
    assert shown.status == "processing" and shown.due_date == date(2026, 12, 7)
    assert shown.fees == "due"  # what the other services answered is still shown
    assert shown.notifications


def test_notifications_unreadable_are_said_to_be() -> None:
    assert detail(dossier(), reads(notifications=Read("unavailable")), CATALOGUE).notifications is None
    assert detail(dossier(), reads(notifications=Read("ok", {"x": 1})), CATALOGUE).notifications is None
    assert detail(dossier(), reads(notifications=Read("absent")), CATALOGUE).notifications == ()


def test_a_paused_overdue_dossier_says_so_and_reasons_are_shown() -> None:
    deadline = {
        **routing_view()["deadline"],
        "paused": True,
        "paused_since": "2026-12-03T01:00:00+00:00",
        "overdue": True,
        "original_due_date": "2026-12-09",
    }
    body = routing_view(status="rejected", deadline=deadline, rejection_reasons=["full_name differs"])
    shown = detail(dossier(), reads(routing=Read("ok", body)), CATALOGUE)
    assert shown.overdue and shown.paused_since == datetime(2026, 12, 3, 1, tzinfo=UTC)
    assert shown.original_due_date is None  # not moved
    assert shown.rejection_reasons == ("full_name differs",)


def test_a_step_or_agency_the_catalogue_does_not_name_shows_its_code() -> None:
    body = routing_view(
        agency_code="an-agency-onboarded-later",
        steps=[{"step": "other-step", "agency_code": "an-agency-onboarded-later", "status": "processing"}],
    )
    shown = detail(dossier(), reads(routing=Read("ok", body)), CATALOGUE)
    [step] = shown.steps
    assert step.name == {} and step.agency_name == {
        "vi": "an-agency-onboarded-later",
        "en": "an-agency-onboarded-later",
    }
    assert step.status == "processing" and step.results == ()


def test_the_steps_of_a_linked_procedure_bear_their_own_names() -> None:
    body = routing_view(
        procedure_code="3.000722",
        steps=[
            {"step": "birth-registration", "agency_code": "justice-hanoi", "status": "returned"},
            {"step": "health-insurance-card", "agency_code": "social-insurance-hanoi", "status": "rejected"},
        ],
    )
    shown = detail(dossier(procedure="3.000722"), reads(routing=Read("ok", body)), CATALOGUE)
    procedure = CATALOGUE.procedures["3.000722"]
    assert [step.name for step in shown.steps] == [
        procedure.steps[0].name,
        next(step.name for step in procedure.steps if step.id == "health-insurance-card"),
    ]
    assert all(step.name and step.name != procedure.name for step in shown.steps)


def test_the_list_is_newest_first_with_the_procedures_names() -> None:
    older = dossier("A-1", submitted=datetime(2026, 11, 1, tzinfo=UTC))
    newer = dossier("A-2", submitted=datetime(2026, 12, 1, tzinfo=UTC), procedure="2.002913")
    listed = newest_first([older, newer], CATALOGUE)
    assert [item.code for item in listed] == ["A-2", "A-1"]
    assert listed[0].procedure_name == CATALOGUE.procedures["2.002913"].name
    assert summary(older, CATALOGUE).appointment_date == date(2026, 12, 7)


def test_a_read_that_says_the_token_no_longer_works_is_noticed() -> None:
    assert reads(notifications=Read("unauthenticated")).unauthenticated
    assert not reads().unauthenticated
