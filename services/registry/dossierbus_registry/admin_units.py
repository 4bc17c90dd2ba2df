"""A small, versioned extract of the current administrative units, for synthetic residents' addresses.

Province codes are in `dossierbus_shared.identifiers`; these are some real commune-level codes
(5 digits) of Decision 19/2025/QĐ-TTg for a few provinces. Synthetic citizens live only here.
"""

from __future__ import annotations

VERSION = "QĐ 19/2025/QĐ-TTg (from 2025-07-01)"

COMMUNES: dict[str, list[tuple[str, str]]] = {
    "01": [
        ("00004", "phường Ba Đình"),
        ("00008", "phường Ngọc Hà"),
        ("00025", "phường Giảng Võ"),
        ("00070", "phường Hoàn Kiếm"),
        ("00082", "phường Cửa Nam"),
        ("00103", "phường Tây Hồ"),
        ("00145", "phường Long Biên"),
        ("00166", "phường Cầu Giấy"),
        ("00235", "phường Đống Đa"),
        ("00256", "phường Hai Bà Trưng"),
        ("00331", "phường Hoàng Mai"),
        ("00367", "phường Thanh Xuân"),
        ("09556", "phường Hà Đông"),
        ("00454", "xã Đông Anh"),
        ("00565", "xã Gia Lâm"),
        ("09700", "xã Ba Vì"),
    ],
    "31": [
        ("10525", "phường Hải Dương"),
        ("11311", "phường Hồng Bàng"),
        ("11329", "phường Ngô Quyền"),
        ("11383", "phường Lê Chân"),
        ("11413", "phường Hải An"),
        ("11443", "phường Kiến An"),
        ("11455", "phường Đồ Sơn"),
        ("11755", "xã Tiên Lãng"),
    ],
    "38": [
        ("14758", "phường Hàm Rồng"),
        ("14797", "phường Hạc Thành"),
        ("14812", "phường Bỉm Sơn"),
        ("16531", "phường Sầm Sơn"),
        ("16654", "phường Nghi Sơn"),
        ("15499", "xã Thọ Xuân"),
    ],
    "48": [
        ("20194", "phường Hải Vân"),
        ("20209", "phường Thanh Khê"),
        ("20242", "phường Hải Châu"),
        ("20263", "phường Sơn Trà"),
        ("20285", "phường Ngũ Hành Sơn"),
        ("20341", "phường Tam Kỳ"),
        ("20410", "phường Hội An"),
        ("20320", "xã Hòa Vang"),
    ],
    "79": [
        ("25747", "phường Thủ Dầu Một"),
        ("26506", "phường Vũng Tàu"),
        ("26740", "phường Sài Gòn"),
        ("26743", "phường Bến Thành"),
        ("26824", "phường Thủ Đức"),
        ("26884", "phường Gò Vấp"),
        ("26929", "phường Bình Thạnh"),
        ("27004", "phường Tân Bình"),
        ("27073", "phường Phú Nhuận"),
        ("27343", "phường Chợ Lớn"),
        ("27553", "xã Củ Chi"),
        ("27664", "xã Cần Giờ"),
    ],
    "92": [
        ("31120", "phường Cái Khế"),
        ("31135", "phường Ninh Kiều"),
        ("31168", "phường Bình Thủy"),
        ("31186", "phường Cái Răng"),
        ("31321", "phường Vị Thanh"),
        ("31507", "phường Sóc Trăng"),
        ("31299", "xã Phong Điền"),
    ],
}
"""Current province code → some of its communes (code, name)."""
