"""The event catalogue: topic names, agency codes, statuses and their national codes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from dossierbus_shared.events import (
    CATALOGUE,
    FIXED_TOPICS,
    TYPE_PREFIX,
    Applicant,
    DossierAssigned,
    DossierOverdue,
    DossierStatus,
    DossierStatusChanged,
    DossierStatusReported,
    DossierStepCancelled,
    DossierSupplemented,
    NationalStatus,
    agency_topics,
    national_status,
)


def assigned(agency_code: str) -> DossierAssigned:
    return DossierAssigned(
        dossier_id=uuid4(),
        dossier_code="000.00.01.H26-260302-0001",
        agency_code=agency_code,
        procedure_code="1.001193",
        step="birth-registration",
        applicant=Applicant(
            personal_id="001085123456", full_name="Nguyễn Văn An", date_of_birth=date(1985, 4, 12)
        ),
        form={},
        due_date=date(2026, 3, 3),
        assigned_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


def reported(agency_code: str) -> DossierStatusReported:
    return DossierStatusReported(
        dossier_id=uuid4(),
        dossier_code="000.00.01.H26-260302-0001",
        agency_code=agency_code,
        step="birth-registration",
        status=DossierStatus.PROCESSING,
        reported_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize("agency", ["justice-hanoi", "police-hanoi", "p1"])
def test_topic_name_fills_in_the_agency_code(agency: str) -> None:
    assert assigned(agency).topic_name() == f"agency.{agency}.inbox"
    assert reported(agency).topic_name() == f"agency.{agency}.reports"


def test_fixed_topic_name_is_the_topic() -> None:
    changed = DossierStatusChanged(
        dossier_id=uuid4(),
        dossier_code="X-260302-0001",
        procedure_code="1.001193",
        previous_status=None,
        status=DossierStatus.RECEIVED,
        due_date=date(2026, 3, 3),
        changed_at=datetime(2026, 3, 2, tzinfo=UTC),
    )

    assert changed.topic_name() == "dossier.status-changed"


def test_fixed_topics_are_the_non_agency_topics() -> None:
    assert FIXED_TOPICS == (
        "dossier.deadline-extended",
        "dossier.overdue",
        "dossier.payments",
        "dossier.rated",
        "dossier.status-changed",
        "dossier.submitted",
        "dossier.verified",
    )


def test_agency_topics_gives_inbox_and_reports() -> None:
    assert agency_topics("justice-hanoi") == ("agency.justice-hanoi.inbox", "agency.justice-hanoi.reports")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "a",  # too short
        "Justice-hanoi",  # upper case
        "justice_hanoi",
        "justice.hanoi",  # would add a topic level
        "-justice",
        "justice hanoi",
        "justice-hanoi\n",
        "tư-pháp",
        "a" * 64,  # too long
        "{agency_code}",
    ],
)
def test_agency_topics_rejects_bad_codes(code: str) -> None:
    with pytest.raises(ValueError, match="invalid agency code"):
        agency_topics(code)


def test_longest_valid_agency_code_is_accepted() -> None:
    code = "a" * 63
    assert agency_topics(code)[0] == f"agency.{code}.inbox"


@pytest.mark.parametrize("code", ["Justice-Hanoi", "justice.hanoi", "x"])
def test_events_reject_bad_agency_codes(code: str) -> None:
    with pytest.raises(ValidationError, match="agency_code"):
        assigned(code)
    with pytest.raises(ValidationError, match="agency_code"):
        reported(code)


@pytest.mark.parametrize(
    ("status", "previous", "code"),
    [
        (DossierStatus.RECEIVED, None, 1),
        (DossierStatus.ACCEPTED, DossierStatus.RECEIVED, 2),
        (DossierStatus.PROCESSING, DossierStatus.ACCEPTED, 4),
        (DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.PROCESSING, 5),
        (DossierStatus.WITHDRAWN, DossierStatus.PROCESSING, 7),
        (DossierStatus.RESULT_READY, DossierStatus.PROCESSING, 9),
        (DossierStatus.RETURNED, DossierStatus.RESULT_READY, 10),
        (DossierStatus.TRANSFERRED, DossierStatus.PROCESSING, None),
    ],
)
def test_national_code(status: DossierStatus, previous: DossierStatus | None, code: int | None) -> None:
    assert national_status(status, previous) == code


def test_a_refusal_at_reception_is_not_received_and_a_later_one_is_stopped() -> None:
    """DVCQG TrangThaiHoSo: 3 "Không được tiếp nhận" is a refusal at the one-stop counter (Circular
    03/2025 form 03); once received, a refusal stops processing: 8 "Dừng xử lý" (form 05)."""
    assert national_status(DossierStatus.REJECTED, DossierStatus.RECEIVED) is NationalStatus.NOT_RECEIVED
    assert national_status(DossierStatus.REJECTED, None) is NationalStatus.NOT_RECEIVED
    for during in (
        DossierStatus.ACCEPTED,
        DossierStatus.PROCESSING,
        DossierStatus.SUPPLEMENT_REQUESTED,
        DossierStatus.TRANSFERRED,
    ):
        assert national_status(DossierStatus.REJECTED, during) is NationalStatus.STOPPED


def test_the_national_code_table_is_complete() -> None:
    """All ten national codes, financial obligation (6) and stopped (8) included."""
    assert [code.value for code in NationalStatus] == list(range(1, 11))
    assert NationalStatus.FINANCIAL_OBLIGATION == 6
    assert NationalStatus.STOPPED == 8


def test_status_values_are_the_wire_strings() -> None:
    assert DossierStatus("supplement_requested") is DossierStatus.SUPPLEMENT_REQUESTED
    assert DossierStatus.RESULT_READY == "result_ready"


def test_catalogue_types_are_prefixed_and_versioned() -> None:
    assert len(CATALOGUE) == 14
    for event_type, cls in CATALOGUE.items():
        assert event_type == cls.type
        assert event_type.startswith(TYPE_PREFIX)
        assert event_type.endswith(".v1")
        assert cls.schema_url().endswith(event_type.removeprefix(TYPE_PREFIX) + ".json")


def test_public_contract_types_and_topics() -> None:
    assert DossierAssigned.type == "vn.gov.dossierbus.dossier.assigned.v1"
    assert DossierStatusReported.type == "vn.gov.dossierbus.dossier.status-reported.v1"
    assert DossierAssigned.topic == "agency.{agency_code}.inbox"
    assert DossierStatusReported.topic == "agency.{agency_code}.reports"
    assert DossierSupplemented.type == "vn.gov.dossierbus.dossier.supplemented.v1"
    assert DossierStepCancelled.type == "vn.gov.dossierbus.dossier.step-cancelled.v1"
    assert DossierSupplemented.topic == DossierStepCancelled.topic == "agency.{agency_code}.inbox"
    assert DossierOverdue.type == "vn.gov.dossierbus.dossier.overdue.v1"
    assert DossierOverdue.topic == "dossier.overdue"


@pytest.mark.parametrize("personal_id", ["00108512345", "0010851234567", "00108512345a"])
def test_applicant_personal_id_must_be_twelve_digits(personal_id: str) -> None:
    with pytest.raises(ValidationError, match="personal_id"):
        Applicant(personal_id=personal_id, full_name="A", date_of_birth=date(1985, 1, 1))


def test_events_are_immutable() -> None:
    event = reported("justice-hanoi")

    with pytest.raises(ValidationError):
        event.step = "other"  # type: ignore[misc]
