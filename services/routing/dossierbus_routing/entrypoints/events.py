"""Routing's event handlers: each takes the batch's unit of work and one event, and runs a command on the
dossier it names (or moves the Decision 766 record): the dossiers were loaded for the whole batch
beforehand, and what the commands cause is written once after the batch.

- `dossier.verified`: the dossier arrives (accepted and its first steps assigned, or rejected), and its
  Decision 766 record opens;
- `dossier.status-reported` (an agency's, authenticated): applied to its step, or refused and recorded;
- `dossier.extension-requested` (an agency's, authenticated): the due date moves, or the request is
  refused and recorded;
- `dossier.rated`: the 766 satisfaction rating;
- `dossier.paid` (intake's): a dossier held in financial obligation is taken on (its steps assigned), or
  the payment is recorded as refused or ignored; the 766 record notes it paid online;
- `dossier.refunded` (intake's): recorded on the dossier's timeline.

Routing's own status changes and payment requests are not read back: the 766 records follow them in the
transaction that publishes them (unit_of_work.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dossierbus_routing.domain import Context, Dossier, UnknownProcedure
from dossierbus_routing.domain.indicator_record import IndicatorRecord
from dossierbus_routing.entrypoints.report_auth import AgencyReport, ReportAuthenticator
from dossierbus_routing.unit_of_work import RoutingUnitOfWork, UnitOfWorkFactory
from dossierbus_shared.consumer import EventConsumer, PermanentError
from dossierbus_shared.contract.kit import answers_the_kit
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    DossierExtensionRequested,
    DossierPaid,
    DossierPaymentRequested,
    DossierRated,
    DossierRefunded,
    DossierStatusReported,
    DossierVerified,
    Event,
)
from dossierbus_shared.telemetry import current_trace_headers

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[RoutingUnitOfWork, Envelope[E]], Awaitable[None]]


class EventHandlers:
    def __init__(self, context: Context, unit_of_work: UnitOfWorkFactory) -> None:
        """`unit_of_work` opens one for work outside the consumer's batches (a refusal)."""
        self.context = context
        self.unit_of_work = unit_of_work

    def register(self, consumer: EventConsumer[RoutingUnitOfWork], directory: AgencyDirectory) -> None:
        """Consume with these handlers; agencies' reports are authenticated against the directory first."""
        authenticate = ReportAuthenticator(directory, refused=self.record_refusal)
        for event_type, handler in self.by_type().items():
            reported = event_type in (DossierStatusReported, DossierExtensionRequested)
            consumer.on(event_type, authenticate=authenticate if reported else None)(handler)
        # Its own payment requests, on dossier.payments with intake's payments: the 766 records followed
        # them as they were published (unit_of_work.py).
        consumer.ignore(DossierPaymentRequested)

    def by_type(self) -> dict[type[Event], Handler[Any]]:
        """The handler of each event type, as the consumer calls it."""
        return {
            DossierVerified: _applied(self.on_verified),
            DossierStatusReported: _applied(self.on_reported),
            DossierExtensionRequested: _applied(self.on_extension_requested),
            DossierRated: _applied(self.on_rated),
            DossierPaid: _applied(self.on_paid),
            DossierRefunded: _applied(self.on_refunded),
        }

    async def on_verified(self, uow: RoutingUnitOfWork, envelope: Envelope[DossierVerified]) -> None:
        verified = envelope.data
        if await uow.dossiers.get(verified.dossier_id) is not None:
            log.warning(
                "dossier %s was already verified; ignoring a second verification", verified.dossier_code
            )
            return
        # The trace the dossier arrived in: a later request about it (a supplement) continues it.
        trace_context = current_trace_headers()
        dossier = Dossier.receive(verified, self.context, event_id=envelope.id, trace_context=trace_context)
        uow.dossiers.add(dossier)
        uow.collect(dossier)
        if await uow.indicators.get(verified.dossier_id) is None:
            uow.indicators.add(
                IndicatorRecord.opened(verified, self.context.catalogue, self.context.calendar)
            )

    async def on_reported(self, uow: RoutingUnitOfWork, envelope: Envelope[DossierStatusReported]) -> None:
        report = envelope.data
        if answers_the_kit(report):  # an agency checking itself with the contract test kit
            log.info("dropped contract-test report on %s from %s", report.dossier_code, envelope.source)
            return
        dossier = await uow.dossiers.get(report.dossier_id)
        if dossier is None:
            raise PermanentError(f"report for unknown dossier {report.dossier_id}")
        refused = dossier.take_report(report, self.context, event_id=envelope.id)
        uow.collect(dossier)
        if refused is not None:
            log.warning("refused report on %s from %s: %s", report.dossier_code, envelope.source, refused)

    async def on_extension_requested(
        self, uow: RoutingUnitOfWork, envelope: Envelope[DossierExtensionRequested]
    ) -> None:
        request = envelope.data
        dossier = await uow.dossiers.get(request.dossier_id)
        if dossier is None:
            raise PermanentError(f"extension request for unknown dossier {request.dossier_id}")
        refused = dossier.extend(request, self.context, event_id=envelope.id)
        uow.collect(dossier)
        if refused is not None:
            log.warning("refused extension of %s from %s: %s", request.dossier_code, envelope.source, refused)

    async def record_refusal(self, envelope: AgencyReport, reason: str) -> None:
        """Put a report refused before it was read (an unauthenticated one) on its dossier's timeline; it
        is refused outside the consumer's batch, so in a unit of work of its own."""
        async with self.unit_of_work() as uow:
            dossier = await uow.dossiers.get(envelope.data.dossier_id)
            if dossier is None:
                return
            if isinstance(envelope.data, DossierExtensionRequested):
                dossier.refuse_extension(envelope.data, reason, self.context, event_id=envelope.id)
            else:
                dossier.refuse_report(envelope.data, reason, self.context, event_id=envelope.id)
            uow.collect(dossier)

    async def on_rated(self, uow: RoutingUnitOfWork, envelope: Envelope[DossierRated]) -> None:
        uow.indicators.rate(envelope.data)

    async def on_paid(self, uow: RoutingUnitOfWork, envelope: Envelope[DossierPaid]) -> None:
        paid = envelope.data
        applied = await self._take_fees(
            uow, paid, "payment", lambda dossier: dossier.pay(paid, self.context, event_id=envelope.id)
        )
        if applied:
            record = await uow.indicators.get(paid.dossier_id)
            if record is not None:
                record.paid()

    async def on_refunded(self, uow: RoutingUnitOfWork, envelope: Envelope[DossierRefunded]) -> None:
        refunded = envelope.data
        await self._take_fees(
            uow,
            refunded,
            "refund",
            lambda dossier: dossier.refund(refunded, self.context, event_id=envelope.id),
        )

    async def _take_fees(
        self,
        uow: RoutingUnitOfWork,
        event: DossierPaid | DossierRefunded,
        what: str,
        take: Callable[[Dossier], str | None],
    ) -> bool:
        """Intake's word on a dossier's fees (`what`: a payment, a refund), taken by the dossier's command
        `take`; whether it was applied (when it was not, why is logged)."""
        dossier = await uow.dossiers.get(event.dossier_id)
        if dossier is None:
            raise PermanentError(f"{what} for unknown dossier {event.dossier_id}")
        not_applied = take(dossier)
        uow.collect(dossier)
        if not_applied is not None:
            log.warning("%s of %s not applied: %s", what, event.dossier_code, not_applied)
        return not_applied is None


def _applied(handler: Handler[E]) -> Handler[E]:
    """The handler, with a dossier whose procedure left the catalogue refused for good (it can never be
    handled)."""

    @functools.wraps(handler)
    async def apply(uow: RoutingUnitOfWork, envelope: Envelope[E]) -> None:
        try:
            await handler(uow, envelope)
        except UnknownProcedure as error:
            raise PermanentError(str(error)) from None

    return apply
