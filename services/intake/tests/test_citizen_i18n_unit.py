"""The citizen page's two languages: every word in both, with the same placeholders; labels for every
status the services send; Vietnamese unless asked otherwise; dates, times and amounts each language's way."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dossierbus_intake.citizen import pages
from dossierbus_intake.citizen.i18n import (
    CHANNEL_LABELS,
    DELIVERY_LABELS,
    EVENT_LABELS,
    MESSAGES,
    PAYMENT_STATE_LABELS,
    STATUS_LABELS,
    STEP_STATUS_LABELS,
    Translator,
    language_of,
)
from dossierbus_intake.entrypoints import citizen_page
from dossierbus_routing.domain.statuses import StepStatus
from dossierbus_shared.events import DossierStatus

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_is_in_both_languages_with_the_same_placeholders() -> None:
    assert MESSAGES["vi"].keys() == MESSAGES["en"].keys()
    for key, vietnamese in MESSAGES["vi"].items():
        assert placeholders(vietnamese) == placeholders(MESSAGES["en"][key]), key
        same_in_both = {"none", "checksum"}  # a dash; "SHA-256: <digest>"
        assert vietnamese != MESSAGES["en"][key] or key in same_in_both, f"{key} is not translated"


@pytest.mark.parametrize(
    "labels",
    [STATUS_LABELS, STEP_STATUS_LABELS, PAYMENT_STATE_LABELS, CHANNEL_LABELS, DELIVERY_LABELS, EVENT_LABELS],
)
def test_every_label_is_in_both_languages(labels: dict[str, dict[str, str]]) -> None:
    assert labels["vi"].keys() == labels["en"].keys()


def test_every_status_the_services_send_has_a_label() -> None:
    assert {status.value for status in DossierStatus} <= STATUS_LABELS["vi"].keys()
    assert "financial_obligation" in STATUS_LABELS["vi"]  # routing's state while fees are owed
    assert {status.value for status in StepStatus} <= STEP_STATUS_LABELS["vi"].keys()
    assert {"awaiting_payment", "pending", "paid", "refund_pending", "refund_refused", "refunded"} == set(
        PAYMENT_STATE_LABELS["vi"]
    )


def test_a_value_without_a_label_shows_as_itself() -> None:
    t = Translator("vi", HANOI)
    assert t.status("a_status_added_later") == "a_status_added_later"
    assert t.status(None) == "—"
    assert t.status("returned") == "Đã trả kết quả"
    assert Translator("en", HANOI).status("returned") == "Result returned"


@pytest.mark.parametrize(
    ("query", "cookie", "expected"),
    [
        (None, None, "vi"),
        ("en", None, "en"),
        (None, "en", "en"),
        ("vi", "en", "vi"),
        ("fr", "en", "en"),
        ("fr", None, "vi"),
        ("EN", None, "vi"),
    ],
)
def test_vietnamese_unless_the_switch_or_the_cookie_says_otherwise(
    query: str | None, cookie: str | None, expected: str
) -> None:
    assert language_of(query, cookie) == expected


def test_dates_times_and_amounts_are_written_each_languages_way() -> None:
    vi, en = Translator("vi", HANOI), Translator("en", HANOI)
    at = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)  # 15:30 in Hanoi
    assert vi.datetime(at) == "15:30 02/12/2026"
    assert en.datetime(at) == "2026-12-02 15:30"
    assert vi.date(date(2026, 12, 9)) == "09/12/2026"
    assert en.date(date(2026, 12, 9)) == "2026-12-09"
    assert vi.vnd(1_500_000) == "1.500.000 đồng"
    assert en.vnd(1_500_000) == "1,500,000 VND"
    assert vi.vnd(0) == "0 đồng"


def test_catalogue_names_fall_back_to_the_other_language_then_to_the_code() -> None:
    vi, en = Translator("vi", HANOI), Translator("en", HANOI)
    assert vi.name({"vi": "Đăng ký khai sinh", "en": "Birth registration"}, "1.001193") == "Đăng ký khai sinh"
    assert en.name({"vi": "Đăng ký khai sinh"}, "1.001193") == "Đăng ký khai sinh"
    assert en.name({}, "1.001193") == "1.001193"


def test_messages_fill_their_placeholders() -> None:
    assert Translator("en", HANOI)("dossier_title", code="X-1") == "Dossier X-1"
    assert Translator("vi", HANOI)("dossier_title", code="X-1") == "Hồ sơ X-1"


def test_every_message_is_used_by_the_page() -> None:
    """A word no page uses is a word nobody keeps translated."""
    sources = "".join(
        Path(module.__file__ or "").read_text(encoding="utf-8") for module in (pages, citizen_page)
    )
    used_by_the_translator = {"vnd"}
    unused = sorted(
        key
        for key in MESSAGES["vi"].keys() - used_by_the_translator
        if f'"{key}"' not in sources and f"'{key}'" not in sources
    )
    assert not unused
