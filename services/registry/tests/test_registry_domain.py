"""Verifying an applicant against a population record, without I/O."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from dossierbus_registry.domain import Citizen, normalise_name, verify
from dossierbus_shared.events import Applicant
from dossierbus_shared.identifiers import personal_id_problems

CITIZEN = Citizen(
    personal_id="001085123456",  # Hà Nội, male born in the 1900s, 1985
    full_name="Nguyễn Văn An",
    date_of_birth=date(1985, 4, 12),
    sex="male",
    permanent_address="Số 1, phường Ba Đình, Hà Nội",
    province_code="01",
    commune_code="00004",
)


def applicant(
    full_name: str = "Nguyễn Văn An",
    date_of_birth: date = date(1985, 4, 12),
    personal_id: str = "001085123456",
) -> Applicant:
    return Applicant(personal_id=personal_id, full_name=full_name, date_of_birth=date_of_birth)


def test_matching_applicant_is_verified() -> None:
    assert verify(applicant(), CITIZEN) == []


@pytest.mark.parametrize(
    "name",
    [
        "NGUYỄN VĂN AN",
        "nguyễn văn an",
        "  Nguyễn   Văn\tAn ",
        "Nguyễn\u00a0Văn An",
        unicodedata.normalize("NFD", "Nguyễn Văn An"),
        unicodedata.normalize("NFD", "NGUYỄN VĂN AN"),
    ],
    ids=["upper", "lower", "spacing", "nbsp", "nfd", "nfd-upper"],
)
def test_name_differing_only_in_case_spacing_or_normalisation_matches(name: str) -> None:
    assert verify(applicant(full_name=name), CITIZEN) == []


def test_record_stored_decomposed_still_matches() -> None:
    decomposed = Citizen(**{**CITIZEN.__dict__, "full_name": unicodedata.normalize("NFD", CITIZEN.full_name)})

    assert verify(applicant(), decomposed) == []


@pytest.mark.parametrize("name", ["Nguyễn Văn Anh", "Nguyen Van An", "Trần Văn An", "Văn An"])
def test_wrong_name_is_reported(name: str) -> None:
    assert verify(applicant(full_name=name), CITIZEN) == [
        "full_name differs from the national population database"
    ]


def test_wrong_date_of_birth_is_reported() -> None:
    # Same year, so the personal ID still agrees with it.
    assert verify(applicant(date_of_birth=date(1985, 4, 13)), CITIZEN) == [
        "date_of_birth differs from the national population database"
    ]


def test_wrong_name_and_date_are_both_reported() -> None:
    problems = verify(applicant(full_name="Lê Thị Lan", date_of_birth=date(1985, 1, 1)), CITIZEN)

    assert len(problems) == 2
    assert any("full_name" in problem for problem in problems)
    assert any("date_of_birth" in problem for problem in problems)


def test_unknown_citizen_is_reported() -> None:
    problems = verify(applicant(), None)

    assert problems == ["personal_id not found in the national population database"]


@pytest.mark.parametrize("year", [1984, 1986, 2085])
def test_personal_id_inconsistent_with_birth_year_is_reported(year: int) -> None:
    problems = verify(applicant(date_of_birth=date(year, 4, 12)), CITIZEN)

    assert problems == ["personal_id does not match the applicant's year of birth"]


def test_inconsistent_personal_id_is_reported_before_the_lookup_result() -> None:
    assert verify(applicant(date_of_birth=date(1990, 1, 1)), None) == [
        "personal_id does not match the applicant's year of birth"
    ]


@pytest.mark.parametrize(
    ("personal_id", "born"),
    [
        ("001085123456", date(1985, 1, 1)),  # 0: male, 20th century
        ("001185123456", date(1985, 1, 1)),  # 1: female, 20th century
        ("079205123456", date(2005, 6, 30)),  # 2: male, 21st century
        ("079305123456", date(2005, 6, 30)),  # 3: female, 21st century
        ("048400000001", date(2100, 1, 1)),  # 4: male, 22nd century
    ],
)
def test_century_digit(personal_id: str, born: date) -> None:
    assert personal_id_problems(personal_id, born) == []
    assert personal_id_problems(personal_id, born.replace(year=born.year + 100)) != []


@pytest.mark.parametrize("personal_id", ["00108512345", "0010851234567", "00108512345a", ""])
def test_malformed_personal_id(personal_id: str) -> None:
    assert personal_id_problems(personal_id, date(1985, 1, 1)) == ["personal_id must be 12 digits"]


def test_normalise_name() -> None:
    assert normalise_name("  NGUYỄN\n Văn   AN ") == "nguyễn văn an"
    assert normalise_name(unicodedata.normalize("NFD", "Đặng")) == "đặng"


def test_citizen_facts_are_text() -> None:
    assert CITIZEN.fact("date_of_birth") == "1985-04-12"
    assert CITIZEN.fact("full_name") == "Nguyễn Văn An"
    assert CITIZEN.fact("permanent_address") == "Số 1, phường Ba Đình, Hà Nội"
    with pytest.raises(AttributeError):
        CITIZEN.fact("income")
