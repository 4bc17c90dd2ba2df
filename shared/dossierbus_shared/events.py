"""The event catalogue: every event that crosses a service boundary, versioned and typed.

An event's CloudEvents type ends in its major version (`.v1`). A new incompatible shape gets a new
type (`.v2`) published side by side with the old one; fields are only ever added, optionally, within a
version. Topic names and types are part of the public, agency-facing contract.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from dossierbus_shared.bounds import BoundedDate
from dossierbus_shared.identifiers import PersonalId

TYPE_PREFIX = "vn.gov.dossierbus."
SCHEMA_BASE_URL = "https://schemas.dossierbus.gov.vn/events/"

AGENCY_CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
PERSONAL_ID_PATTERN = r"^\d{12}$"


class DossierStatus(StrEnum):
    """Dossier statuses; `national_status` gives each change's code on the national portal (DVCQG)."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    TRANSFERRED = "transferred"
    RESULT_READY = "result_ready"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"


class NationalStatus(IntEnum):
    """The dossier status codes of the national public service portal (TrangThaiHoSo, DVCQG) [V-impl: the
    same table in several provincial one-stop systems; docs/rules.md names them]."""

    SUBMITTED = 1  # Mới đăng ký
    RECEIVED = 2  # Được tiếp nhận
    NOT_RECEIVED = 3  # Không được tiếp nhận: refused at the one-stop counter
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT_REQUESTED = 5  # Yêu cầu bổ sung giấy tờ
    FINANCIAL_OBLIGATION = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWAL_REQUESTED = 7  # Công dân yêu cầu rút hồ sơ
    STOPPED = 8  # Dừng xử lý: refused or stopped after it was received (Circular 03/2025 form 05)
    PROCESSED = 9  # Đã xử lý xong
    RETURNED = 10  # Đã trả kết quả


_NATIONAL: dict[DossierStatus, NationalStatus | None] = {
    DossierStatus.RECEIVED: NationalStatus.SUBMITTED,
    DossierStatus.ACCEPTED: NationalStatus.RECEIVED,
    DossierStatus.PROCESSING: NationalStatus.PROCESSING,
    DossierStatus.SUPPLEMENT_REQUESTED: NationalStatus.SUPPLEMENT_REQUESTED,
    DossierStatus.WITHDRAWN: NationalStatus.WITHDRAWAL_REQUESTED,
    DossierStatus.RESULT_READY: NationalStatus.PROCESSED,
    DossierStatus.RETURNED: NationalStatus.RETURNED,
    DossierStatus.TRANSFERRED: None,  # local status "liên thông", not a national code
}


def national_status(status: DossierStatus, previous: DossierStatus | None) -> NationalStatus | None:
    """The national code of a dossier reaching `status` from `previous`. A rejection before the dossier
    was received (accepted) is "not received" (3); once received, a refusal stops processing (8)."""
    if status is DossierStatus.REJECTED:
        if previous in (None, DossierStatus.RECEIVED):
            return NationalStatus.NOT_RECEIVED
        return NationalStatus.STOPPED
    return _NATIONAL[status]


class Channel(StrEnum):
    """How the dossier was submitted (KenhThucHien 1/2/3)."""

    DIRECT = "direct"
    ONLINE = "online"
    POSTAL = "postal"


class Event(BaseModel):
    """Base of every event payload (the CloudEvents `data`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: ClassVar[str]
    topic: ClassVar[str]
    """Topic name; `{agency_code}` is filled from the event for per-agency topics."""

    dossier_id: UUID
    dossier_code: str

    @classmethod
    def schema_url(cls) -> str:
        return SCHEMA_BASE_URL + cls.type.removeprefix(TYPE_PREFIX) + ".json"

    def topic_name(self) -> str:
        return self.topic.format(**self.model_dump(mode="json"))


class Applicant(BaseModel):
    model_config = ConfigDict(frozen=True)

    personal_id: PersonalId = Field(
        pattern=PERSONAL_ID_PATTERN, description="12-digit personal identification number"
    )
    full_name: str = Field(min_length=1, max_length=200)
    date_of_birth: BoundedDate
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?\d{8,15}$")
    language: Literal["vi", "en"] | None = Field(
        default=None, description="Language of the notifications; none: Vietnamese with English below"
    )


class ResultDocument(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class DossierSubmitted(Event):
    """Intake accepted a dossier for a procedure and issued its appointment slip."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.submitted.v1"
    topic: ClassVar[str] = "dossier.submitted"

    procedure_code: str
    receiving_unit: str
    channel: Channel
    applicant: Applicant
    form: dict[str, Any]
    prefilled: list[str] = Field(
        default_factory=list, description="Submitted fields filled from national data, not typed"
    )
    submitted_at: datetime
    due_date: date
    deadline_provisional: bool = Field(
        default=False,
        description="The due date runs through a year whose holiday schedule is not yet announced: it is "
        "computed from the statutory holidays and may move when the schedule is decided",
    )
    tracking_secret: str | None = Field(
        default=None,
        description="The receipt's tracking secret, for the receipt e-mail only: with the dossier code it "
        "lets a citizen without eID follow the dossier. Internal topic; never on an agency's inbox",
    )


class DossierVerified(Event):
    """The registry checked the applicant against the national databases."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.verified.v1"
    topic: ClassVar[str] = "dossier.verified"

    procedure_code: str
    receiving_unit: str | None = Field(
        default=None, description="The one-stop unit that received the dossier (decides handling agencies)"
    )
    outcome: Literal["verified", "rejected"]
    reasons: list[str] = Field(default_factory=list)
    channel: Channel
    applicant: Applicant
    form: dict[str, Any]
    national_facts: dict[str, str] = Field(
        default_factory=dict,
        description="Facts read from national databases, only those the procedure needs (once-only)",
    )
    submitted_at: datetime
    due_date: date
    verified_at: datetime


class DossierAssigned(Event):
    """Routing assigned a workflow step of a dossier to an agency (the agency's inbox; public contract)."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.assigned.v1"
    topic: ClassVar[str] = "agency.{agency_code}.inbox"

    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    procedure_code: str
    step: str
    applicant: Applicant
    form: dict[str, Any]
    national_facts: dict[str, str] = Field(default_factory=dict)
    due_date: date
    deadline_provisional: bool = Field(
        default=False,
        description="The due date runs through a year whose holiday schedule is not yet announced",
    )
    assigned_at: datetime


class DossierStatusReported(Event):
    """An agency reports progress on a step it was assigned (the agency's reports topic; public contract)."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.status-reported.v1"
    topic: ClassVar[str] = "agency.{agency_code}.reports"

    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    step: str
    status: DossierStatus
    note: str | None = Field(default=None, max_length=2000)
    result_documents: list[ResultDocument] = Field(
        default_factory=list,
        description="Each url an https URL on a host name the agency registered with the registry (its"
        " result_domains); routing refuses a report with any other result link",
    )
    legal_basis: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="With status rejected after the dossier was received: the legal provision under which "
        "processing stops (Circular 03/2025/TT-VPCP form 05, Thông báo dừng giải quyết hồ sơ); kept on the "
        "timeline and shown to the citizen. Refused with any other status",
    )
    supplement_deadline_working_days: int | None = Field(
        default=None,
        ge=1,
        le=60,
        description="With status supplement_requested: the working days the citizen has to supplement, "
        "counted from the day after the request; omitted: the procedure's default, if it has one. A "
        "dossier not supplemented by then is refused by routing. Refused with any other status",
    )
    reported_at: datetime


class DossierStatusChanged(Event):
    """Routing moved a dossier to a new status."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.status-changed.v1"
    topic: ClassVar[str] = "dossier.status-changed"

    procedure_code: str
    previous_status: DossierStatus | None
    status: DossierStatus
    agency_code: str | None = None
    step: str | None = None
    note: str | None = None
    result_documents: list[ResultDocument] = Field(default_factory=list)
    due_date: date
    changed_at: datetime
    national_status: int | None = Field(
        default=None,
        ge=1,
        le=10,
        description="The national portal's status code (TrangThaiHoSo 1-10) of this change; none for a "
        "local status such as transferred",
    )
    legal_basis: str | None = Field(
        default=None,
        description="The legal provision processing stopped under, when an agency stopped it (form 05)",
    )
    supplement_due_date: date | None = Field(
        default=None,
        description="The last day for the citizen's supplement: on supplement_requested when the request "
        "has a deadline, and on the rejection routing makes when that day passed without one",
    )
    original_due_date: date | None = Field(
        default=None,
        description="Set once an agency extended the deadline: the due date without the extensions (the "
        "appointment moved by supplement pauses only), which Decision 766 judges the dossier by",
    )


class DossierExtensionRequested(Event):
    """An agency asks for more time on a step it handles (Circular 03/2025/TT-VPCP form 04, Văn bản xin lỗi
    và đề nghị gia hạn thời gian giải quyết): the agency's reports topic, signed like a status report
    (public contract). Routing moves the dossier's due date, or refuses the request on the timeline."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.extension-requested.v1"
    topic: ClassVar[str] = "agency.{agency_code}.reports"

    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    step: str
    due_date: date = Field(
        description="The new appointment date: after the current due date, within the extension the "
        "procedure allows (docs/routing.md)"
    )
    reason: str = Field(
        min_length=1, max_length=2000, description="Why more time is needed; the citizen reads it (form 04)"
    )
    requested_at: datetime


class DossierDeadlineExtended(Event):
    """Routing moved a dossier's due date at its agency's request (form 04): the citizen gets the apology
    and the new appointment. The dossier keeps its status, and Decision 766 still judges it by
    `original_due_date`."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.deadline-extended.v1"
    topic: ClassVar[str] = "dossier.deadline-extended"

    procedure_code: str
    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    step: str
    status: DossierStatus
    previous_due_date: date
    due_date: date
    original_due_date: date = Field(
        description="The due date without extensions (the appointment moved by supplement pauses only)"
    )
    reason: str
    extensions: int = Field(ge=1, description="How many extensions the dossier has had, this one included")
    extended_at: datetime


class DossierSupplemented(Event):
    """The citizen supplied what an agency asked for and the step resumes (agency inbox; public contract)."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.supplemented.v1"
    topic: ClassVar[str] = "agency.{agency_code}.inbox"

    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    procedure_code: str
    step: str
    note: str | None = Field(default=None, max_length=2000)
    documents: list[ResultDocument] = Field(
        default_factory=list, description="Documents the citizen supplied (name, link, hash)"
    )
    due_date: date = Field(description="The due date, moved by the working days the clock was paused")
    supplemented_at: datetime


class DossierStepCancelled(Event):
    """A step the agency was assigned is no longer wanted: the dossier was withdrawn by the citizen or
    rejected at another step (the agency's inbox; public contract). Reports on it are refused from now on."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.step-cancelled.v1"
    topic: ClassVar[str] = "agency.{agency_code}.inbox"

    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    procedure_code: str
    step: str
    reason: str
    cancelled_at: datetime


class DossierOverdue(Event):
    """A dossier is past its due date (working days, pauses for supplements excluded) and not finished.
    Emitted once per dossier."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.overdue.v1"
    topic: ClassVar[str] = "dossier.overdue"

    procedure_code: str
    status: DossierStatus
    due_date: date
    open_steps: list[str] = Field(default_factory=list, description="Steps not finished, as step@agency")
    detected_at: datetime


class DossierRated(Event):
    """The applicant rated how their dossier was handled (satisfaction, Decision 766 group 5)."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.rated.v1"
    topic: ClassVar[str] = "dossier.rated"

    procedure_code: str
    score: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")
    rated_at: datetime


class Fee(BaseModel):
    """One fee of a dossier: a procedure step's fee (lệ phí/phí), in whole Vietnamese dong."""

    step: str
    agency_code: str = Field(pattern=AGENCY_CODE_PATTERN)
    fee_vnd: int = Field(gt=0)


class DossierPaymentRequested(Event):
    """Routing holds a dossier in financial obligation (national status 6) until its fees are paid: intake
    opens the payment for the applicant. Internal topic, keyed by dossier like every dossier.payments
    event, so a dossier's request, payment and refund are read in that order."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.payment-requested.v1"
    topic: ClassVar[str] = "dossier.payments"

    procedure_code: str
    amount_vnd: int = Field(gt=0, description="What the applicant owes: the sum of the fees")
    fees: list[Fee] = Field(min_length=1)
    requested_at: datetime


class DossierPaid(Event):
    """The payment platform confirmed the applicant paid the dossier's fees in full (a verified callback or
    a query): routing takes the dossier on. Internal topic."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.paid.v1"
    topic: ClassVar[str] = "dossier.payments"

    amount_vnd: int = Field(gt=0)
    receipt_number: str = Field(description="The electronic receipt's number (biên lai điện tử)")
    payment_reference: str = Field(description="The payment platform's transaction reference")
    paid_at: datetime


class DossierRefunded(Event):
    """A paid dossier was refused before processing, and its fees went back to the applicant. Internal
    topic."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.refunded.v1"
    topic: ClassVar[str] = "dossier.payments"

    amount_vnd: int = Field(gt=0)
    receipt_number: str
    refund_reference: str = Field(description="The payment platform's refund reference")
    reason: str
    refunded_at: datetime


CATALOGUE: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        DossierSubmitted,
        DossierVerified,
        DossierAssigned,
        DossierStatusReported,
        DossierStatusChanged,
        DossierSupplemented,
        DossierStepCancelled,
        DossierOverdue,
        DossierRated,
        DossierExtensionRequested,
        DossierDeadlineExtended,
        DossierPaymentRequested,
        DossierPaid,
        DossierRefunded,
    )
}

FIXED_TOPICS: tuple[str, ...] = tuple(
    sorted({cls.topic for cls in CATALOGUE.values() if "{" not in cls.topic})
)


def agency_topics(agency_code: str) -> tuple[str, str]:
    """The inbox and reports topics of one agency."""
    if not re.fullmatch(AGENCY_CODE_PATTERN, agency_code):
        raise ValueError(f"invalid agency code {agency_code!r}: expected {AGENCY_CODE_PATTERN}")
    return f"agency.{agency_code}.inbox", f"agency.{agency_code}.reports"
