"""Where payments are kept: PostgreSQL, one row per dossier that owes fees. Every payment handed out for a
change is locked (FOR UPDATE) until its transaction ends, so a callback, a query's answer, a refund and
routing's events are decided one after the other, never on the same stale row."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_intake.payments.adapters.tables import payments
from dossierbus_intake.payments.domain.payment import Payment, PaymentState, Receipt, Refund
from dossierbus_shared.db.rows import update_rows
from dossierbus_shared.events import Fee


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> None: ...

    async def load(self, dossier_ids: Collection[UUID]) -> None:
        """Fetch and lock these dossiers' payments at once, for `get`."""
        ...

    def get(self, dossier_id: UUID) -> Payment | None: ...

    async def by_code(self, dossier_code: str, *, lock: bool = True) -> Payment | None:
        """The dossier's payment, locked unless only read (`lock=False`)."""
        ...

    async def by_order(self, order_id: str) -> Payment | None:
        """The payment whose open order this is, locked."""
        ...

    async def pending_since(
        self, before: datetime, limit: int, *, after: datetime | None = None
    ) -> list[tuple[str, datetime]]:
        """Dossier codes of payments pending since before `before` (and after `after`, when given), with
        when they were opened, oldest first (not locked)."""
        ...

    async def refunds_due(self, limit: int) -> list[str]:
        """Dossier codes of payments waiting for their refund (not locked)."""
        ...

    async def refunds_refused(self, limit: int) -> list[Payment]:
        """Payments whose refund the platform refused for good, the longest waiting first (not locked)."""
        ...

    async def save(self) -> None: ...


class SqlPaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._seen: dict[UUID, tuple[Payment, dict[str, Any] | None]] = {}
        """Each payment handed out or added, with the row it was loaded as (None: new)."""

    def add(self, payment: Payment) -> None:
        if payment.dossier_id in self._seen:
            raise ValueError(f"{payment.dossier_code} already has a payment")
        self._seen[payment.dossier_id] = (payment, None)

    async def load(self, dossier_ids: Collection[UUID]) -> None:
        wanted = sorted(set(dossier_ids) - self._seen.keys())
        if wanted:
            # In id order: two transactions locking the same payments lock them alike.
            query = _locked().where(payments.c.dossier_id.in_(wanted)).order_by(payments.c.dossier_id)
            for row in await self.session.execute(query):
                self._hand_out(row._mapping)

    def get(self, dossier_id: UUID) -> Payment | None:
        seen = self._seen.get(dossier_id)
        return seen[0] if seen else None

    async def by_code(self, dossier_code: str, *, lock: bool = True) -> Payment | None:
        return await self._one(_locked(lock).where(payments.c.dossier_code == dossier_code))

    async def by_order(self, order_id: str) -> Payment | None:
        return await self._one(_locked().where(payments.c.order_id == order_id))

    async def pending_since(
        self, before: datetime, limit: int, *, after: datetime | None = None
    ) -> list[tuple[str, datetime]]:
        query = (
            select(payments.c.dossier_code, payments.c.opened_at)
            .where(payments.c.state == PaymentState.PENDING.value, payments.c.opened_at < before)
            .order_by(payments.c.opened_at)
            .limit(limit)
        )
        if after is not None:
            query = query.where(payments.c.opened_at > after)
        return [(code, opened_at) for code, opened_at in await self.session.execute(query)]

    async def refunds_due(self, limit: int) -> list[str]:
        query = (
            select(payments.c.dossier_code)
            .where(payments.c.state == PaymentState.REFUND_PENDING.value)
            .order_by(payments.c.updated_at)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def refunds_refused(self, limit: int) -> list[Payment]:
        query = (
            select(payments)
            .where(payments.c.state == PaymentState.REFUND_REFUSED.value)
            .order_by(payments.c.updated_at)
            .limit(limit)
        )
        return [self._hand_out(row._mapping) for row in await self.session.execute(query)]

    async def save(self) -> None:
        added = [_row(payment) for payment, loaded in self._seen.values() if loaded is None]
        changed = [
            row
            for payment, loaded in self._seen.values()
            if loaded is not None and (row := _row(payment)) != loaded
        ]
        if added:
            await self.session.execute(payments.insert(), added)
        if changed:
            await update_rows(self.session, payments, changed, "dossier_id", also={"updated_at": func.now()})
        for dossier_id, (payment, _) in list(self._seen.items()):
            self._seen[dossier_id] = (payment, _row(payment))

    async def _one(self, query: Select[Any]) -> Payment | None:
        row = (await self.session.execute(query)).first()
        return None if row is None else self._hand_out(row._mapping)

    def _hand_out(self, row: Any) -> Payment:
        seen = self._seen.get(row["dossier_id"])
        if seen is not None:  # one payment is one object in a unit of work
            return seen[0]
        receipt, refund = row["receipt"], row["refund"]
        payment = Payment(
            dossier_id=row["dossier_id"],
            dossier_code=row["dossier_code"],
            procedure_code=row["procedure_code"],
            amount_vnd=row["amount_vnd"],
            fees=tuple(Fee.model_validate(fee) for fee in row["fees"]),
            requested_at=row["requested_at"],
            state=PaymentState(row["state"]),
            attempt=row["attempt"],
            order_id=row["order_id"],
            pay_url=row["pay_url"],
            opened_at=row["opened_at"],
            receipt=None if receipt is None else _receipt(receipt),
            refund=None if refund is None else _refund(refund),
            closed_reason=row["closed_reason"],
        )
        self._seen[payment.dossier_id] = (payment, _row(payment))
        return payment


def _locked(lock: bool = True) -> Select[Any]:
    query = select(*[column for column in payments.c if column.name != "updated_at"])
    return query.with_for_update() if lock else query


def _row(payment: Payment) -> dict[str, Any]:
    receipt, refund = payment.receipt, payment.refund
    return {
        "dossier_id": payment.dossier_id,
        "dossier_code": payment.dossier_code,
        "procedure_code": payment.procedure_code,
        "amount_vnd": payment.amount_vnd,
        "fees": [fee.model_dump(mode="json") for fee in payment.fees],
        "requested_at": payment.requested_at,
        "state": payment.state.value,
        "attempt": payment.attempt,
        "order_id": payment.order_id,
        "pay_url": payment.pay_url,
        "opened_at": payment.opened_at,
        "receipt": None
        if receipt is None
        else {
            "number": receipt.number,
            "amount_vnd": receipt.amount_vnd,
            "fees": [fee.model_dump(mode="json") for fee in receipt.fees],
            "payment_reference": receipt.payment_reference,
            "paid_at": receipt.paid_at.isoformat(),
            "issued_at": receipt.issued_at.isoformat(),
        },
        "refund": None
        if refund is None
        else {
            "key": refund.key,
            "reason": refund.reason,
            "requested_at": refund.requested_at.isoformat(),
            "reference": refund.reference,
            "refunded_at": None if refund.refunded_at is None else refund.refunded_at.isoformat(),
            "refused": refund.refused,
            "refused_at": None if refund.refused_at is None else refund.refused_at.isoformat(),
        },
        "closed_reason": payment.closed_reason,
    }


def _receipt(kept: dict[str, Any]) -> Receipt:
    return Receipt(
        number=kept["number"],
        amount_vnd=kept["amount_vnd"],
        fees=tuple(Fee.model_validate(fee) for fee in kept["fees"]),
        payment_reference=kept["payment_reference"],
        paid_at=datetime.fromisoformat(kept["paid_at"]),
        issued_at=datetime.fromisoformat(kept["issued_at"]),
    )


def _refund(kept: dict[str, Any]) -> Refund:
    refunded_at, refused_at = kept["refunded_at"], kept.get("refused_at")  # rows from before refusals: none
    return Refund(
        key=kept["key"],
        reason=kept["reason"],
        requested_at=datetime.fromisoformat(kept["requested_at"]),
        reference=kept["reference"],
        refunded_at=None if refunded_at is None else datetime.fromisoformat(refunded_at),
        refused=kept.get("refused"),
        refused_at=None if refused_at is None else datetime.fromisoformat(refused_at),
    )
