"""The citizen page's words, in Vietnamese (the default) and English.

Every message has both languages (a unit test holds them to the same keys and placeholders). Labels of
statuses, steps' statuses, payment states and channels fall back to the value itself, so a status another
service adds later shows as its name rather than breaking the page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

Language = Literal["vi", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("vi", "en")
DEFAULT_LANGUAGE: Final[Language] = "vi"
LANGUAGE_NAMES: Final[dict[Language, str]] = {"vi": "Tiếng Việt", "en": "English"}

MESSAGES: Final[dict[Language, dict[str, str]]] = {
    "vi": {
        "site": "Cổng dịch vụ công — Hồ sơ của tôi",
        "skip": "Bỏ qua, đến nội dung chính",
        "language": "Ngôn ngữ",
        "signed_in_as": "Đã đăng nhập: công dân có số định danh {personal_id}",
        "sign_out": "Đăng xuất",
        "sign_in_title": "Tra cứu hồ sơ của tôi",
        "sign_in_intro": "Đăng nhập bằng tài khoản định danh điện tử để xem các hồ sơ bạn đã nộp: "
        "trạng thái, các bước xử lý, ngày hẹn trả, phí và lệ phí, kết quả và các thông báo đã gửi cho bạn.",
        "sign_in": "Đăng nhập bằng định danh điện tử",
        "no_eid_title": "Chưa có tài khoản định danh điện tử?",
        "no_eid_intro": "Bạn vẫn theo dõi được từng hồ sơ bằng mã hồ sơ và mã tra cứu ghi trên giấy tiếp "
        "nhận hồ sơ hoặc trong thư điện tử xác nhận. Mã tra cứu chỉ cho xem trạng thái và ngày hẹn trả; "
        "muốn xem đầy đủ, hãy đăng nhập.",
        "dossier_code": "Mã hồ sơ",
        "tracking_secret": "Mã tra cứu",
        "track": "Tra cứu",
        "track_not_found": "Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này.",
        "track_title": "Hồ sơ {code}",
        "track_hint": "Đây là những gì mã tra cứu cho xem. Đăng nhập bằng định danh điện tử để xem các bước "
        "xử lý, phí, kết quả và thông báo.",
        "session_ended": "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.",
        "sign_in_failed": "Không đăng nhập được: hệ thống định danh điện tử không xác nhận việc đăng nhập. "
        "Vui lòng thử lại.",
        "sign_in_expired": "Phiên đăng nhập đã quá hạn hoặc được bắt đầu ở trình duyệt khác. Vui lòng đăng "
        "nhập lại.",
        "forbidden": "Yêu cầu này không đến từ trang của bạn. Vui lòng quay lại trang và thử lại.",
        "sign_in_unavailable": "Chức năng đăng nhập chưa được cấu hình trên hệ thống này.",
        "provider_unavailable": "Hệ thống định danh điện tử đang không phản hồi. Vui lòng thử lại sau.",
        "my_dossiers": "Hồ sơ của tôi",
        "my_dossiers_caption": "Các hồ sơ bạn đã nộp, mới nhất trước",
        "no_dossiers": "Bạn chưa nộp hồ sơ nào.",
        "more_dossiers": "Chỉ hiển thị {count} hồ sơ mới nhất.",
        "procedure": "Thủ tục",
        "submitted_at": "Ngày nộp",
        "appointment_date": "Ngày hẹn trả",
        "status": "Trạng thái",
        "all_dossiers": "Tất cả hồ sơ của tôi",
        "dossier_title": "Hồ sơ {code}",
        "due_date": "Hạn giải quyết",
        "original_due_date": "Hạn ban đầu: {date}",
        "provisional": "(tạm tính: lịch nghỉ của năm chưa được công bố)",
        "agency": "Cơ quan đang xử lý",
        "overdue": "Hồ sơ đã quá hạn giải quyết.",
        "paused": "Thời hạn giải quyết đang tạm dừng từ {date} để chờ bạn bổ sung hồ sơ.",
        "not_routed": "Hồ sơ đang được kiểm tra thông tin với cơ sở dữ liệu quốc gia; các bước xử lý sẽ "
        "hiện ở đây sau đó.",
        "routing_unavailable": "Hiện không xem được thông tin xử lý hồ sơ. Vui lòng thử lại sau.",
        "rejection_reasons": "Lý do không xác minh được thông tin",
        "steps": "Các bước xử lý",
        "step": "Bước",
        "step_status": "Trạng thái",
        "supplement_due": "Hạn bổ sung",
        "updated_at": "Cập nhật",
        "no_steps": "Chưa có bước xử lý nào được giao.",
        "fees": "Phí, lệ phí và thanh toán",
        "no_fees": "Hồ sơ này không phải nộp phí, lệ phí.",
        "fees_unavailable": "Hiện không xem được thông tin phí, lệ phí. Vui lòng thử lại sau.",
        "fee_item": "Khoản",
        "fee_amount": "Số tiền",
        "fee_total": "Tổng cộng",
        "payment_state": "Tình trạng thanh toán",
        "pay": "Thanh toán trực tuyến",
        "pay_failed": "Chưa mở được thanh toán: {reason}",
        "receipt": "Biên lai điện tử số {number}, {amount}, lập lúc {at}",
        "refund": "Đã hoàn {amount} (mã {reference}) lúc {at}: {reason}",
        "results": "Kết quả",
        "no_results": "Chưa có kết quả.",
        "checksum": "SHA-256: {sha256}",
        "notifications": "Thông báo đã gửi cho bạn",
        "no_notifications": "Chưa có thông báo nào.",
        "notifications_unavailable": "Hiện không xem được các thông báo. Vui lòng thử lại sau.",
        "subject": "Nội dung",
        "channel": "Kênh",
        "recipient": "Gửi đến",
        "delivery": "Tình trạng gửi",
        "sent_at": "Thời gian",
        "history": "Lịch sử xử lý",
        "at": "Thời gian",
        "note": "Ghi chú",
        "not_found_title": "Không tìm thấy hồ sơ",
        "not_found": "Không có hồ sơ {code} trong các hồ sơ của bạn.",
        "none": "—",
        "vnd": "{amount} đồng",
    },
    "en": {
        "site": "Public services portal — My dossiers",
        "skip": "Skip to main content",
        "language": "Language",
        "signed_in_as": "Signed in: the citizen with personal ID {personal_id}",
        "sign_out": "Sign out",
        "sign_in_title": "Follow my dossiers",
        "sign_in_intro": "Sign in with your electronic ID to see the dossiers you submitted: their status, "
        "processing steps, appointment date, fees, results and the notifications sent to you.",
        "sign_in": "Sign in with your electronic ID",
        "no_eid_title": "No electronic ID?",
        "no_eid_intro": "You can still follow each dossier with its dossier code and the tracking code "
        "printed on its receipt or written in the confirmation e-mail. The tracking code shows the status "
        "and appointment date only; sign in to see everything.",
        "dossier_code": "Dossier code",
        "tracking_secret": "Tracking code",
        "track": "Look up",
        "track_not_found": "No dossier has this dossier code and tracking code.",
        "track_title": "Dossier {code}",
        "track_hint": "This is what the tracking code shows. Sign in with your electronic ID to see the "
        "processing steps, fees, results and notifications.",
        "session_ended": "Your session has ended. Please sign in again.",
        "sign_in_failed": "Signing in failed: the electronic ID service did not confirm it. Please try "
        "again.",
        "sign_in_expired": "The sign-in took too long or was started in another browser. Please sign in "
        "again.",
        "forbidden": "This request did not come from your page. Please go back to the page and try again.",
        "sign_in_unavailable": "Signing in is not set up on this system.",
        "provider_unavailable": "The electronic ID service is not answering. Please try again later.",
        "my_dossiers": "My dossiers",
        "my_dossiers_caption": "The dossiers you submitted, newest first",
        "no_dossiers": "You have not submitted any dossier.",
        "more_dossiers": "Only the {count} newest dossiers are shown.",
        "procedure": "Procedure",
        "submitted_at": "Submitted",
        "appointment_date": "Appointment date",
        "status": "Status",
        "all_dossiers": "All my dossiers",
        "dossier_title": "Dossier {code}",
        "due_date": "Due date",
        "original_due_date": "Originally due: {date}",
        "provisional": "(provisional: the year's days off are not announced yet)",
        "agency": "Handled by",
        "overdue": "The dossier is past its due date.",
        "paused": "The time limit is paused since {date}, waiting for your supplement.",
        "not_routed": "The dossier's details are being checked against the national databases; its "
        "processing steps will show here afterwards.",
        "routing_unavailable": "The dossier's processing details cannot be shown right now. Please try "
        "again later.",
        "rejection_reasons": "Why your details could not be verified",
        "steps": "Processing steps",
        "step": "Step",
        "step_status": "Status",
        "supplement_due": "Supplement due",
        "updated_at": "Updated",
        "no_steps": "No processing step has been assigned yet.",
        "fees": "Fees and payment",
        "no_fees": "This dossier has no fees to pay.",
        "fees_unavailable": "The fees cannot be shown right now. Please try again later.",
        "fee_item": "Item",
        "fee_amount": "Amount",
        "fee_total": "Total",
        "payment_state": "Payment",
        "pay": "Pay online",
        "pay_failed": "The payment could not be opened: {reason}",
        "receipt": "Electronic receipt no. {number}, {amount}, issued {at}",
        "refund": "Refunded {amount} (reference {reference}) on {at}: {reason}",
        "results": "Results",
        "no_results": "No result yet.",
        "checksum": "SHA-256: {sha256}",
        "notifications": "Notifications sent to you",
        "no_notifications": "No notification yet.",
        "notifications_unavailable": "The notifications cannot be shown right now. Please try again later.",
        "subject": "Subject",
        "channel": "Channel",
        "recipient": "Sent to",
        "delivery": "Delivery",
        "sent_at": "Time",
        "history": "History",
        "at": "Time",
        "note": "Note",
        "not_found_title": "Dossier not found",
        "not_found": "Dossier {code} is not among your dossiers.",
        "none": "—",
        "vnd": "{amount} VND",
    },
}

# Labels of values other services send; a value without a label shows as itself.
STATUS_LABELS: Final[dict[Language, dict[str, str]]] = {
    "vi": {
        "received": "Mới đăng ký",
        "accepted": "Đã tiếp nhận",
        "rejected": "Từ chối / dừng xử lý",
        "processing": "Đang xử lý",
        "supplement_requested": "Yêu cầu bổ sung hồ sơ",
        "transferred": "Đã chuyển cơ quan tiếp theo",
        "financial_obligation": "Chờ thực hiện nghĩa vụ tài chính",
        "result_ready": "Đã có kết quả",
        "returned": "Đã trả kết quả",
        "withdrawn": "Đã rút hồ sơ",
    },
    "en": {
        "received": "Submitted",
        "accepted": "Accepted",
        "rejected": "Refused or stopped",
        "processing": "Being processed",
        "supplement_requested": "Supplement requested",
        "transferred": "Passed to the next agency",
        "financial_obligation": "Waiting for fees to be paid",
        "result_ready": "Result ready",
        "returned": "Result returned",
        "withdrawn": "Withdrawn",
    },
}
STEP_STATUS_LABELS: Final[dict[Language, dict[str, str]]] = {
    "vi": {
        "waiting": "Chờ bước trước",
        "assigned": "Đã giao cơ quan",
        "processing": "Đang xử lý",
        "supplement_requested": "Yêu cầu bổ sung",
        "result_ready": "Đã có kết quả",
        "returned": "Đã trả kết quả",
        "rejected": "Từ chối",
        "cancelled": "Đã hủy",
    },
    "en": {
        "waiting": "Waiting for earlier steps",
        "assigned": "Assigned to the agency",
        "processing": "Being processed",
        "supplement_requested": "Supplement requested",
        "result_ready": "Result ready",
        "returned": "Result returned",
        "rejected": "Refused",
        "cancelled": "Cancelled",
    },
}
PAYMENT_STATE_LABELS: Final[dict[Language, dict[str, str]]] = {
    "vi": {
        "awaiting_payment": "Chờ thanh toán",
        "pending": "Đang chờ xác nhận thanh toán",
        "paid": "Đã thanh toán",
        "refund_pending": "Đang hoàn tiền",
        "refund_refused": "Hoàn tiền đang bị chậm: cơ quan đang xử lý với nền tảng thanh toán",
        "refunded": "Đã hoàn tiền",
    },
    "en": {
        "awaiting_payment": "Awaiting payment",
        "pending": "Payment being confirmed",
        "paid": "Paid",
        "refund_pending": "Refund in progress",
        "refund_refused": "Refund delayed: the office is settling it with the payment platform",
        "refunded": "Refunded",
    },
}
EVENT_LABELS: Final[dict[Language, dict[str, str]]] = {
    "vi": {
        "submitted": "Nộp hồ sơ",
        "supplemented": "Đã bổ sung hồ sơ",
        "deadline-extended": "Gia hạn thời gian giải quyết",
        "overdue": "Quá hạn giải quyết",
    },
    "en": {
        "submitted": "Submitted",
        "supplemented": "Supplement sent",
        "deadline-extended": "Time limit extended",
        "overdue": "Past its due date",
    },
}
CHANNEL_LABELS: Final[dict[Language, dict[str, str]]] = {
    "vi": {"email": "Thư điện tử", "sms": "Tin nhắn SMS"},
    "en": {"email": "E-mail", "sms": "SMS"},
}
DELIVERY_LABELS: Final[dict[Language, dict[str, str]]] = {
    "vi": {"pending": "Đang gửi", "delivered": "Đã gửi", "dead": "Không gửi được"},
    "en": {"pending": "Being sent", "delivered": "Delivered", "dead": "Could not be delivered"},
}


def language_of(*candidates: str | None) -> Language:
    """The first candidate that is a language of the page (the query's `lang`, then the cookie's), or
    Vietnamese."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


class Translator:
    """The page's words in one language, and its dates, times and amounts written that language's way."""

    def __init__(self, language: Language, timezone: ZoneInfo) -> None:
        self.language = language
        self.timezone = timezone
        self._messages = MESSAGES[language]

    def __call__(self, key: str, **values: object) -> str:
        return self._messages[key].format(**values)

    def status(self, value: str | None) -> str:
        return _label(STATUS_LABELS[self.language], value, self("none"))

    def step_status(self, value: str | None) -> str:
        return _label(STEP_STATUS_LABELS[self.language], value, self("none"))

    def payment_state(self, value: str | None) -> str:
        return _label(PAYMENT_STATE_LABELS[self.language], value, self("none"))

    def event(self, value: str | None) -> str:
        """A timeline event of routing's (`deadline-extended`, ...)."""
        return _label(EVENT_LABELS[self.language], value, self("none"))

    def channel(self, value: str | None) -> str:
        return _label(CHANNEL_LABELS[self.language], value, self("none"))

    def delivery(self, value: str | None) -> str:
        return _label(DELIVERY_LABELS[self.language], value, self("none"))

    def name(self, names: dict[str, str], fallback: str) -> str:
        """A catalogue name (`{vi: ..., en: ...}`) in this language, else in the other, else `fallback`."""
        return names.get(self.language) or next(iter(names.values()), None) or fallback

    def date(self, value: date | None) -> str:
        if value is None:
            return self("none")
        return value.strftime("%d/%m/%Y") if self.language == "vi" else value.isoformat()

    def datetime(self, value: datetime | None) -> str:
        """In the country's time zone, to the minute."""
        if value is None:
            return self("none")
        local = value.astimezone(self.timezone)
        return local.strftime("%H:%M %d/%m/%Y") if self.language == "vi" else local.strftime("%Y-%m-%d %H:%M")

    def vnd(self, amount: int) -> str:
        """Dots group thousands in Vietnamese (1.000.000 đồng), commas in English (1,000,000 VND)."""
        grouped = f"{amount:,}"
        return self("vnd", amount=grouped.replace(",", ".") if self.language == "vi" else grouped)


def _label(labels: dict[str, str], value: str | None, none: str) -> str:
    if value is None:
        return none
    return labels.get(value, value)
