"""Personal IDs and enterprise/tax codes: structure, check digit, branch suffix, one message per problem."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from dossierbus_shared.identifiers import (
    PROVINCES_2004,
    PROVINCES_2025,
    SUCCESSORS_2025,
    PersonalId,
    TaxCode,
    birth_year,
    normalise_tax_code,
    personal_id_problems,
    tax_check_digit,
    tax_code_problems,
)

# Published tax codes of well-known enterprises (their invoices, filings and registration pages).
PUBLISHED_TAX_CODES = {
    "0300588569": "Công ty Cổ phần Sữa Việt Nam (Vinamilk)",
    "0101248141": "Công ty Cổ phần FPT",
    "0100109106": "Tập đoàn Công nghiệp - Viễn thông Quân đội (Viettel)",
    "0100112437": "Ngân hàng TMCP Ngoại thương Việt Nam (Vietcombank)",
    "0101245486": "Tập đoàn Vingroup",
    "0900189284": "Công ty Cổ phần Tập đoàn Hòa Phát",
    "0100283873": "Ngân hàng TMCP Quân đội (MB)",
}
PUBLISHED_BRANCHES = ["0100109106-509", "0100109106-501", "0100112437-005", "0314409058-002"]


@pytest.mark.parametrize("code", list(PUBLISHED_TAX_CODES) + PUBLISHED_BRANCHES)
def test_published_tax_codes_are_valid(code: str) -> None:
    assert tax_code_problems(code) == []


@pytest.mark.parametrize("code", PUBLISHED_TAX_CODES)
def test_every_single_digit_change_is_caught(code: str) -> None:
    # The weights are all prime to 11, so changing any one digit changes the sum modulo 11.
    for position in range(10):
        for digit in "0123456789":
            if digit == code[position]:
                continue
            altered = code[:position] + digit + code[position + 1 :]
            assert tax_code_problems(altered), altered


def test_branch_suffix_does_not_enter_the_check_digit() -> None:
    assert tax_code_problems("0300588569-001") == []
    assert tax_code_problems("0300588569999") == []
    assert tax_code_problems("0300588568-001") == ["tax_code check digit is 8, expected 9"]


def test_branch_suffix_000_is_refused() -> None:
    assert tax_code_problems("0300588569-000") == ["tax_code branch suffix must be 001 to 999"]


@pytest.mark.parametrize(
    "code",
    ["030058856", "03005885690", "0300588569-01", "0300588569--001", "03005885a9", "", "0300588569 001"],
)
def test_malformed_tax_codes(code: str) -> None:
    assert tax_code_problems(code) == [
        "tax_code must be 10 digits, or 10 digits, an optional '-' and a 3-digit branch suffix"
    ]


def test_all_zero_sequence_is_refused() -> None:
    # 01 + 0000000 + its check digit 3 (1·29 = 29; 29 mod 11 = 7; 10 - 7 = 3): only the sequence is wrong.
    assert tax_code_problems("0100000003") == ["tax_code sequence (digits 3 to 9) must not be all zeros"]
    assert tax_code_problems("0100000000") == [
        "tax_code sequence (digits 3 to 9) must not be all zeros",
        "tax_code check digit is 0, expected 3",
    ]


def test_remainder_zero_has_no_valid_check_digit() -> None:
    # 0·31 + 1·29 + ... chosen so the weighted sum is a multiple of 11: the formula would give 10.
    prefix = next(f"01{n:07d}" for n in range(1, 10_000) if tax_check_digit(f"01{n:07d}") is None)
    assert sum(w * int(d) for w, d in zip((31, 29, 23, 19, 17, 13, 7, 5, 3), prefix, strict=True)) % 11 == 0
    for check in "0123456789":
        assert tax_code_problems(prefix + check) == [f"tax_code {prefix}… cannot carry a valid check digit"]


def test_check_digit_formula() -> None:
    # Vinamilk: 0·31 + 3·29 + 0·23 + 0·19 + 5·17 + 8·13 + 8·7 + 5·5 + 6·3 = 375; 375 mod 11 = 1; 10 - 1 = 9.
    assert tax_check_digit("030058856") == 9


def test_normalise_tax_code() -> None:
    assert normalise_tax_code(" 0100109106-509 ") == "0100109106509"
    assert normalise_tax_code("0100109106") == "0100109106"


def test_province_lists() -> None:
    assert len(PROVINCES_2004) == 63
    assert len(PROVINCES_2025) == 34
    # Each merged province kept a predecessor's code.
    assert set(PROVINCES_2025) <= set(PROVINCES_2004)


@pytest.mark.parametrize(
    ("personal_id", "born", "sex"),
    [
        ("001085123456", date(1985, 4, 12), "male"),
        ("001185123456", date(1985, 4, 12), "female"),
        ("079205123456", date(2005, 6, 30), "male"),
        ("079305123456", date(2005, 6, 30), "female"),
        ("096099000001", date(1999, 12, 31), "male"),
    ],
)
def test_valid_personal_ids(personal_id: str, born: date, sex: str) -> None:
    assert personal_id_problems(personal_id, born, sex) == []
    assert personal_id_problems(personal_id) == []
    assert birth_year(personal_id) == born.year


@pytest.mark.parametrize(
    "personal_id", ["00108512345", "0010851234567", "00108512345a", "", "００1085123456"]
)
def test_malformed_personal_id(personal_id: str) -> None:
    assert personal_id_problems(personal_id) == ["personal_id must be 12 digits"]


@pytest.mark.parametrize("province", ["000", "003", "013", "097", "099"])
def test_unknown_province_is_refused(province: str) -> None:
    assert personal_id_problems(f"{province}085123456") == [
        f"personal_id starts with {province}, which is not a province of registration"
    ]


def test_country_code_of_a_birth_abroad_is_accepted() -> None:
    assert personal_id_problems("840085123456") == []


@pytest.mark.parametrize("prefix", ["900", "940", "999"])
def test_a_personal_id_beginning_with_9_is_not_a_country_code(prefix: str) -> None:
    """Decree 137/2015 Art. 13: the first three digits are the province (001-096) or the country of a birth
    registered abroad; country codes (ISO 3166-1 numeric [I]) end at 894, so none begins with 9."""
    problems = personal_id_problems(f"{prefix}085123456")
    assert len(problems) == 1
    assert "neither a province" in problems[0]


def test_year_and_sex_inconsistencies_are_each_reported() -> None:
    assert personal_id_problems("003185123456", date(1986, 1, 1), "male") == [
        "personal_id starts with 003, which is not a province of registration",
        "personal_id does not match the applicant's year of birth",
        "personal_id century-and-sex digit 1 is female, not male",
    ]


def test_century_digit_decides_the_century() -> None:
    assert personal_id_problems("001085123456", date(2085, 1, 1)) == [
        "personal_id does not match the applicant's year of birth"
    ]


def test_future_birth_year_without_a_date_of_birth() -> None:
    assert personal_id_problems("001430123456", today=date(2026, 1, 1)) == [
        "personal_id encodes birth year 2130, which is in the future"
    ]
    assert personal_id_problems("001226123456", today=date(2026, 1, 1)) == []
    assert personal_id_problems("001227123456", today=date(2026, 1, 1)) == [
        "personal_id encodes birth year 2027, which is in the future"
    ]


class Form(BaseModel):
    personal_id: PersonalId
    tax_code: TaxCode


def test_pydantic_types_validate_and_normalise() -> None:
    form = Form(personal_id="001085123456", tax_code="0100109106-509")
    assert form.tax_code == "0100109106509"

    with pytest.raises(ValidationError) as caught:
        Form(personal_id="003085123456", tax_code="0100109107")
    errors = {error["loc"][0]: error["msg"] for error in caught.value.errors()}
    assert "not a province of registration" in errors["personal_id"]
    assert "check digit is 7, expected 6" in errors["tax_code"]


def test_every_2004_province_has_a_2025_successor() -> None:
    assert set(SUCCESSORS_2025) == set(PROVINCES_2004)
    assert set(SUCCESSORS_2025.values()) == set(PROVINCES_2025)
    assert SUCCESSORS_2025["24"] == "24"  # Bắc Giang's code went to the merged Bắc Ninh
    assert SUCCESSORS_2025["27"] == "24"
