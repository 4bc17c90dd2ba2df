"""Synthetic citizens: deterministic, unique, with personal IDs following the real structure."""

from __future__ import annotations

from datetime import date

import pytest

from dossierbus_registry.domain import verify
from dossierbus_registry.synthetic import PROVINCES, citizens, personal_id
from dossierbus_shared.events import Applicant
from dossierbus_shared.identifiers import personal_id_problems

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
        assert person.personal_id[:3] in PROVINCES, person
        assert person.permanent_address.endswith(PROVINCES[person.personal_id[:3]]), person


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
