"""What the citizen page shows of her dossiers, put together from intake's own record and what routing,
notifications and intake's payment API answered her token (sources.py). No I/O here, and no language:
names stay `{vi: ..., en: ...}` and statuses stay values; pages.py writes them in hers.

Other services' answers are read defensively: a field missing or of the wrong type costs its section
("unavailable"), never the page, and a link is shown only where it is safe to follow (a result document
on https, as routing already requires of agencies; a payment page on https, or on loopback in
development).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from dossierbus_intake.citizen.sources import DossierReads, Read
from dossierbus_intake.domain.dossier import Dossier
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.result_urls import https_host

Names = Mapping[str, str]
"""A catalogue name per language (`{vi: ..., en: ...}`); empty when the catalogue has none."""

HIDDEN_EVENTS = frozenset({"assigned", "step-changed"})
"""Timeline events the steps table already shows."""
HIDDEN_CHANNELS = frozenset({"webhook"})
"""Deliveries to agencies' systems: not the citizen's notifications."""


@dataclass(frozen=True)
class DossierSummary:
    """One line of her list: what intake itself knows, with no other service asked."""

    code: str
    procedure_code: str
    procedure_name: Names
    submitted_at: datetime
    appointment_date: date
    status: str | None


@dataclass(frozen=True)
class ResultLink:
    name: str
    url: str
    sha256: str | None


@dataclass(frozen=True)
class StepView:
    step: str
    name: Names
    agency_code: str | None
    agency_name: Names
    status: str
    supplement_due_date: date | None
    updated_at: datetime | None
    results: tuple[ResultLink, ...]


@dataclass(frozen=True)
class FeeLine:
    step: str
    step_name: Names
    agency_code: str
    agency_name: Names
    fee_vnd: int


@dataclass(frozen=True)
class ReceiptView:
    number: str
    amount_vnd: int
    issued_at: datetime


@dataclass(frozen=True)
class RefundView:
    reference: str
    amount_vnd: int
    reason: str
    refunded_at: datetime


@dataclass(frozen=True)
class PaymentView:
    amount_vnd: int
    fees: tuple[FeeLine, ...]
    state: str
    pay_url: str | None
    """Where she pays, when the payment is open and the link is safe."""
    receipt: ReceiptView | None
    refund: RefundView | None

    @property
    def payable(self) -> bool:
        """Whether she may (re)open the payment: nothing paid, nothing being confirmed."""
        return self.state == "awaiting_payment"


@dataclass(frozen=True)
class NotificationView:
    subject: str
    channel: str
    recipient: str
    """Masked by notifications (`n***@example.vn`, `***678`)."""
    status: str
    at: datetime | None


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    event: str
    status: str | None
    agency_name: Names
    note: str | None


@dataclass(frozen=True)
class DossierDetail:
    summary: DossierSummary
    processing: Literal["ok", "not_yet", "unavailable"]
    """Routing's view: read, not there yet (the registry is still checking her), or not readable now."""
    status: str | None
    due_date: date
    original_due_date: date | None
    """Set when agencies' extensions moved the due date."""
    deadline_provisional: bool = False
    overdue: bool = False
    paused_since: datetime | None = None
    agency_name: Names = field(default_factory=dict)
    rejection_reasons: tuple[str, ...] = ()
    steps: tuple[StepView, ...] = ()
    fees: Literal["none", "due", "unavailable"] = "unavailable"
    payment: PaymentView | None = None
    notifications: tuple[NotificationView, ...] | None = None
    """None: notifications could not be read."""
    history: tuple[HistoryEntry, ...] = ()

    @property
    def results(self) -> tuple[tuple[StepView, ResultLink], ...]:
        return tuple((step, link) for step in self.steps for link in step.results)


def summary(dossier: Dossier, catalogue: Catalogue) -> DossierSummary:
    procedure = catalogue.procedure(dossier.procedure_code)
    return DossierSummary(
        code=dossier.code,
        procedure_code=dossier.procedure_code,
        procedure_name=procedure.name if procedure else {},
        submitted_at=dossier.submitted_at,
        appointment_date=dossier.due_date,
        status=dossier.status,
    )


def detail(dossier: Dossier, reads: DossierReads, catalogue: Catalogue) -> DossierDetail:
    """The dossier page: intake's record, completed with what each service answered."""
    own = summary(dossier, catalogue)
    fees, payment = _fees(reads.payment, dossier.procedure_code, catalogue)
    notifications = _notifications(reads.notifications)
    base = DossierDetail(
        summary=own,
        processing="unavailable",
        status=own.status,
        due_date=own.appointment_date,
        original_due_date=None,
        fees=fees,
        payment=payment,
        notifications=notifications,
    )
    if reads.routing.outcome == "absent":
        return replace(base, processing="not_yet")
    if not reads.routing.ok or reads.routing.body is None:
        return base
    try:
        return _routed(base, reads.routing.body, dossier.procedure_code, catalogue)
    except (KeyError, TypeError, ValueError, AttributeError):
        return base  # an answer not in routing's documented shape: shown as unavailable


def _routed(
    base: DossierDetail, body: Mapping[str, Any], procedure_code: str, catalogue: Catalogue
) -> DossierDetail:
    deadline = body.get("deadline") or {}
    due = date.fromisoformat(str(body["due_date"]))
    original = _date(deadline.get("original_due_date"))
    return replace(
        base,
        processing="ok",
        status=str(body["status"]),
        due_date=due,
        original_due_date=original if original is not None and original != due else None,
        deadline_provisional=bool(deadline.get("deadline_provisional")),
        overdue=bool(deadline.get("overdue")),
        paused_since=_datetime(deadline.get("paused_since")) if deadline.get("paused") else None,
        agency_name=_agency_name(catalogue, body.get("agency_code")),
        rejection_reasons=tuple(str(reason) for reason in body.get("rejection_reasons") or ()),
        steps=tuple(_step(item, procedure_code, catalogue) for item in body.get("steps") or ()),
        history=tuple(
            _history(item, catalogue)
            for item in body.get("timeline") or ()
            if item.get("outcome", "applied") == "applied" and item.get("event") not in HIDDEN_EVENTS
        ),
    )


def _step(item: Mapping[str, Any], procedure_code: str, catalogue: Catalogue) -> StepView:
    step_id = str(item["step"])
    agency = item.get("agency_code")
    return StepView(
        step=step_id,
        name=step_name(catalogue, procedure_code, step_id),
        agency_code=str(agency) if agency else None,
        agency_name=_agency_name(catalogue, agency),
        status=str(item["status"]),
        supplement_due_date=_date(item.get("supplement_due_date")),
        updated_at=_datetime(item.get("updated_at")),
        results=tuple(link for link in map(_result, item.get("result_documents") or ()) if link is not None),
    )


def _result(document: Any) -> ResultLink | None:
    if not isinstance(document, Mapping):
        return None
    url, name = document.get("url"), document.get("name")
    if not isinstance(url, str) or not isinstance(name, str) or https_host(url) is None:
        return None
    sha256 = document.get("sha256")
    return ResultLink(name=name, url=url, sha256=sha256 if isinstance(sha256, str) else None)


def _history(item: Mapping[str, Any], catalogue: Catalogue) -> HistoryEntry:
    at = _datetime(item.get("at"))
    if at is None:
        raise ValueError("a timeline entry without a time")
    status = item.get("status")
    note = item.get("note")
    return HistoryEntry(
        at=at,
        event=str(item.get("event")),
        status=str(status) if status else None,
        agency_name=_agency_name(catalogue, item.get("agency_code")),
        note=str(note) if note else None,
    )


def _fees(
    read: Read, procedure_code: str, catalogue: Catalogue
) -> tuple[Literal["none", "due", "unavailable"], PaymentView | None]:
    """404 from the payment API: the dossier owes nothing (pay-contract)."""
    if read.outcome == "absent":
        return "none", None
    if not read.ok or read.body is None:
        return "unavailable", None
    try:
        return "due", payment(read.body, procedure_code, catalogue)
    except (KeyError, TypeError, ValueError, AttributeError):
        return "unavailable", None


def payment(body: Mapping[str, Any], procedure_code: str, catalogue: Catalogue) -> PaymentView:
    """Intake's `GET /dossiers/{code}/payment` answer (docs/payments.md) as the page shows it."""
    fees = []
    for line in body.get("fees") or ():
        fees.append(
            FeeLine(
                step=str(line["step"]),
                step_name=step_name(catalogue, procedure_code, str(line["step"])),
                agency_code=str(line["agency_code"]),
                agency_name=_agency_name(catalogue, line["agency_code"]),
                fee_vnd=_amount(line["fee_vnd"]),
            )
        )
    receipt = body.get("receipt")
    refund = body.get("refund")
    pay_url = body.get("pay_url")
    return PaymentView(
        amount_vnd=_amount(body["amount_vnd"]),
        fees=tuple(fees),
        state=str(body["state"]),
        pay_url=pay_url if isinstance(pay_url, str) and safe_payment_link(pay_url) else None,
        receipt=ReceiptView(
            number=str(receipt["number"]),
            amount_vnd=_amount(receipt["amount_vnd"]),
            issued_at=datetime.fromisoformat(str(receipt["issued_at"])),
        )
        if receipt
        else None,
        refund=RefundView(
            reference=str(refund["reference"]),
            amount_vnd=_amount(refund["amount_vnd"]),
            reason=str(refund["reason"]),
            refunded_at=datetime.fromisoformat(str(refund["refunded_at"])),
        )
        if refund
        else None,
    )


def _notifications(read: Read) -> tuple[NotificationView, ...] | None:
    if read.outcome == "absent":
        return ()
    if not read.ok or read.body is None:
        return None
    try:
        return tuple(
            NotificationView(
                subject=str(item.get("subject") or ""),
                channel=str(item["channel"]),
                recipient=str(item.get("recipient") or ""),
                status=str(item["status"]),
                at=_datetime(item.get("delivered_at")) or _datetime(item.get("created_at")),
            )
            for item in read.body["notifications"]
            if item.get("channel") not in HIDDEN_CHANNELS
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def safe_payment_link(url: str) -> bool:
    """https, or http on a loopback host (the development stack's payment simulator)."""
    if https_host(url) is not None:
        return True
    return url.startswith(
        ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")
    )


def step_name(catalogue: Catalogue, procedure_code: str, step_id: str) -> Names:
    """The step's name in the catalogue; a procedure of one step is named after the procedure itself."""
    procedure = catalogue.procedure(procedure_code)
    if procedure is None:
        return {}
    step = procedure.step(step_id)
    if step is not None and step.name:
        return step.name
    return procedure.name if step is not None and len(procedure.steps) == 1 else {}


def _agency_name(catalogue: Catalogue, code: Any) -> Names:
    agency = catalogue.agencies.get(code) if isinstance(code, str) else None
    return agency.name if agency else ({"vi": code, "en": code} if isinstance(code, str) and code else {})


def _amount(value: Any) -> int:
    # bool is an int to Python, never an amount.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("an amount is not a non-negative integer")
    return value


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _datetime(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo is not None else None


def newest_first(dossiers: Sequence[Dossier], catalogue: Catalogue) -> list[DossierSummary]:
    return [
        summary(dossier, catalogue)
        for dossier in sorted(dossiers, key=lambda d: d.submitted_at, reverse=True)
    ]
