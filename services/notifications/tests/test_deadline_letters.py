"""The letters about a dossier's deadlines: the apology and new appointment when an agency extends the due
date (Circular 03/2025 form 04), the notice of a stop with its legal basis (form 05), the supplement
request with its last day, and the automatic refusal once that day passed; each in Vietnamese with English
below, or in the applicant's language alone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dossierbus_notifications.domain.notifying import Notifier
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_notifications.messages import Templates
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierDeadlineExtended,
    DossierStatus,
    DossierStatusChanged,
    Event,
)

CODE = "000.00.01.H26-260302-0007"
BIRTH = "1.001193"
DOSSIER = uuid.UUID("4b0c3b57-1f2e-4a43-9d55-8d0f6c1b2a10")
NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
notifier = Notifier(Templates())


def recipient(language: str | None = None) -> Recipient:
    return Recipient(DOSSIER, CODE, "001085123456", "an@example.vn", None, language, BIRTH, "000.00.01.H26")


def told(event: Event, language: str | None = None) -> tuple[str, str]:
    """The subject and body of the e-mail the applicant gets."""
    [email] = [
        n
        for n in notifier.notifications(Envelope(event, source="urn:dossierbus:routing"), recipient(language))
        if n.channel == "email"
    ]
    return email.subject, email.body


def changed(status: DossierStatus, previous: DossierStatus, **extra: Any) -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=DOSSIER,
        dossier_code=CODE,
        procedure_code=BIRTH,
        previous_status=previous,
        status=status,
        agency_code="justice-hanoi",
        step="birth-registration",
        due_date=date(2026, 3, 6),
        changed_at=NOW,
        **extra,
    )


def test_an_extension_brings_the_apology_and_the_new_appointment() -> None:
    extended = DossierDeadlineExtended(
        dossier_id=DOSSIER,
        dossier_code=CODE,
        procedure_code=BIRTH,
        agency_code="justice-hanoi",
        step="birth-registration",
        status=DossierStatus.PROCESSING,
        previous_due_date=date(2026, 3, 6),
        due_date=date(2026, 3, 11),
        original_due_date=date(2026, 3, 6),
        reason="cần xác minh thêm với cơ quan khác",
        extensions=1,
        extended_at=NOW,
    )
    subject, body = told(extended)

    assert subject == f"[{CODE}] Xin lỗi và hẹn lại ngày trả kết quả / Apology and new appointment date"
    assert "Mẫu 04, Thông tư 03/2025/TT-VPCP" in body and "form 04, Circular 03/2025/TT-VPCP" in body
    assert "ngày hẹn trả kết quả là 06/03/2026" in body
    assert "thành thật xin lỗi và sẽ trả kết quả vào ngày 11/03/2026" in body
    assert "was due on 2026-03-06" in body and "will return the result on 2026-03-11" in body
    assert body.count("cần xác minh thêm với cơ quan khác") == 2
    assert body.index("xin lỗi") < body.index("We are sorry")

    english_subject, english = told(extended, "en")
    assert "Xin lỗi" not in english_subject and "xin lỗi" not in english


def test_a_stop_is_the_form_05_notice_with_its_legal_basis() -> None:
    stop = changed(
        DossierStatus.REJECTED,
        DossierStatus.PROCESSING,
        national_status=8,
        legal_basis="Điều 16 Luật Hộ tịch 2014",
        note="stopped under Điều 16 Luật Hộ tịch 2014: không đủ điều kiện",
    )
    subject, body = told(stop)

    assert subject == (f"[{CODE}] Thông báo dừng giải quyết hồ sơ / Processing of your dossier was stopped")
    assert "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ (Mẫu 05, Thông tư 03/2025/TT-VPCP)" in body
    assert "Căn cứ pháp lý: Điều 16 Luật Hộ tịch 2014." in body
    assert "Legal basis: Điều 16 Luật Hộ tịch 2014." in body


def test_a_refusal_at_the_counter_is_still_not_accepted() -> None:
    refused = changed(DossierStatus.REJECTED, DossierStatus.RECEIVED, national_status=3)
    subject, body = told(refused, "en")
    assert subject == f"[{CODE}] Your dossier was not accepted"
    assert "form 05" not in body


def test_a_supplement_request_names_its_last_day() -> None:
    request = changed(
        DossierStatus.SUPPLEMENT_REQUESTED,
        DossierStatus.PROCESSING,
        note="Thiếu giấy chứng sinh",
        supplement_due_date=date(2026, 3, 11),
    )
    _, body = told(request)
    assert "Hạn bổ sung: hết ngày 11/03/2026" in body
    assert "Please send them by the end of 2026-03-11" in body

    _, without = told(changed(DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.PROCESSING), "en")
    assert "Please send them" not in without


@pytest.mark.parametrize(
    ("language", "expected"),
    [("vi", "không được nộp trước hết ngày 04/03/2026"), ("en", "did not arrive by the end of 2026-03-04")],
)
def test_the_automatic_refusal_says_the_day_was_missed(language: str, expected: str) -> None:
    refusal = changed(
        DossierStatus.REJECTED,
        DossierStatus.SUPPLEMENT_REQUESTED,
        national_status=8,
        supplement_due_date=date(2026, 3, 4),
        note="refused automatically: the supplement asked for at step 'birth-registration' was not received",
    )
    subject, body = told(refusal, language)
    assert expected in body
    assert ("không bổ sung đúng hạn" if language == "vi" else "not supplemented in time") in subject
