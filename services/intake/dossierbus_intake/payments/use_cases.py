"""What intake does with payments, each in its own transaction: open one at the platform for the applicant,
apply the platform's word on an order (a verified callback, or a query when the callback is lost) and
refund a dossier refused before processing. `dossier.paid` and `dossier.refunded` are staged in the
transaction that records them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from dossierbus_intake.payments.domain.payment import (
    Notice,
    NotThisOrder,
    Outcome,
    Payment,
    PaymentState,
    WrongAmount,
)
from dossierbus_intake.payments.metrics import REFUNDS_REFUSED
from dossierbus_intake.payments.platform import OrderRequest, PaymentPlatform, PlatformError
from dossierbus_intake.unit_of_work import IntakeUnitOfWork, UnitsOfWork
from dossierbus_shared.auth import Caller, Role
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.telemetry import mark_dossier

log = logging.getLogger(__name__)
OPERATOR = Caller(Role.OPERATOR, Role.OPERATOR.value)

T = TypeVar("T")
Clock = Callable[[], datetime]


class UnknownDossier(Exception):
    """No such dossier, or none the caller may see."""


class NothingOwed(Exception):
    """The dossier owes no fees (no payment was requested for it)."""


class PaymentsOff(Exception):
    """No payment platform is configured (PAYMENT_PLATFORM_URL)."""


class UnknownOrder(Exception):
    """No payment has this order open."""


@dataclass(frozen=True)
class OrderLinks:
    callback_url: str
    """Where the platform sends its signed callbacks: intake's POST /payments/callback."""
    return_url: str
    """Where the platform sends the citizen back; `{dossier_code}` is replaced."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Payments:
    def __init__(
        self,
        units: UnitsOfWork,
        platform: PaymentPlatform | None,
        links: OrderLinks,
        *,
        reconcile_after_s: float = 900.0,
        batch_size: int = 100,
        clock: Clock = utc_now,
    ) -> None:
        self.units = units
        self.platform = platform
        self.links = links
        self.reconcile_after = timedelta(seconds=reconcile_after_s)
        self.batch_size = batch_size
        self.clock = clock
        self._reconciled_up_to: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.platform is not None

    async def find(self, code: str, caller: Caller) -> Payment:
        """The dossier's payment, for its applicant or the portal (read, not locked). UnknownDossier,
        NothingOwed."""

        async def find() -> Payment:
            async with self.units() as uow:
                return await self._payment(uow, code, caller, lock=False)

        return await retry_dropped_connection(find)

    async def open(self, code: str, caller: Caller) -> Payment:
        """Open the payment at the platform, unless one is open (pending) or it is paid: then it is as it
        is. The payment stays locked while the platform is asked, so two calls at once open one order.
        PaymentsOff, UnknownDossier, NothingOwed, DossierClosed, PlatformError."""
        platform = self.platform
        if platform is None:
            raise PaymentsOff()

        async def open_() -> Payment:
            async with self.units() as uow:
                payment = await self._payment(uow, code, caller)
                if payment.state is not PaymentState.AWAITING_PAYMENT:
                    return payment
                order_id = payment.order_to_open()
                order = OrderRequest(
                    order_id=order_id,
                    amount_vnd=payment.amount_vnd,
                    description=f"Le phi ho so {code}",  # ASCII: some platforms' descriptions take no more
                    return_url=self.links.return_url.replace("{dossier_code}", code),
                    callback_url=self.links.callback_url,
                )
                opened = await platform.create(order)
                payment.opened(order_id, opened.payment_url, self.clock())
                return payment

        return await retry_dropped_connection(open_)

    async def settle(self, notice: Notice) -> tuple[Payment, Outcome]:
        """Apply the platform's word on an order. UnknownOrder, NotThisOrder, WrongAmount: nothing changes."""

        async def settle() -> tuple[Payment, Outcome]:
            async with self.units() as uow:
                payment = await uow.payments.by_order(notice.order_id)
                if payment is None:
                    raise UnknownOrder(notice.order_id)
                mark_dossier(payment.dossier_code, str(payment.dossier_id))
                outcome = payment.settle(notice, self.clock())
                uow.publish(payment)
            return payment, outcome

        return await retry_dropped_connection(settle)

    async def reconcile(self) -> int:
        """Ask the platform about payments pending longer than PAYMENT_RECONCILE_AFTER_S (their callback
        may be lost) and apply its answers, a batch at a time; how many changed. One failing order does not
        stop the others."""
        platform = self.platform
        if platform is None:
            return 0
        async with self.units() as uow:
            pending = await uow.payments.pending_since(
                self.clock() - self.reconcile_after, self.batch_size, after=self._reconciled_up_to
            )
        # The next run goes on after the last one asked about, so orders the platform keeps pending never
        # hold back the newer ones; once the end is reached, it starts from the oldest again.
        self._reconciled_up_to = pending[-1][1] if len(pending) == self.batch_size else None
        changed = 0
        for code, _ in pending:
            order_id = await self._read(code, lambda payment: payment.order_id)
            if order_id is None:
                continue
            try:
                notice = await platform.query(order_id)
                _, outcome = await self.settle(notice)
            except (PlatformError, UnknownOrder, NotThisOrder, WrongAmount) as error:
                log.warning("reconciling %s: %s", code, error)
                continue
            changed += outcome is Outcome.APPLIED
        return changed

    async def refund_due(self) -> int:
        """Ask the platform to refund every payment waiting for its refund (the same key each time, so a
        repeated request refunds once); how many were refunded. Those it does not answer wait for the next
        run."""
        platform = self.platform
        if platform is None:
            return 0
        async with self.units() as uow:
            codes = await uow.payments.refunds_due(self.batch_size)
        refunded = 0
        for code in codes:
            due = await self._read(code, _refund_request)
            if due is None:
                continue
            order_id, key, amount, reason = due
            try:
                answer = await platform.refund(order_id, key, amount, reason)
            except PlatformError as error:
                if not error.refused_for_good:
                    log.warning("refunding %s: %s", code, error)
                else:
                    await self._refund_refused(code, str(error))
                continue
            if answer.done:
                refunded += await self._refunded(code, answer.reference)
        return refunded

    async def refunds_refused(self) -> list[Payment]:
        """The payments whose refund the platform refused for good: they wait for an operator."""

        async def read() -> list[Payment]:
            async with self.units() as uow:
                return await uow.payments.refunds_refused(self.batch_size)

        return await retry_dropped_connection(read)

    async def retry_refund(self, code: str) -> Payment:
        """An operator settled a refused refund with the platform: ask for it again at the next round.
        UnknownDossier, NothingOwed, NoRefundDue."""

        async def retry() -> Payment:
            async with self.units() as uow:
                payment = await self._payment(uow, code, OPERATOR)
                payment.retry_refund()
                log.info("refund of %s asked for again by an operator", code)
                return payment

        return await retry_dropped_connection(retry)

    async def _refund_refused(self, code: str, refusal: str) -> None:
        log.error("the payment platform refused to refund %s: %s; an operator must act", code, refusal)
        async with self.units() as uow:
            payment = await uow.payments.by_code(code)
            if payment is None:
                return
            mark_dossier(code, str(payment.dossier_id))
            if payment.refund_refused(refusal, self.clock()) is Outcome.APPLIED:
                uow.after_commit(REFUNDS_REFUSED.inc)

    async def _refunded(self, code: str, reference: str) -> bool:
        async with self.units() as uow:
            payment = await uow.payments.by_code(code)
            if payment is None:
                return False
            mark_dossier(code, str(payment.dossier_id))
            outcome = payment.refunded(reference, self.clock())
            uow.publish(payment)
        return outcome is Outcome.APPLIED

    async def _read(self, code: str, read: Callable[[Payment], T]) -> T | None:
        async with self.units() as uow:
            payment = await uow.payments.by_code(code)
            return None if payment is None else read(payment)

    async def _payment(
        self, uow: IntakeUnitOfWork, code: str, caller: Caller, *, lock: bool = True
    ) -> Payment:
        dossier = await uow.dossiers.by_code(code)
        if dossier is None or not (
            caller.role in (Role.PORTAL, Role.OPERATOR) or caller.is_citizen(dossier.applicant_personal_id)
        ):
            raise UnknownDossier(code)
        mark_dossier(code, str(dossier.id))
        payment = await uow.payments.by_code(code, lock=lock)
        if payment is None:
            raise NothingOwed(code)
        return payment


def _refund_request(payment: Payment) -> tuple[str, str, int, str] | None:
    if payment.state is not PaymentState.REFUND_PENDING or payment.refund is None or payment.order_id is None:
        return None
    return payment.order_id, payment.refund.key, payment.amount_vnd, payment.refund.reason
