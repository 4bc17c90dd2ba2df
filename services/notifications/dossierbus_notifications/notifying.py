"""Who is told what about each event. Handlers queue one notification per event, channel and recipient
in the consumer's transaction (the unique key makes a redelivered event a no-op even past the inbox);
the dispatcher (`delivery.py`) sends them.

- The applicant, when the event has a template (`messages.py`): by email, and by SMS as well when they
  gave a phone number and an SMS gateway is configured.
- Agency systems with a webhook in the agency directory, for every event after submission: the agency
  the event names (`agency_code`: the one assigned the step, or that reported); for an event that names
  none (routing's own decisions, such as acceptance, rejection at verification or withdrawal, and
  overdue dossiers) every agency of the procedure: the catalogue's agency of each step, or the agency
  the directory names as handling that step for the dossier's receiving unit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_notifications.adapters.tables import notifications, recipients
from dossierbus_notifications.messages import Message, Templates
from dossierbus_shared.catalogue import Catalogue, default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import SPECVERSION, Envelope
from dossierbus_shared.events import TYPE_PREFIX, DossierStatusChanged, DossierSubmitted, Event
from dossierbus_shared.unit_of_work import UnitOfWork

AWAITING_RECIPIENT = "awaiting_recipient"
"""A status change overtook the dossier's submission (different topics); filled in when it arrives.
Its message is in both languages: the applicant's preference is not known yet."""


def template_key(envelope: Envelope[Any]) -> str:
    """`dossier.submitted`, `dossier.overdue`; status changes by status: `dossier.status-changed.accepted`.
    (Other events may carry a status too, the one the dossier had; only a status change is about it.)"""
    key = re.sub(r"\.v\d+$", "", envelope.type.removeprefix(TYPE_PREFIX))
    if isinstance(envelope.data, DossierStatusChanged):
        return f"{key}.{envelope.data.status}"
    return key


def cloud_event_json(envelope: Envelope[Any]) -> str:
    """The event in CloudEvents structured mode: what a webhook carries."""
    event: Event = envelope.data
    return json.dumps(
        {
            "specversion": SPECVERSION,
            "id": str(envelope.id),
            "source": envelope.source,
            "type": envelope.type,
            "subject": envelope.subject,
            "time": envelope.time.isoformat(),
            "datacontenttype": "application/json",
            "dataschema": event.schema_url(),
            "data": event.model_dump(mode="json"),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class WebhookAudience:
    directory: AgencyDirectory
    catalogue: Catalogue

    def subscribed(self, agency_code: str) -> bool:
        entry = self.directory.agency(agency_code)
        return bool(entry and entry.webhook_url)

    def agencies(
        self, *, agency_code: str | None, procedure_code: str | None, receiving_unit: str | None
    ) -> list[str]:
        if agency_code:
            candidates = {agency_code}
        else:
            procedure = self.catalogue.procedure(procedure_code) if procedure_code else None
            steps = procedure.steps if procedure else []
            candidates = {
                self.directory.handler(procedure_code or "", step.id, receiving_unit) or step.agency
                for step in steps
            }
        return sorted(code for code in candidates if self.subscribed(code))


class Notifier:
    def __init__(
        self,
        templates: Templates,
        audience: WebhookAudience | None = None,
        *,
        sms: bool = False,
    ) -> None:
        self.templates = templates
        self.audience = audience or WebhookAudience(AgencyDirectory.of([]), default_catalogue())
        self.sms = sms

    async def on_submitted(self, work: UnitOfWork, envelope: Envelope[DossierSubmitted]) -> None:
        session = work.session
        submitted = envelope.data
        applicant = submitted.applicant
        await session.execute(
            insert(recipients)
            .values(
                dossier_id=submitted.dossier_id,
                dossier_code=submitted.dossier_code,
                applicant_personal_id=applicant.personal_id,
                email=applicant.email,
                phone=applicant.phone,
                language=applicant.language,
                procedure_code=submitted.procedure_code,
                receiving_unit=submitted.receiving_unit,
            )
            .on_conflict_do_nothing()
        )
        await session.execute(
            update(notifications)
            .where(
                notifications.c.dossier_id == submitted.dossier_id,
                notifications.c.status == AWAITING_RECIPIENT,
            )
            .values(recipient=applicant.email or "", **_deliverable(applicant.email, "email"))
        )
        await self.on_event(work, envelope)

    async def on_event(self, work: UnitOfWork, envelope: Envelope[Any]) -> None:
        """Queue what this event tells the applicant and the agencies."""
        session = work.session
        event: Event = envelope.data
        dossier = (
            await session.execute(select(recipients).where(recipients.c.dossier_id == event.dossier_id))
        ).first()
        procedure_code = getattr(event, "procedure_code", None) or (
            dossier.procedure_code if dossier else None
        )
        message = self.templates.render(
            template_key(envelope),
            event.dossier_code,
            procedure_code=procedure_code,
            language=dossier.language if dossier else None,
            values=event.model_dump(),
        )
        if message is not None:
            await self._tell_applicant(session, envelope, dossier, message)
        if not isinstance(event, DossierSubmitted):  # agencies learn of new dossiers from their inbox
            for agency in self.audience.agencies(
                agency_code=getattr(event, "agency_code", None),
                procedure_code=procedure_code,
                receiving_unit=dossier.receiving_unit if dossier else None,
            ):
                await self._queue(
                    session,
                    envelope,
                    "webhook",
                    agency,
                    subject=f"{template_key(envelope)} {event.dossier_code}",
                    body=cloud_event_json(envelope),
                    status={"status": "pending"},
                )

    async def _tell_applicant(
        self, session: AsyncSession, envelope: Envelope[Any], dossier: Row[Any] | None, message: Message
    ) -> None:
        if dossier is None:
            await self._queue(
                session, envelope, "email", "", message.subject, message.body, {"status": AWAITING_RECIPIENT}
            )
            return
        await self._queue(
            session,
            envelope,
            "email",
            dossier.email or "",
            message.subject,
            message.body,
            _deliverable(dossier.email, "email"),
        )
        if self.sms and dossier.phone:
            await self._queue(
                session, envelope, "sms", dossier.phone, message.subject, message.sms, {"status": "pending"}
            )

    @staticmethod
    async def _queue(
        session: AsyncSession,
        envelope: Envelope[Any],
        channel: str,
        recipient: str,
        subject: str,
        body: str,
        status: dict[str, str],
    ) -> None:
        event: Event = envelope.data
        values: dict[str, UUID | str] = {
            "event_id": envelope.id,
            "event_type": envelope.type,
            "dossier_id": event.dossier_id,
            "dossier_code": event.dossier_code,
            "channel": channel,
            "recipient": recipient,
            "subject": subject,
            "body": body,
            **status,
        }
        await session.execute(insert(notifications).values(values).on_conflict_do_nothing())


def _deliverable(address: str | None, channel: str) -> dict[str, str]:
    if address:
        return {"status": "pending"}
    return {"status": "undeliverable", "last_error": f"the applicant gave no address for {channel}"}
