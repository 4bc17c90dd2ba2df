"""Deterministic synthetic national data: citizens and enterprises for the reference databases.

Personal IDs follow the real structure (province of birth registration from the 63 provinces of
2004, century-and-sex digit, two-digit birth year, six digits) and are unique: the six digits are a
permutation of a counter kept per (province, century-and-sex, year). Residents live at real current
(2025) province and commune codes. Tax codes carry valid check digits; some enterprises have branches
(13-digit codes). The same seed always gives the same data, so a demo or a test submits dossiers for
citizens the registry knows.

Rows are produced as tuples in table column order, in batches, for PostgreSQL COPY: generating a
million citizens is a tight loop, not a million dataclasses.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from itertools import accumulate

from dossierbus_registry.admin_units import COMMUNES
from dossierbus_registry.domain import Citizen, Enterprise
from dossierbus_shared.identifiers import PROVINCES_2004, PROVINCES_2025, SUCCESSORS_2025, tax_check_digit

CitizenRow = tuple[str, str, date, str, str, str, str]
"""personal_id, full_name, date_of_birth, sex, permanent_address, province_code, commune_code."""
EnterpriseRow = tuple[str, str, str, str, str, str, date, str]
"""tax_code, name, legal_form, legal_representative_id, head_office_address, province_code,
registered_on, status."""

# Surname shares as commonly cited for Vietnam (Nguyễn about 38%, Trần 11%, Lê 9.5%, ...).
SURNAMES = {
    "Nguyễn": 38.4,
    "Trần": 11.0,
    "Lê": 9.5,
    "Phạm": 7.0,
    "Hoàng": 3.0,
    "Huỳnh": 2.1,
    "Phan": 4.5,
    "Vũ": 2.0,
    "Võ": 1.9,
    "Đặng": 2.1,
    "Bùi": 2.0,
    "Đỗ": 1.4,
    "Hồ": 1.3,
    "Ngô": 1.3,
    "Dương": 1.0,
    "Lý": 0.5,
    "Đinh": 0.5,
    "Trương": 0.5,
    "Mai": 0.4,
    "Lâm": 0.4,
}
MIDDLE = {
    "male": ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Công", "Xuân", "Hoàng", "Gia", "Tuấn", "Đình"],
    "female": ["Thị", "Ngọc", "Thu", "Minh", "Thanh", "Thùy", "Bảo", "Khánh", "Phương", "Hồng", "Mai", "Kim"],
}
GIVEN = {
    "male": [
        "An",
        "Bình",
        "Cường",
        "Dũng",
        "Hùng",
        "Khoa",
        "Long",
        "Nam",
        "Phúc",
        "Quang",
        "Sơn",
        "Tuấn",
        "Huy",
        "Khang",
        "Bảo",
        "Đạt",
        "Hiếu",
        "Kiên",
        "Lâm",
        "Minh",
        "Nghĩa",
        "Phong",
        "Thắng",
        "Trung",
        "Vinh",
        "Việt",
        "Duy",
        "Hải",
        "Hoàng",
        "Tâm",
        "Thịnh",
        "Tùng",
        "Hưng",
        "Lộc",
        "Tài",
        "Quân",
    ],
    "female": [
        "Anh",
        "Chi",
        "Dung",
        "Hà",
        "Hương",
        "Lan",
        "Linh",
        "Mai",
        "Ngân",
        "Oanh",
        "Thảo",
        "Yến",
        "Trang",
        "Hằng",
        "Hoa",
        "Huyền",
        "Nhung",
        "Phương",
        "Quỳnh",
        "Thu",
        "Trâm",
        "Uyên",
        "Vy",
        "Nhi",
        "Giang",
        "Hạnh",
        "Loan",
        "My",
        "Nga",
        "Tâm",
        "Thúy",
        "Vân",
        "Xuân",
        "Diệp",
        "Ly",
        "Ánh",
    ],
}
STREETS = [
    "đường Trần Hưng Đạo",
    "đường Lê Lợi",
    "đường Nguyễn Huệ",
    "đường Hai Bà Trưng",
    "đường Lý Thường Kiệt",
    "đường Quang Trung",
    "đường Nguyễn Trãi",
    "đường Lê Duẩn",
    "đường Điện Biên Phủ",
    "đường Hùng Vương",
    "đường Phan Chu Trinh",
    "đường Võ Thị Sáu",
    "thôn Đông",
    "thôn Trung",
    "ấp 3",
]
LEGAL_FORMS = {
    "Công ty TNHH một thành viên": 35,
    "Công ty TNHH hai thành viên trở lên": 25,
    "Công ty cổ phần": 30,
    "Doanh nghiệp tư nhân": 9,
    "Công ty hợp danh": 1,
}
TRADES = [
    "Thương mại",
    "Dịch vụ",
    "Xây dựng",
    "Sản xuất",
    "Đầu tư",
    "Công nghệ",
    "Vận tải",
    "Du lịch",
    "Thực phẩm",
    "Dược phẩm",
    "Xuất nhập khẩu",
    "Nông nghiệp",
    "May mặc",
    "Phần mềm",
    "Tư vấn",
]
BRANDS = [
    "Minh Phát",
    "Hoàng Long",
    "Thành Công",
    "An Khang",
    "Phú Thịnh",
    "Việt Tiến",
    "Sao Mai",
    "Hưng Thịnh",
    "Đại Nam",
    "Tân Phú",
    "Bình Minh",
    "Sen Vàng",
    "Trường Sơn",
    "Hồng Hà",
    "Kim Ngân",
    "Á Châu",
    "Thăng Long",
    "Sông Hàn",
    "Cửu Long",
    "Bến Thành",
    "Nam Việt",
    "Tiến Đạt",
    "Quang Minh",
    "Hòa Bình",
]
STATUSES = {"active": 85, "suspended": 7, "dissolved": 8}
TAX_PREFIXES = {"01": "01", "79": "03"}
"""Head-office province → the tax office's 2-digit prefix seen on published codes (Hà Nội, TP.HCM)."""

FIRST_BIRTH = date(1935, 1, 1)
LAST_BIRTH = date(2025, 12, 31)
ADULT_BEFORE = date(2007, 1, 1)
SERIAL_STEP = 387_433
"""Prime to 10⁶, so `counter·step mod 10⁶` visits each six-digit serial once."""
SEQUENCE_STEP = 7_654_321
"""Prime to 10⁷: the same for the 7-digit sequence of tax codes."""
BATCH = 10_000


DEVELOPMENT_APPLICANTS: tuple[CitizenRow, ...] = (
    # The applicant of the README's examples: a mother registering her child's birth.
    ("001190000001", "Nguyễn Thị Lan", date(1990, 4, 2), "female",
     "Số 12, phố Hàng Bài, phường Hoàn Kiếm, Hà Nội", "01", "00070"),
    # The applicant of the agency examples; submitted under another name, his dossier is rejected.
    ("001090000001", "Nguyễn Văn An", date(1990, 1, 1), "male",
     "Số 5, phố Đội Cấn, phường Ba Đình, Hà Nội", "01", "00004"),
    # Lan's father: the deceased in the death-registration examples (`deceased_personal_id`).
    ("001048000003", "Nguyễn Văn Hùng", date(1948, 3, 15), "male",
     "Số 12, phố Hàng Bài, phường Hoàn Kiếm, Hà Nội", "01", "00070"),
)  # fmt: skip
"""Named citizens the docs use, seeded with every synthetic population (docs/registry.md lists them)."""


def personal_id(province: str, sex: str, birth: date, serial: int) -> str:
    century_digit = (birth.year // 100 - 19) * 2 + (1 if sex == "female" else 0)
    return f"{province}{century_digit}{birth.year % 100:02d}{serial:06d}"


def _cumulative(weights: Mapping[str, float]) -> tuple[list[str], list[float]]:
    return list(weights), list(accumulate(weights.values()))


def citizen_rows(count: int, seed: int = 766, batch: int = BATCH) -> Iterator[list[CitizenRow]]:
    """`count` citizens in batches of table rows."""
    rng = random.Random(seed)
    surnames, surname_weights = _cumulative(SURNAMES)
    birth_provinces = list(PROVINCES_2004)
    living = list(COMMUNES)
    first, span = FIRST_BIRTH.toordinal(), LAST_BIRTH.toordinal() - FIRST_BIRTH.toordinal() + 1
    counters: dict[str, int] = {}
    offset = rng.randrange(1_000_000)
    rand = rng.random
    surname_total = surname_weights[-1]
    made = 0
    while made < count:
        size = min(batch, count - made)
        rows: list[CitizenRow] = []
        for _ in range(size):
            surname = surnames[bisect(surname_weights, rand() * surname_total)]
            sex = "female" if rand() < 0.5 else "male"
            birth = date.fromordinal(first + int(rand() * span))
            born_in = birth_provinces[int(rand() * 63)]
            year = birth.year
            century_and_sex = (year // 100 - 19) * 2 + (sex == "female")
            prefix = f"0{born_in}{century_and_sex}{year % 100:02d}"
            counter = counters.get(prefix, 0)
            if counter == 1_000_000:
                raise OverflowError(f"more than a million citizens with personal ID prefix {prefix}")
            counters[prefix] = counter + 1
            # Most people live in the province their birth province became; the rest moved to a city.
            province = SUCCESSORS_2025[born_in]
            if province not in COMMUNES or rand() < 0.25:
                province = living[int(rand() * len(living))]
            communes = COMMUNES[province]
            commune_code, commune = communes[int(rand() * len(communes))]
            middle, given = MIDDLE[sex], GIVEN[sex]
            rows.append(
                (
                    f"{prefix}{(counter * SERIAL_STEP + offset + int(prefix) * 7919) % 1_000_000:06d}",
                    f"{surname} {middle[int(rand() * len(middle))]} {given[int(rand() * len(given))]}",
                    birth,
                    sex,
                    f"Số {1 + int(rand() * 300)}, {STREETS[int(rand() * len(STREETS))]}, {commune}, "
                    f"{PROVINCES_2025[province]}",
                    province,
                    commune_code,
                )
            )
        made += size
        yield rows


def citizens(count: int, seed: int = 766) -> Iterator[Citizen]:
    for rows in citizen_rows(count, seed):
        for row in rows:
            yield Citizen(*row)


def enterprise_rows(
    count: int, representatives: Sequence[str], seed: int = 766, batch: int = BATCH
) -> Iterator[list[EnterpriseRow]]:
    """`count` enterprises (head offices; one in ten also has one to three branches, extra rows)
    represented by citizens drawn from `representatives`."""
    if not representatives:
        raise ValueError("enterprises need citizens to represent them")
    rng = random.Random(seed)
    rand = rng.random
    forms, form_weights = _cumulative(LEGAL_FORMS)
    statuses, status_weights = _cumulative(STATUSES)
    head_offices = list(TAX_PREFIXES)
    counters = dict.fromkeys(TAX_PREFIXES.values(), 0)
    offset = rng.randrange(10_000_000)
    first, span = date(1995, 1, 1).toordinal(), 30 * 365
    made = 0
    while made < count:
        size = min(batch, count - made)
        rows: list[EnterpriseRow] = []
        for _ in range(size):
            # One draw after another, row by row: the first n rows do not depend on the count asked for.
            form = forms[bisect(form_weights, rand() * form_weights[-1])]
            status = statuses[bisect(status_weights, rand() * status_weights[-1])]
            province = head_offices[int(rand() * len(head_offices))]
            tax_code = _next_tax_code(TAX_PREFIXES[province], counters, offset)
            name = f"{form} {TRADES[int(rand() * len(TRADES))]} {BRANDS[int(rand() * len(BRANDS))]}"
            representative = representatives[int(rand() * len(representatives))]
            communes = COMMUNES[province]
            registered = date.fromordinal(first + int(rand() * span))
            rows.append(
                (
                    tax_code,
                    name,
                    form,
                    representative,
                    _address(rand, communes, province),
                    province,
                    registered,
                    status,
                )
            )
            if rand() < 0.1:
                for branch in range(1, 2 + int(rand() * 3)):
                    where = head_offices[int(rand() * len(head_offices))]
                    rows.append(
                        (
                            f"{tax_code}{branch:03d}",
                            f"Chi nhánh {branch} - {name}",
                            form,
                            representative,
                            _address(rand, COMMUNES[where], where),
                            where,
                            registered,
                            status,
                        )
                    )
        made += size
        yield rows


def enterprises(count: int, representatives: Sequence[str], seed: int = 766) -> Iterator[Enterprise]:
    for rows in enterprise_rows(count, representatives, seed):
        for row in rows:
            yield Enterprise(*row)


def _next_tax_code(prefix: str, counters: dict[str, int], offset: int) -> str:
    while True:
        counter = counters[prefix]
        if counter == 10_000_000:
            raise OverflowError(f"no tax codes left with prefix {prefix}")
        counters[prefix] = counter + 1
        sequence = (counter * SEQUENCE_STEP + offset) % 10_000_000
        # About one prefix in eleven has no valid check digit; an all-zero sequence is never issued.
        check = tax_check_digit(f"{prefix}{sequence:07d}")
        if sequence and check is not None:
            return f"{prefix}{sequence:07d}{check}"


def _address(rand: Callable[[], float], communes: list[tuple[str, str]], province: str) -> str:
    _code, commune = communes[int(rand() * len(communes))]
    street = STREETS[int(rand() * len(STREETS))]
    return f"Số {1 + int(rand() * 300)}, {street}, {commune}, {PROVINCES_2025[province]}"
