"""Which dossier status changes go to the national portal, and what is sent for each: pure, no I/O.

Every change of a dossier's status (each `dossier.status-changed` it emits, and its arrival, which emits
none: the status it starts in, `received`) becomes one `PortalChange`. Its national status code
(TrangThaiHoSo) comes from `national_status()` of the event catalogue; a status with none (`transferred`,
the local "liên thông") is kept as a change that is not sent, so the operator sees why nothing went. A
dossier held until its fees are paid (`dossier.payment-requested`) is sent as `financial_obligation`,
code 6 (Yêu cầu thực hiện nghĩa vụ tài chính): routing's state, not a `DossierStatus`. A due date moved
at an agency's request (`dossier.deadline-extended`) is sent too: the dossier's status again, with the new
date, so the portal never shows a date the citizen has been told is no longer true.

What is sent carries no personal data: the dossier code, the procedure, the receiving unit, the national
code, when, the due date and the agency handling the step. Notes are left out: agencies write them freely
and they may name people.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from dossierbus_routing.domain import Dossier
from dossierbus_routing.domain.payment import FINANCIAL_OBLIGATION
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierDeadlineExtended,
    DossierPaymentRequested,
    DossierStatus,
    DossierStatusChanged,
    NationalStatus,
    national_status,
)

RECEIPT_KEYS = uuid.UUID("6a1f3c2e-6e0b-4f4e-9d55-0c9b1b7f2a10")
"""Namespace of the idempotency key of a dossier's arrival (uuid5 of the dossier id): it has no event."""


@dataclass(frozen=True)
class PortalChange:
    """One status change of a dossier as the portal is told it (`payload`), or as not told (no code)."""

    idempotency_key: UUID
    dossier_id: UUID
    dossier_code: str
    status: str
    """A `DossierStatus` value, or `financial_obligation`."""
    previous_status: str | None
    national_status: NationalStatus | None
    changed_at: datetime
    payload: dict[str, Any] | None
    """The body of the portal's sync call; None when the status has no national code (not sent)."""

    @property
    def sent(self) -> bool:
        """Whether the change is for the portal at all."""
        return self.payload is not None

    @property
    def not_sent_reason(self) -> str | None:
        if self.national_status is not None:
            return None
        return f"not sent: {self.status!r} has no national status code (a local status)"


def portal_changes(dossier: Dossier, events: Sequence[Envelope[Any]]) -> list[PortalChange]:
    """The status changes among the events a change of `dossier` caused, in order; its arrival first when
    these events move it out of `received` (the status it was created in, which no event announces)."""
    changed = [envelope for envelope in events if isinstance(envelope.data, DossierStatusChanged)]
    found: list[PortalChange] = []
    for envelope in events:
        if isinstance(envelope.data, DossierPaymentRequested):
            found.append(_financial_obligation(dossier, envelope.id, envelope.data))
            continue
        if isinstance(envelope.data, DossierDeadlineExtended):
            extended: DossierDeadlineExtended = envelope.data
            found.append(
                _change(
                    dossier,
                    key=envelope.id,
                    status=extended.status,
                    previous=extended.status,
                    at=extended.extended_at,
                    due=extended.due_date,
                    agency=extended.agency_code,
                )
            )
            continue
        if not isinstance(envelope.data, DossierStatusChanged):
            continue
        event: DossierStatusChanged = envelope.data
        if event.previous_status is DossierStatus.RECEIVED and not any(
            other.data.status is DossierStatus.RECEIVED for other in changed
        ):
            found.append(
                _change(
                    dossier,
                    key=uuid.uuid5(RECEIPT_KEYS, str(dossier.id)),
                    status=DossierStatus.RECEIVED,
                    previous=None,
                    at=dossier.submitted_at,
                    due=event.due_date,
                    agency=None,
                )
            )
        found.append(
            _change(
                dossier,
                key=envelope.id,
                status=event.status,
                previous=event.previous_status,
                at=event.changed_at,
                due=event.due_date,
                agency=event.agency_code,
            )
        )
    return found


def _change(
    dossier: Dossier,
    *,
    key: UUID,
    status: DossierStatus,
    previous: DossierStatus | None,
    at: datetime,
    due: date,
    agency: str | None,
) -> PortalChange:
    code = national_status(status, previous)
    return PortalChange(
        idempotency_key=key,
        dossier_id=dossier.id,
        dossier_code=dossier.code,
        status=status.value,
        previous_status=previous.value if previous else None,
        national_status=code,
        changed_at=at,
        payload=None if code is None else portal_payload(dossier, code, at, due, agency),
    )


def _financial_obligation(dossier: Dossier, key: UUID, requested: DossierPaymentRequested) -> PortalChange:
    """The accepted dossier held until its fees are paid: code 6, keyed by the payment request's id. The
    due date sent is the one the dossier had when its clock stopped; it moves once the fees are paid."""
    code = NationalStatus.FINANCIAL_OBLIGATION
    at = requested.requested_at
    return PortalChange(
        idempotency_key=key,
        dossier_id=dossier.id,
        dossier_code=dossier.code,
        status=FINANCIAL_OBLIGATION,
        previous_status=DossierStatus.ACCEPTED.value,
        national_status=code,
        changed_at=at,
        payload=portal_payload(dossier, code, at, dossier.due_date, None),
    )


def portal_payload(
    dossier: Dossier, code: NationalStatus, at: datetime, due: date, agency: str | None
) -> dict[str, Any]:
    """The portal's sync body, with the field names of the DVCQG sync (docs/portal-sync.md)."""
    return {
        "MaHoSo": dossier.code,
        "MaTTHC": dossier.procedure_code,
        "MaDonViTiepNhan": dossier.receiving_unit,
        "TrangThaiHoSo": int(code),
        "ThoiDiemXuLy": at.isoformat(),
        "NgayKetThucTheoQuyDinh": due.isoformat(),
        "DonViXuLy": agency,
    }
