"""The letters about a dossier's fees: the notice of the fees due (amount, each fee line, how to pay on the
citizen page), the payment received with its receipt number, and the refund; in Vietnamese with English
below, or in the applicant's language alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dossierbus_notifications.domain.notifying import Notifier, template_key
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_notifications.messages import DEFAULT_CITIZEN_PAGE_URL, Templates, format_vnd
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierPaid, DossierPaymentRequested, DossierRefunded, Event, Fee

CODE = "000.00.01.H26-260302-0009"
RECORD = "2.001417"
DOSSIER = uuid.UUID("4b0c3b57-1f2e-4a43-9d55-8d0f6c1b2a11")
NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
PAGE = "https://dichvucong.hanoi.gov.vn/cong-dan"


def recipient(language: str | None = None, phone: str | None = None) -> Recipient:
    return Recipient(DOSSIER, CODE, "001085123456", "an@example.vn", phone, language, RECORD, "000.00.01.H26")


def told(event: Event, language: str | None = None, *, channel: str = "email") -> tuple[str, str]:
    notifier = Notifier(Templates(citizen_page_url=PAGE), sms=True)
    envelope = Envelope(event, source="urn:dossierbus:routing")
    [message] = [
        n for n in notifier.notifications(envelope, recipient(language, "0912345678")) if n.channel == channel
    ]
    return message.subject, message.body


REQUESTED = DossierPaymentRequested(
    dossier_id=DOSSIER,
    dossier_code=CODE,
    procedure_code=RECORD,
    amount_vnd=205_000,
    fees=[
        Fee(step="criminal-record", agency_code="justice-hanoi", fee_vnd=200_000),
        Fee(step="certified-copy", agency_code="justice-hanoi", fee_vnd=5_000),
    ],
    requested_at=NOW,
)
PAID = DossierPaid(
    dossier_id=DOSSIER,
    dossier_code=CODE,
    amount_vnd=205_000,
    receipt_number="BL-2026-000123",
    payment_reference="PAY-77",
    paid_at=NOW,
)
REFUNDED = DossierRefunded(
    dossier_id=DOSSIER,
    dossier_code=CODE,
    amount_vnd=205_000,
    receipt_number="BL-2026-000123",
    refund_reference="RF-9",
    reason="hồ sơ bị từ chối trước khi xử lý",
    refunded_at=NOW,
)


def test_amounts_are_written_as_each_language_writes_them() -> None:
    assert format_vnd(1_205_000, "vi") == "1.205.000 đồng"
    assert format_vnd(1_205_000, "en") == "VND 1,205,000"


def test_the_fees_due_notice_gives_the_amount_each_fee_and_how_to_pay() -> None:
    assert template_key(Envelope(REQUESTED, source="urn:dossierbus:routing")) == "dossier.payment-requested"
    subject, body = told(REQUESTED)

    assert subject == f"[{CODE}] Thông báo nộp phí, lệ phí / Fees to pay"
    assert "THÔNG BÁO THỰC HIỆN NGHĨA VỤ TÀI CHÍNH" in body and "NOTICE OF FEES DUE" in body
    assert "tổng cộng 205.000 đồng" in body and "VND 205,000 in all" in body
    assert "- Cấp Phiếu lý lịch tư pháp (Phòng Tư pháp — UBND phường (Hà Nội)): 200.000 đồng" in body
    assert (
        "- Copy of the certificate (Civil status office, Hanoi commune People's Committee): VND 5,000" in body
    )
    assert body.count(PAGE) == 2 and f"open dossier {CODE}" in body
    assert "does not count against the dossier's processing time" in body


def test_the_fees_due_notice_goes_by_sms_too_and_in_one_language_when_asked() -> None:
    _, sms = told(REQUESTED, channel="sms")
    assert "vui long nop phi, le phi 205.000 đồng" in sms and PAGE in sms

    subject, body = told(REQUESTED, "en")
    assert subject == f"[{CODE}] Fees to pay" and "đồng" not in body


def test_the_payment_received_gives_the_receipt_number() -> None:
    subject, body = told(PAID)

    assert subject == f"[{CODE}] Đã nhận phí, lệ phí / Fees received"
    assert "Biên lai điện tử số BL-2026-000123 (mã giao dịch PAY-77)" in body
    assert "Electronic receipt number BL-2026-000123 (transaction PAY-77)" in body
    assert "205.000 đồng" in body and "VND 205,000" in body


def test_the_refund_gives_the_amount_the_receipt_and_the_reason() -> None:
    subject, body = told(REFUNDED)

    assert subject == f"[{CODE}] Hoàn trả phí, lệ phí / Fees refunded"
    assert "biên lai số BL-2026-000123" in body and "(mã hoàn trả RF-9)" in body
    assert "Lý do: hồ sơ bị từ chối trước khi xử lý" in body
    assert "refunded to you, VND 205,000 (refund RF-9)" in body


def test_the_citizen_page_is_a_setting_with_a_local_default() -> None:
    assert NotificationsSettings.model_fields["citizen_page_url"].default == DEFAULT_CITIZEN_PAGE_URL
    assert DEFAULT_CITIZEN_PAGE_URL.startswith("http://127.0.0.1:8001/")
    envelope = Envelope(REQUESTED, source="urn:dossierbus:routing")
    [email] = Notifier(Templates()).notifications(envelope, recipient("vi"))
    assert DEFAULT_CITIZEN_PAGE_URL in email.body
