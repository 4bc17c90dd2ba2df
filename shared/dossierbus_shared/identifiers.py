"""Vietnamese identifiers: the 12-digit personal ID and the enterprise code (= tax code, MST).

Each check returns one message per problem, so a caller can show them all at once; the pydantic
types `PersonalId` and `TaxCode` raise them as validation errors on the field that carries them.

Personal ID (Law on Identity 2023 Art. 12; Decree 137/2015 Art. 13; Circular 07/2016/TT-BCA):
`PPP G YY NNNNNN` = province of birth registration (`0` + the 2-digit code of Decision 124/2004, or a
country code for a birth registered abroad), century-and-sex digit (even male, odd female;
0/1 → 1900s, 2/3 → 2000s, 4/5 → 2100s, ...), last two digits of the birth year, six random digits.
There is no check digit, so validation is structure plus consistency with the date of birth and sex.

Enterprise / tax code: 10 digits = 2-digit tax-office province + 7-digit sequence (not all zero) +
check digit; a branch or dependent unit adds a 3-digit suffix 001-999, usually written `-NNN`.
Check digit = 10 - (Σ dᵢ·wᵢ mod 11) over the first nine digits with w = 31, 29, 23, 19, 17, 13, 7, 5, 3
(python-stdnum `vn.mst`). When the sum is divisible by 11 the formula gives 10, which is not a digit:
no valid code has those nine digits, and the number is refused.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator

PROVINCES_2004: dict[str, str] = {
    "01": "Hà Nội",
    "02": "Hà Giang",
    "04": "Cao Bằng",
    "06": "Bắc Kạn",
    "08": "Tuyên Quang",
    "10": "Lào Cai",
    "11": "Điện Biên",
    "12": "Lai Châu",
    "14": "Sơn La",
    "15": "Yên Bái",
    "17": "Hòa Bình",
    "19": "Thái Nguyên",
    "20": "Lạng Sơn",
    "22": "Quảng Ninh",
    "24": "Bắc Giang",
    "25": "Phú Thọ",
    "26": "Vĩnh Phúc",
    "27": "Bắc Ninh",
    "30": "Hải Dương",
    "31": "Hải Phòng",
    "33": "Hưng Yên",
    "34": "Thái Bình",
    "35": "Hà Nam",
    "36": "Nam Định",
    "37": "Ninh Bình",
    "38": "Thanh Hóa",
    "40": "Nghệ An",
    "42": "Hà Tĩnh",
    "44": "Quảng Bình",
    "45": "Quảng Trị",
    "46": "Thừa Thiên Huế",
    "48": "Đà Nẵng",
    "49": "Quảng Nam",
    "51": "Quảng Ngãi",
    "52": "Bình Định",
    "54": "Phú Yên",
    "56": "Khánh Hòa",
    "58": "Ninh Thuận",
    "60": "Bình Thuận",
    "62": "Kon Tum",
    "64": "Gia Lai",
    "66": "Đắk Lắk",
    "67": "Đắk Nông",
    "68": "Lâm Đồng",
    "70": "Bình Phước",
    "72": "Tây Ninh",
    "74": "Bình Dương",
    "75": "Đồng Nai",
    "77": "Bà Rịa - Vũng Tàu",
    "79": "TP. Hồ Chí Minh",
    "80": "Long An",
    "82": "Tiền Giang",
    "83": "Bến Tre",
    "84": "Trà Vinh",
    "86": "Vĩnh Long",
    "87": "Đồng Tháp",
    "89": "An Giang",
    "91": "Kiên Giang",
    "92": "Cần Thơ",
    "93": "Hậu Giang",
    "94": "Sóc Trăng",
    "95": "Bạc Liêu",
    "96": "Cà Mau",
}
"""The 63 provinces of Decision 124/2004/QĐ-TTg (until 30 Jun 2025): the codes inside personal IDs."""

PROVINCES_2025: dict[str, str] = {
    "01": "Hà Nội",
    "04": "Cao Bằng",
    "08": "Tuyên Quang",
    "11": "Điện Biên",
    "12": "Lai Châu",
    "14": "Sơn La",
    "15": "Lào Cai",
    "19": "Thái Nguyên",
    "20": "Lạng Sơn",
    "22": "Quảng Ninh",
    "24": "Bắc Ninh",
    "25": "Phú Thọ",
    "31": "Hải Phòng",
    "33": "Hưng Yên",
    "37": "Ninh Bình",
    "38": "Thanh Hóa",
    "40": "Nghệ An",
    "42": "Hà Tĩnh",
    "44": "Quảng Trị",
    "46": "Huế",
    "48": "Đà Nẵng",
    "51": "Quảng Ngãi",
    "52": "Gia Lai",
    "56": "Khánh Hòa",
    "66": "Đắk Lắk",
    "68": "Lâm Đồng",
    "75": "Đồng Nai",
    "79": "TP. Hồ Chí Minh",
    "80": "Tây Ninh",
    "82": "Đồng Tháp",
    "86": "Vĩnh Long",
    "91": "An Giang",
    "92": "Cần Thơ",
    "96": "Cà Mau",
}
"""The 34 provinces of Decision 19/2025/QĐ-TTg (from 1 Jul 2025): current addresses.

Each merged province kept the code of one predecessor, so every current code is also a 2004 code."""

LAST_COUNTRY_CODE = "894"
"""The highest ISO 3166-1 numeric country code (Zambia). A birth registered abroad puts a country code where
a province code would be [V: Decree 137/2015 Art. 13]; that the code is ISO 3166-1 numeric is [I]. No
country code begins with 9, so an ID beginning with 9 is refused rather than taken for one."""

TAX_CODE_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_TAX_CODE = re.compile(r"([0-9]{10})(?:-?([0-9]{3}))?")
_PERSONAL_ID = re.compile(r"[0-9]{12}")


def birth_year(personal_id: str) -> int:
    """The birth year a well-formed personal ID encodes."""
    return (int(personal_id[3]) // 2 + 19) * 100 + int(personal_id[4:6])


def personal_id_problems(
    personal_id: str,
    date_of_birth: date | None = None,
    sex: str | None = None,
    *,
    today: date | None = None,
) -> list[str]:
    """Why `personal_id` is not a valid personal ID (for this date of birth and sex); empty when valid."""
    if not _PERSONAL_ID.fullmatch(personal_id):
        return ["personal_id must be 12 digits"]
    problems = []
    province = personal_id[:3]
    if province[0] == "0":
        if province[1:] not in PROVINCES_2004:
            problems.append(f"personal_id starts with {province}, which is not a province of registration")
    elif province > LAST_COUNTRY_CODE:
        problems.append(
            f"personal_id starts with {province}: neither a province (001-096) nor a country code "
            f"(at most {LAST_COUNTRY_CODE})"
        )
    year = birth_year(personal_id)
    if date_of_birth is not None:
        if year != date_of_birth.year:
            problems.append("personal_id does not match the applicant's year of birth")
    elif year > (today or date.today()).year:
        problems.append(f"personal_id encodes birth year {year}, which is in the future")
    if sex is not None:
        encoded = "female" if int(personal_id[3]) % 2 else "male"
        if sex != encoded:
            problems.append(f"personal_id century-and-sex digit {personal_id[3]} is {encoded}, not {sex}")
    return problems


def tax_check_digit(first_nine: str) -> int | None:
    """The check digit of a tax code's first nine digits; None when no digit can be valid."""
    remainder = (
        sum(weight * int(digit) for weight, digit in zip(TAX_CODE_WEIGHTS, first_nine, strict=True)) % 11
    )
    return None if remainder == 0 else 10 - remainder


def normalise_tax_code(tax_code: str) -> str:
    """10 or 13 digits, without the dash before a branch suffix (the form the registry stores)."""
    return tax_code.strip().replace("-", "")


def tax_code_problems(tax_code: str) -> list[str]:
    """Why `tax_code` is not a valid enterprise/tax code; empty when valid."""
    match = _TAX_CODE.fullmatch(tax_code.strip())
    if match is None:
        return ["tax_code must be 10 digits, or 10 digits, an optional '-' and a 3-digit branch suffix"]
    code, branch = match.groups()
    problems = []
    if code[2:9] == "0000000":
        problems.append("tax_code sequence (digits 3 to 9) must not be all zeros")
    expected = tax_check_digit(code[:9])
    if expected is None:
        problems.append(f"tax_code {code[:9]}… cannot carry a valid check digit")
    elif int(code[9]) != expected:
        problems.append(f"tax_code check digit is {code[9]}, expected {expected}")
    if branch == "000":
        problems.append("tax_code branch suffix must be 001 to 999")
    return problems


def _valid_personal_id(value: str) -> str:
    problems = personal_id_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _valid_tax_code(value: str) -> str:
    problems = tax_code_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return normalise_tax_code(value)


PersonalId = Annotated[str, AfterValidator(_valid_personal_id)]
"""A field holding a structurally valid personal ID."""
TaxCode = Annotated[str, AfterValidator(_valid_tax_code)]
"""A field holding a valid enterprise/tax code, normalised to 10 or 13 digits."""

SUCCESSORS_2025: dict[str, str] = {
    **{code: code for code in PROVINCES_2025},
    "02": "08",
    "10": "15",
    "06": "19",
    "27": "24",
    "26": "25",
    "17": "25",
    "30": "31",
    "34": "33",
    "35": "37",
    "36": "37",
    "45": "44",
    "49": "48",
    "62": "51",
    "64": "52",
    "58": "56",
    "54": "66",
    "67": "68",
    "60": "68",
    "70": "75",
    "74": "79",
    "77": "79",
    "72": "80",
    "87": "82",
    "83": "86",
    "84": "86",
    "89": "91",
    "93": "92",
    "94": "92",
    "95": "96",
}
"""The 2025 province each 2004 province became part of (Resolution 202/2025/QH15).

Where codes coincide the province kept its code; e.g. 2004 code 15 (Yên Bái) is now 15 Lào Cai."""
