"""What the applicant owes for a dossier and where that stands: the fees routing asked for, then the
payment intake reported, then, perhaps, its refund. Pure data, kept with the dossier (one JSON column);
the `Dossier` aggregate moves it.

A dossier whose procedure has fees is accepted, then held in financial obligation (national status 6)
until it is paid: its steps wait, and so does its clock (the time to pay is the applicant's, as for a
supplement; docs/routing.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dossierbus_shared.events import Fee

FINANCIAL_OBLIGATION = "financial_obligation"
"""How routing's views and timeline name a dossier held until its fees are paid. Not a `DossierStatus`
(the published enum is not widened): the dossier stays `accepted` underneath."""

REQUESTED, PAID, REFUNDED = "requested", "paid", "refunded"


@dataclass
class Payment:
    fees: list[Fee]
    """One line per step that has a fee, with the agency that handles the step."""
    requested_at: datetime
    state: str = REQUESTED
    paid_at: datetime | None = None
    receipt_number: str | None = None
    payment_reference: str | None = None
    refunded_at: datetime | None = None
    refund_reference: str | None = None
    refunded_vnd: int | None = None
    refund_reason: str | None = None
    history: list[str] = field(default_factory=list)
    """Receipt and refund references already taken, so that a repeat is known as such."""

    @property
    def amount_vnd(self) -> int:
        return sum(fee.fee_vnd for fee in self.fees)

    def fee_lines(self) -> str:
        """The fees as the timeline shows them: `step@agency 10000 VND, ...`."""
        return ", ".join(f"{fee.step}@{fee.agency_code} {fee.fee_vnd} VND" for fee in self.fees)

    def to_json(self) -> dict[str, Any]:
        return {
            "fees": [fee.model_dump(mode="json") for fee in self.fees],
            "amount_vnd": self.amount_vnd,
            "requested_at": self.requested_at.isoformat(),
            "state": self.state,
            "paid_at": self.paid_at.isoformat() if self.paid_at else None,
            "receipt_number": self.receipt_number,
            "payment_reference": self.payment_reference,
            "refunded_at": self.refunded_at.isoformat() if self.refunded_at else None,
            "refund_reference": self.refund_reference,
            "refunded_vnd": self.refunded_vnd,
            "refund_reason": self.refund_reason,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Payment:
        def instant(name: str) -> datetime | None:
            value = data.get(name)
            return datetime.fromisoformat(value) if value else None

        requested_at = instant("requested_at")
        if requested_at is None:
            raise ValueError("a stored payment has no requested_at")
        return cls(
            fees=[Fee.model_validate(fee) for fee in data["fees"]],
            requested_at=requested_at,
            state=data["state"],
            paid_at=instant("paid_at"),
            receipt_number=data.get("receipt_number"),
            payment_reference=data.get("payment_reference"),
            refunded_at=instant("refunded_at"),
            refund_reference=data.get("refund_reference"),
            refunded_vnd=data.get("refunded_vnd"),
            refund_reason=data.get("refund_reason"),
            history=list(data.get("history", [])),
        )
