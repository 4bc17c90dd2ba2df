"""Intake rules without I/O: validation against the procedure's form, dossier codes, appointment dates."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dossierbus_intake.domain.submission import (
    Receipt,
    SubmissionRefused,
    SubmissionRequest,
    appointment,
    appointment_date,
    dossier_code,
    validate_submission,
)
from dossierbus_shared.calendar import TimeLimit, vietnam_calendar
from dossierbus_shared.catalogue import Catalogue, load_catalogue
from dossierbus_shared.events import Channel

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
BIRTH = "1.001193"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "procedure_code": BIRTH,
        "channel": "online",
        "applicant": {
            "personal_id": "001085123456",
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1985-04-12",
            "email": "an@example.vn",
        },
        "form": {
            "child_full_name": "Nguyễn Thị Bình",
            "child_date_of_birth": "2026-02-27",
            "child_sex": "female",
            "place_of_birth": "Bệnh viện Phụ sản Hà Nội",
            "relationship": "father",
        },
    }
    request.update(changes)
    return request


UNITS = ("000.00.01.H26", "000.00.01.H48")


def request(**changes: Any) -> SubmissionRequest:
    return SubmissionRequest.model_validate(body(**changes))


def form(**changes: Any) -> dict[str, Any]:
    values = {**body()["form"], **changes}
    return {name: value for name, value in values.items() if value is not None}


# --- validate_submission -------------------------------------------------------------------------------


def test_valid_submission_gives_the_procedure_and_the_typed_form(catalogue: Catalogue) -> None:
    procedure, validated = validate_submission(request(), catalogue, UNITS)

    assert procedure.code == BIRTH
    assert validated == body()["form"]


def test_unknown_procedure_is_refused_naming_procedure_code(catalogue: Catalogue) -> None:
    with pytest.raises(SubmissionRefused) as caught:
        validate_submission(request(procedure_code="9.999999"), catalogue, UNITS)

    assert "9.999999" in caught.value.detail
    assert [error["field"] for error in caught.value.errors] == ["procedure_code"]
    assert caught.value.errors[0]["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"child_sex": "unknown"}, "form.child_sex"),
        ({"relationship": "neighbour"}, "form.relationship"),
        ({"child_date_of_birth": "2026-02-30"}, "form.child_date_of_birth"),
        ({"child_date_of_birth": None}, "form.child_date_of_birth"),
        ({"child_full_name": "x" * 101}, "form.child_full_name"),
        ({"nickname": "Bông"}, "form.nickname"),
    ],
)
def test_bad_form_is_refused_naming_the_field(
    catalogue: Catalogue, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(SubmissionRefused) as caught:
        validate_submission(request(form=form(**changes)), catalogue, UNITS)

    assert [error["field"] for error in caught.value.errors] == [field]
    assert field in caught.value.detail
    assert BIRTH in caught.value.detail
    assert caught.value.errors[0]["type"]
    assert caught.value.errors[0]["message"]


def test_a_unit_this_intake_does_not_serve_is_refused(catalogue: Catalogue) -> None:
    assert validate_submission(request(receiving_unit="000.00.01.H48"), catalogue, UNITS)
    with pytest.raises(SubmissionRefused) as caught:
        validate_submission(request(receiving_unit="000.00.07.H01"), catalogue, UNITS)
    assert caught.value.errors[0]["field"] == "receiving_unit"
    with pytest.raises(ValidationError, match="receiving_unit"):
        request(receiving_unit="Hanoi")


def test_every_bad_form_field_is_named(catalogue: Catalogue) -> None:
    bad = form(child_sex="x", place_of_birth=None, extra=True)

    with pytest.raises(SubmissionRefused) as caught:
        validate_submission(request(form=bad), catalogue, UNITS)

    assert {error["field"] for error in caught.value.errors} == {
        "form.child_sex",
        "form.place_of_birth",
        "form.extra",
    }


def test_form_of_another_procedure_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(SubmissionRefused) as caught:
        validate_submission(request(procedure_code="1.000656"), catalogue, UNITS)

    fields = {error["field"] for error in caught.value.errors}
    assert "form.deceased_personal_id" in fields
    assert "form.child_sex" in fields


@pytest.mark.parametrize(
    "changes",
    [
        {"unexpected": 1},
        {"procedure_code": ""},
        {"channel": "fax"},
        {"applicant": {"personal_id": "123", "full_name": "A", "date_of_birth": "1985-04-12"}},
    ],
)
def test_request_shape_is_checked(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        request(**changes)


# --- dossier codes -------------------------------------------------------------------------------------


def test_dossier_code_format() -> None:
    code = dossier_code("000.00.01.H26", date(2026, 3, 2), 7)

    assert code == "000.00.01.H26-260302-0007"
    assert re.fullmatch(r"000\.00\.01\.H26-\d{6}-\d{4}", code)


def test_dossier_code_sequence_is_zero_padded_but_never_cut() -> None:
    assert dossier_code("U", date(2026, 12, 31), 1).endswith("-261231-0001")
    assert dossier_code("U", date(2026, 12, 31), 9999).endswith("-9999")
    assert dossier_code("U", date(2026, 12, 31), 12345) == "U-261231-12345"


def test_dossier_codes_differ_by_day_and_sequence() -> None:
    codes = {
        dossier_code("U", date(2026, 3, 2), 1),
        dossier_code("U", date(2026, 3, 3), 1),
        dossier_code("U", date(2026, 3, 2), 2),
        dossier_code("V", date(2026, 3, 2), 1),
    }
    assert len(codes) == 4


# --- fingerprint ---------------------------------------------------------------------------------------


def test_fingerprint_is_equal_for_equal_bodies() -> None:
    first = request()
    reordered = SubmissionRequest.model_validate(dict(reversed(list(body().items()))))

    assert first.fingerprint() == request().fingerprint()
    assert first.fingerprint() == reordered.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", first.fingerprint())


def test_fingerprint_ignores_key_order_inside_the_form() -> None:
    reordered = dict(reversed(list(form().items())))

    assert request(form=reordered).fingerprint() == request().fingerprint()


@pytest.mark.parametrize(
    "changes",
    [
        {"procedure_code": "1.000656"},
        {"channel": "direct"},
        {"form": form(child_full_name="Nguyễn Thị Binh")},
        {"form": form(extra="1")},
        {"applicant": {**body()["applicant"], "email": "other@example.vn"}},
    ],
)
def test_fingerprint_differs_for_different_bodies(changes: dict[str, Any]) -> None:
    assert request(**changes).fingerprint() != request().fingerprint()


# --- appointment date ----------------------------------------------------------------------------------


def test_appointment_date_uses_the_procedures_time_limit(catalogue: Catalogue) -> None:
    birth = catalogue.procedures[BIRTH]
    three_days = birth.model_copy(update={"time_limit": TimeLimit(amount=3)})
    monday_10 = datetime(2026, 3, 2, 10, 0, tzinfo=HCM)

    # Birth registration: the same day (before 15:00).
    assert appointment_date(vietnam_calendar(), birth, monday_10) == date(2026, 3, 2)
    assert appointment_date(vietnam_calendar(), three_days, monday_10) == date(2026, 3, 5)


def test_appointment_date_skips_tet(catalogue: Catalogue) -> None:
    friday_before_tet_afternoon = datetime(2026, 2, 13, 9, 0, tzinfo=UTC)  # 16:00 in Hanoi, after 15:00

    assert appointment_date(
        vietnam_calendar(), catalogue.procedures[BIRTH], friday_before_tet_afternoon
    ) == date(2026, 2, 23)


def test_appointment_date_after_closing_time(catalogue: Catalogue) -> None:
    monday_evening = datetime(2026, 3, 2, 17, 30, tzinfo=HCM)

    assert appointment_date(vietnam_calendar(), catalogue.procedures[BIRTH], monday_evening) == date(
        2026, 3, 3
    )


def test_a_submission_without_a_channel_is_direct() -> None:
    """The national portal counts a dossier without a channel (KenhThucHien null) as direct (1), so a
    missing channel must not count as online for indicator 3.3."""
    without_channel = body()
    del without_channel["channel"]
    assert SubmissionRequest.model_validate(without_channel).channel is Channel.DIRECT
    assert request().channel is Channel.ONLINE


def test_an_appointment_in_an_unannounced_year_is_provisional(catalogue: Catalogue) -> None:
    received = datetime(2027, 2, 3, 9, 0, tzinfo=HCM)
    deadline = appointment(vietnam_calendar(), catalogue.procedures[BIRTH], Channel.ONLINE, received)

    assert deadline.due_date == date(2027, 2, 3)
    assert deadline.provisional
    assert not appointment(
        vietnam_calendar(), catalogue.procedures[BIRTH], Channel.ONLINE, datetime(2026, 3, 2, 9, tzinfo=HCM)
    ).provisional


def test_appointment_date_refuses_naive_time(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        appointment_date(vietnam_calendar(), catalogue.procedures[BIRTH], datetime(2026, 3, 2, 10))


def test_the_appointment_slip_says_whether_its_date_is_provisional() -> None:
    slip = Receipt(
        uuid.uuid4(),
        "000.00.01.H26-270203-0001",
        BIRTH,
        datetime(2027, 2, 3, 2, tzinfo=UTC),
        date(2027, 2, 3),
        True,
    )
    assert slip.as_json()["deadline_provisional"] is True
    assert slip.as_json()["appointment_date"] == "2027-02-03"
