"""Purpose binding and consent rules, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dossierbus_registry.domain.dossiers import Dossier
from dossierbus_registry.domain.purpose import (
    Consent,
    Refused,
    allowed_fields,
    check_assigned,
    check_consent,
    check_dossier,
    needs_consent,
)
from dossierbus_shared.catalogue import default_catalogue

BIRTH = default_catalogue().procedure("1.001193")
BUSINESS = default_catalogue().procedure("2.001199")
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
PERSON = "001085123456"


def reason(error: pytest.ExceptionInfo[Refused]) -> str:
    return error.value.reason


def test_all_needed_fields_by_default_and_a_subset_on_request() -> None:
    assert allowed_fields(BIRTH, "1.001193", "population", None, TODAY) == [
        "full_name",
        "date_of_birth",
        "permanent_address",
    ]
    assert allowed_fields(BIRTH, "1.001193", "population", ["full_name"], TODAY) == ["full_name"]


def test_fields_beyond_the_purpose_are_refused_by_name() -> None:
    with pytest.raises(Refused, match="does not need sex") as error:
        allowed_fields(BIRTH, "1.001193", "population", ["full_name", "sex"], TODAY)
    assert reason(error) == "fields_beyond_purpose"


def test_a_database_the_procedure_does_not_use_is_refused() -> None:
    with pytest.raises(Refused, match="needs nothing from the business database"):
        allowed_fields(BIRTH, "1.001193", "business", None, TODAY)


def test_unknown_procedure_and_one_not_yet_in_force() -> None:
    with pytest.raises(Refused) as unknown:
        allowed_fields(None, "9.999999", "population", None, TODAY)
    assert reason(unknown) == "unknown_procedure"
    assert BUSINESS is not None
    with pytest.raises(Refused) as early:
        allowed_fields(BUSINESS, BUSINESS.code, "population", None, date(2020, 12, 31))
    assert reason(early) == "procedure_not_in_effect"


def test_only_an_agency_holding_a_step_of_the_dossier_may_look_up() -> None:
    check_assigned(True, "justice-hanoi", "D1")
    with pytest.raises(Refused, match="police-hanoi holds no assigned step of dossier D1") as error:
        check_assigned(False, "police-hanoi", "D1")
    assert reason(error) == "agency_not_involved"


@pytest.mark.parametrize(
    ("dossier", "subject", "expected"),
    [
        (None, PERSON, "no_live_dossier"),
        (Dossier("D1", "1.001193", PERSON, None, NOW, closed_at=NOW), PERSON, "no_live_dossier"),
        (Dossier("D1", "1.000656", PERSON, None, NOW), PERSON, "no_live_dossier"),
        (
            Dossier("D1", "1.001193", PERSON, None, NOW),
            "001085999999",
            "not_the_dossier_subject",
        ),
    ],
)
def test_a_lookup_must_serve_a_live_dossier_of_its_subject(
    dossier: Dossier | None, subject: str, expected: str
) -> None:
    with pytest.raises(Refused) as error:
        check_dossier(dossier, "D1", "1.001193", "population", subject)
    assert reason(error) == expected


def test_a_live_dossier_of_the_subject_passes() -> None:
    check_dossier(Dossier("D1", "1.001193", PERSON, None, NOW), "D1", "1.001193", "population", PERSON)


def consent(**change: object) -> Consent:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "personal_id": PERSON,
        "procedure_code": "2.001199",
        "dossier_code": None,
        "granted_at": NOW - timedelta(days=1),
        "expires_at": None,
        "withdrawn_at": None,
    } | change
    return Consent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (consent(personal_id="001085999999"), "another person"),
        (consent(procedure_code="1.001193"), "for procedure 1.001193"),
        (consent(dossier_code="OTHER"), "for dossier OTHER only"),
        (consent(withdrawn_at=NOW - timedelta(minutes=1)), "withdrawn"),
        (consent(expires_at=NOW - timedelta(seconds=1)), "expired"),
    ],
)
def test_a_consent_that_does_not_cover_the_lookup_is_refused_with_why(given: Consent, problem: str) -> None:
    assert BUSINESS is not None
    with pytest.raises(Refused, match=problem) as error:
        check_consent(BUSINESS, given, str(given.id), PERSON, "D1", NOW)
    assert reason(error) == "consent_invalid"


def test_a_consent_recorded_without_the_citizens_act_covers_nothing() -> None:
    assert BUSINESS is not None
    with pytest.raises(Refused, match="without the citizen's authenticated act") as error:
        check_consent(BUSINESS, consent(by_the_citizen=False), "c", PERSON, "D1", NOW)
    assert reason(error) == "consent_invalid"


def test_consent_rules_follow_the_procedure() -> None:
    assert BIRTH is not None and BUSINESS is not None
    assert not needs_consent(BIRTH, "population", ["full_name"], prefill=False)  # exempt by law
    assert needs_consent(BIRTH, "population", ["full_name"], prefill=True)  # prefill always asks
    assert needs_consent(BUSINESS, "population", ["full_name"], prefill=False)
    with pytest.raises(Refused) as missing:
        check_consent(BUSINESS, None, None, PERSON, "D1", NOW)
    assert reason(missing) == "consent_missing"
    check_consent(BUSINESS, consent(), "c", PERSON, "D1", NOW)
    check_consent(BUSINESS, consent(withdrawn_at=NOW + timedelta(hours=1)), "c", PERSON, "D1", NOW)


def test_the_legal_representatives_id_is_personal_data_that_needs_consent() -> None:
    assert BUSINESS is not None
    assert needs_consent(BUSINESS, "business", ["name", "legal_representative_id"], prefill=False)
    assert needs_consent(BUSINESS, "business", ["legal_representative_id"], prefill=True)
    assert not needs_consent(BUSINESS, "business", ["name", "status"], prefill=True)
