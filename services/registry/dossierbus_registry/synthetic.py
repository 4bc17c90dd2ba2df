"""Deterministic synthetic citizens for the reference population database (demo and tests).

Numbers follow the real structure: province of birth registration (3 digits), century-and-sex digit,
two-digit birth year, six random digits. The same seed always gives the same people, so a demo or a
test can submit dossiers for citizens the registry knows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from dossierbus_registry.domain import Citizen

SURNAMES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
]
MIDDLE = {
    "male": ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành"],
    "female": ["Thị", "Ngọc", "Thu", "Minh", "Thanh"],
}
GIVEN = {
    "male": ["An", "Bình", "Cường", "Dũng", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quang", "Sơn", "Tuấn"],
    "female": ["Anh", "Chi", "Dung", "Hà", "Hương", "Lan", "Linh", "Mai", "Ngân", "Oanh", "Thảo", "Yến"],
}
PROVINCES = {
    "001": "Hà Nội",
    "031": "Hải Phòng",
    "038": "Thanh Hóa",
    "048": "Đà Nẵng",
    "079": "TP. Hồ Chí Minh",
}
COMMUNES = {
    "001": [("00004", "phường Ba Đình"), ("00070", "phường Hoàn Kiếm")],
    "031": [("11311", "phường Hồng Bàng")],
    "038": [("14758", "phường Hạc Thành")],
    "048": [("20194", "phường Hải Châu")],
    "079": [("26734", "phường Sài Gòn")],
}


def personal_id(province: str, sex: str, birth: date, serial: int) -> str:
    century_digit = (birth.year // 100 - 19) * 2 + (1 if sex == "female" else 0)
    return f"{province}{century_digit}{birth.year % 100:02d}{serial:06d}"


def citizens(count: int, seed: int = 766) -> Iterator[Citizen]:
    rng = random.Random(seed)
    for serial in range(count):
        sex = rng.choice(["male", "female"])
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 70))
        province = rng.choice(list(PROVINCES))
        commune_code, commune = rng.choice(COMMUNES[province])
        yield Citizen(
            personal_id=personal_id(province, sex, birth, serial),
            full_name=f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN[sex])}",
            date_of_birth=birth,
            sex=sex,
            permanent_address=f"Số {rng.randint(1, 200)}, {commune}, {PROVINCES[province]}",
            province_code=province[1:],
            commune_code=commune_code,
        )
