"""A dossier's payment: what the applicant owes (routing's amount and fee lines, never the caller's), the
order opened at the payment platform, the receipt once paid and the refund if the dossier is refused
before processing.

    awaiting_payment --open--> pending --paid--> paid --refused before processing--> refund_pending
          ^                       |                                                      |
          +------failed-----------+                                     refunded <-------+

The platform's word on an order (a callback or a query, `Notice`) is applied whatever order it comes in:
"paid" wins over anything but itself, so a "failed" after a "paid" or the same notice twice changes
nothing. A notice that names another order or another amount is refused and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from dossierbus_shared.events import (
    DossierPaid,
    DossierPaymentRequested,
    DossierRefunded,
    DossierStatus,
    DossierStatusChanged,
    Event,
    Fee,
)

BEFORE_PROCESSING = frozenset({DossierStatus.RECEIVED, DossierStatus.ACCEPTED})
"""A dossier refused (or withdrawn) from one of these statuses was never started on by an agency: its
fees go back to the applicant."""

ENDING = frozenset({DossierStatus.REJECTED, DossierStatus.WITHDRAWN})
"""The statuses a payment hears of (the only ones that refund or close it): the consumer loads a dossier's
payment for no other status change."""


class PaymentState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PENDING = "pending"
    PAID = "paid"
    REFUND_PENDING = "refund_pending"
    REFUND_REFUSED = "refund_refused"
    """The platform refused the refund for good: no more requests until an operator asks again."""
    REFUNDED = "refunded"


class NoticeStatus(StrEnum):
    """What the platform says of an order."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    """Already known (a duplicate or a replay), or overtaken (a "failed" after a "paid")."""


class NotThisOrder(Exception):
    """The notice names an order that is not the dossier's open one."""


class WrongAmount(Exception):
    def __init__(self, owed: int, said: int) -> None:
        super().__init__(f"{said} VND, not the {owed} VND owed")
        self.owed = owed
        self.said = said


class NothingToOpen(Exception):
    """The payment is not awaiting payment (pending, paid or refunded): there is nothing to open."""


class NoRefundDue(Exception):
    """The payment is not waiting for a refund."""


class DossierClosed(Exception):
    """The dossier ended (refused, withdrawn) before it was paid: it is no longer paid for."""


@dataclass(frozen=True)
class Notice:
    """The payment platform's word on one order, from its signed callback or from a query."""

    order_id: str
    status: NoticeStatus
    amount_vnd: int
    reference: str
    """The platform's transaction reference."""
    paid_at: datetime | None = None


@dataclass(frozen=True)
class Receipt:
    """The electronic receipt (biên lai điện tử) of a paid dossier."""

    number: str
    amount_vnd: int
    fees: tuple[Fee, ...]
    payment_reference: str
    paid_at: datetime
    issued_at: datetime


@dataclass(frozen=True)
class Refund:
    key: str
    """Sent with every refund request to the platform, so that asking twice refunds once."""
    reason: str
    requested_at: datetime
    reference: str | None = None
    refunded_at: datetime | None = None
    refused: str | None = None
    """Why the platform last refused it for good (kept when an operator asks again)."""
    refused_at: datetime | None = None


def receipt_number(dossier_code: str) -> str:
    """One receipt per dossier, numbered after it."""
    return f"BL-{dossier_code}"


@dataclass
class Payment:
    dossier_id: UUID
    dossier_code: str
    procedure_code: str
    amount_vnd: int
    fees: tuple[Fee, ...]
    requested_at: datetime
    state: PaymentState = PaymentState.AWAITING_PAYMENT
    attempt: int = 0
    """Orders opened so far; the open one is numbered `attempt`."""
    order_id: str | None = None
    pay_url: str | None = None
    opened_at: datetime | None = None
    """When the open order was created at the platform: reconciliation queries it once it is old."""
    receipt: Receipt | None = None
    refund: Refund | None = None
    closed_reason: str | None = None
    """The dossier ended before it was paid: no order is opened any more, and a late payment is refunded."""
    events: list[Event] = field(default_factory=list)

    @classmethod
    def requested(cls, request: DossierPaymentRequested) -> Payment:
        return cls(
            dossier_id=request.dossier_id,
            dossier_code=request.dossier_code,
            procedure_code=request.procedure_code,
            amount_vnd=request.amount_vnd,
            fees=tuple(request.fees),
            requested_at=request.requested_at,
        )

    @property
    def source(self) -> str:
        """The intake unit that received the dossier (its identifier starts the dossier code)."""
        return f"urn:dossierbus:intake:{self.dossier_code.rsplit('-', 2)[0]}"

    def order_to_open(self) -> str:
        """The order id to create at the platform: the next one. Creating the same id twice at the platform
        makes one order, so a create whose answer was lost is repeated safely (the id is only taken by
        `opened`). NothingToOpen unless awaiting payment; DossierClosed once the dossier ended."""
        if self.state is not PaymentState.AWAITING_PAYMENT:
            raise NothingToOpen(self.state.value)
        if self.closed_reason is not None:
            raise DossierClosed(self.closed_reason)
        return f"{self.dossier_code}-P{self.attempt + 1}"

    def opened(self, order_id: str, pay_url: str, at: datetime) -> None:
        """The platform created the order: the applicant is sent to `pay_url`."""
        if order_id != self.order_to_open():
            raise NotThisOrder(order_id)
        self.attempt += 1
        self.order_id = order_id
        self.pay_url = pay_url
        self.opened_at = at
        self.state = PaymentState.PENDING

    def settle(self, notice: Notice, now: datetime) -> Outcome:
        """Apply the platform's word on the open order. NotThisOrder or WrongAmount: nothing changes."""
        if self.order_id is None or notice.order_id != self.order_id:
            raise NotThisOrder(notice.order_id)
        if notice.amount_vnd != self.amount_vnd:
            raise WrongAmount(self.amount_vnd, notice.amount_vnd)
        if notice.status is NoticeStatus.PAID:
            # Also when awaiting: the order failed once, then the applicant paid it after all.
            if self.state not in (PaymentState.PENDING, PaymentState.AWAITING_PAYMENT):
                return Outcome.UNCHANGED
            self._pay(notice, now)
            return Outcome.APPLIED
        if notice.status is NoticeStatus.FAILED and self.state is PaymentState.PENDING:
            self.state = PaymentState.AWAITING_PAYMENT  # the applicant may open a new order
            self.pay_url = None
            return Outcome.APPLIED
        return Outcome.UNCHANGED

    def _pay(self, notice: Notice, now: datetime) -> None:
        paid_at = notice.paid_at or now
        self.receipt = Receipt(
            number=receipt_number(self.dossier_code),
            amount_vnd=self.amount_vnd,
            fees=self.fees,
            payment_reference=notice.reference,
            paid_at=paid_at,
            issued_at=now,
        )
        self.state = PaymentState.PAID
        self.pay_url = None
        self.events.append(
            DossierPaid(
                dossier_id=self.dossier_id,
                dossier_code=self.dossier_code,
                amount_vnd=self.amount_vnd,
                receipt_number=self.receipt.number,
                payment_reference=notice.reference,
                paid_at=paid_at,
            )
        )
        if self.closed_reason is not None:  # paid after the dossier ended: it goes back
            self._start_refund(self.closed_reason, now)

    def dossier_changed(self, changed: DossierStatusChanged) -> bool:
        """Routing's word on the dossier; whether a refund is now due. Refused or withdrawn before any
        agency started on it (from received or accepted), a paid dossier is refunded; an unpaid one is
        closed (a payment arriving later is refunded)."""
        if changed.status not in ENDING:
            return False
        before_processing = changed.previous_status in BEFORE_PROCESSING
        if self.state is PaymentState.PAID:
            if before_processing:
                self._start_refund(f"dossier {changed.status.value} before processing", changed.changed_at)
                return True
            return False
        if self.state in (PaymentState.AWAITING_PAYMENT, PaymentState.PENDING) and self.closed_reason is None:
            self.closed_reason = f"dossier {changed.status.value} before it was paid"
        return False

    def _start_refund(self, reason: str, at: datetime) -> None:
        self.state = PaymentState.REFUND_PENDING
        self.refund = Refund(key=f"RF-{self.order_id}", reason=reason, requested_at=at)

    def refund_refused(self, reason: str, at: datetime) -> Outcome:
        """The platform refused the refund for good (a 4xx that asking again will not change): it waits
        for an operator instead of being asked again every round."""
        if self.state is not PaymentState.REFUND_PENDING or self.refund is None:
            return Outcome.UNCHANGED  # refunded meanwhile, or already refused
        self.refund = replace(self.refund, refused=reason, refused_at=at)
        self.state = PaymentState.REFUND_REFUSED
        return Outcome.APPLIED

    def retry_refund(self) -> None:
        """An operator settled the matter with the platform: ask for the refund again (same key).
        NoRefundDue unless it was refused."""
        if self.state is not PaymentState.REFUND_REFUSED:
            raise NoRefundDue(self.state.value)
        self.state = PaymentState.REFUND_PENDING

    def refunded(self, reference: str, at: datetime) -> Outcome:
        """The platform refunded the payment."""
        if self.state is PaymentState.REFUNDED:
            return Outcome.UNCHANGED
        if self.state is not PaymentState.REFUND_PENDING or self.refund is None or self.receipt is None:
            raise NoRefundDue(self.state.value)
        self.refund = replace(self.refund, reference=reference, refunded_at=at)
        self.state = PaymentState.REFUNDED
        self.events.append(
            DossierRefunded(
                dossier_id=self.dossier_id,
                dossier_code=self.dossier_code,
                amount_vnd=self.amount_vnd,
                receipt_number=self.receipt.number,
                refund_reference=reference,
                reason=self.refund.reason,
                refunded_at=at,
            )
        )
        return Outcome.APPLIED

    def view(self) -> dict[str, Any]:
        """What the applicant and the portal see (pay-contract: GET /dossiers/{code}/payment)."""
        receipt = self.receipt
        refund = self.refund
        return {
            "dossier_code": self.dossier_code,
            "amount_vnd": self.amount_vnd,
            "fees": [fee.model_dump(mode="json") for fee in self.fees],
            "state": self.state.value,
            "pay_url": self.pay_url if self.state is PaymentState.PENDING else None,
            "receipt": None
            if receipt is None
            else {
                "number": receipt.number,
                "amount_vnd": receipt.amount_vnd,
                "issued_at": receipt.issued_at.isoformat(),
            },
            "refund": None
            if refund is None or refund.reference is None or refund.refunded_at is None
            else {
                "reference": refund.reference,
                "amount_vnd": self.amount_vnd,
                "reason": refund.reason,
                "refunded_at": refund.refunded_at.isoformat(),
            },
        }

    def receipt_view(self) -> dict[str, Any] | None:
        """The electronic receipt, once paid."""
        receipt = self.receipt
        if receipt is None:
            return None
        return {
            "number": receipt.number,
            "dossier_code": self.dossier_code,
            "procedure_code": self.procedure_code,
            "amount_vnd": receipt.amount_vnd,
            "fees": [fee.model_dump(mode="json") for fee in receipt.fees],
            "payment_reference": receipt.payment_reference,
            "paid_at": receipt.paid_at.isoformat(),
            "issued_at": receipt.issued_at.isoformat(),
            "refunded": self.state is PaymentState.REFUNDED,
        }
