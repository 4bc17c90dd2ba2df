"""Synthetic citizens: deterministic, unique, with personal IDs following the real structure."""

from __future__ import annotations

from datetime import date

import pytest

from dossierbus_registry.admin_units import COMMUNES
from dossierbus_registry.domain import Citizen, verify
from dossierbus_registry.synthetic import DEVELOPMENT_APPLICANTS, citizens, enterprises, personal_id
from dossierbus_shared.events import Applicant
from dossierbus_shared.identifiers import (
    PROVINCES_2004,
    PROVINCES_2025,
    personal_id_problems,
    tax_code_problems,
)

PEOPLE = list(citizens(2000))


def test_same_seed_gives_the_same_people() -> None:
    assert list(citizens(50, seed=1)) == list(citizens(50, seed=1))
    assert list(citizens(50)) == PEOPLE[:50]


def test_different_seeds_give_different_people() -> None:
    assert list(citizens(50, seed=1)) != list(citizens(50, seed=2))


def test_count_is_respected() -> None:
    assert len(PEOPLE) == 2000
    assert list(citizens(0)) == []


def test_personal_ids_are_unique() -> None:
    assert len({person.personal_id for person in PEOPLE}) == len(PEOPLE)


def test_personal_ids_are_twelve_digits_with_a_known_province() -> None:
    for person in PEOPLE:
        assert len(person.personal_id) == 12, person
        assert person.personal_id.isdigit(), person
        assert person.personal_id[1:3] in PROVINCES_2004, person
        assert person.permanent_address.endswith(PROVINCES_2025[person.province_code]), person
        assert (person.commune_code, person.permanent_address.split(", ")[2]) in COMMUNES[
            person.province_code
        ]


def test_birth_provinces_and_residences_are_spread() -> None:
    assert len({person.personal_id[:3] for person in PEOPLE}) == 63
    assert {person.province_code for person in PEOPLE} == set(COMMUNES)


def test_enterprises_are_deterministic_with_valid_codes() -> None:
    representatives = [person.personal_id for person in PEOPLE[:100]]
    firms = list(enterprises(500, representatives))
    first = list(enterprises(20, representatives))  # 20 head offices, and their branches
    assert firms[: len(first)] == first
    assert len({firm.tax_code for firm in firms}) == len(firms) >= 500
    for firm in firms:
        assert tax_code_problems(firm.tax_code) == [], firm
        assert firm.legal_representative_id in representatives
    branches = [firm for firm in firms if len(firm.tax_code) == 13]
    assert branches
    assert all(branch.tax_code[10:] != "000" for branch in branches)


def test_century_and_sex_digit_follows_the_rule() -> None:
    for person in PEOPLE:
        digit = int(person.personal_id[3])
        assert (digit % 2 == 0) == (person.sex == "male"), person
        assert (digit // 2 + 19) * 100 + int(person.personal_id[4:6]) == person.date_of_birth.year, person
        assert personal_id_problems(person.personal_id, person.date_of_birth) == []


def test_population_covers_both_sexes_and_both_centuries() -> None:
    assert {person.sex for person in PEOPLE} == {"male", "female"}
    assert {person.personal_id[3] for person in PEOPLE} == {"0", "1", "2", "3"}


def test_synthetic_citizens_verify_against_themselves() -> None:
    for person in PEOPLE[:200]:
        applicant = Applicant(
            personal_id=person.personal_id, full_name=person.full_name, date_of_birth=person.date_of_birth
        )
        assert verify(applicant, person) == []


def test_surnames_follow_their_frequency() -> None:
    share = sum(person.full_name.startswith("Nguyễn ") for person in PEOPLE) / len(PEOPLE)
    assert 0.3 < share < 0.45


def test_names_are_three_vietnamese_parts() -> None:
    for person in PEOPLE[:200]:
        assert len(person.full_name.split()) == 3, person


@pytest.mark.parametrize(
    ("sex", "born", "expected"),
    [
        ("male", date(1985, 4, 12), "001085000042"),
        ("female", date(1985, 4, 12), "001185000042"),
        ("male", date(2001, 5, 6), "001201000042"),
        ("female", date(2001, 5, 6), "001301000042"),
        ("male", date(1900, 1, 1), "001000000042"),
    ],
)
def test_personal_id_structure(sex: str, born: date, expected: str) -> None:
    assert personal_id("001", sex, born, 42) == expected


@pytest.mark.parametrize("row", DEVELOPMENT_APPLICANTS, ids=lambda row: row[0])
def test_the_documented_applicants_are_valid_citizens_of_their_own(row: tuple[object, ...]) -> None:
    documented = Citizen(*row)  # type: ignore[arg-type]
    assert personal_id_problems(documented.personal_id, documented.date_of_birth, documented.sex) == []
    assert documented.commune_code in {code for code, _ in COMMUNES[documented.province_code]}
    # Not drawn by the development stack's synthetic population, which would give the ID another name.
    assert documented.personal_id not in {person.personal_id for person in PEOPLE}
