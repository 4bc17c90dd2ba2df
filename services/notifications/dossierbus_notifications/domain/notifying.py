"""Who is told what about each event: one notification per event, channel and recipient.

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

from dossierbus_notifications.domain.notification import AWAITING_RECIPIENT, Notification
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_notifications.messages import Message, Templates
from dossierbus_shared.catalogue import Catalogue, default_catalogue
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import SPECVERSION, Envelope
from dossierbus_shared.events import TYPE_PREFIX, DossierStatusChanged, DossierSubmitted, Event


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

    def notifications(self, envelope: Envelope[Any], recipient: Recipient | None) -> list[Notification]:
        """What this event tells the applicant (`recipient`, when known) and the agencies."""
        event: Event = envelope.data
        procedure_code = getattr(event, "procedure_code", None) or (
            recipient.procedure_code if recipient else None
        )
        message = self.templates.render(
            template_key(envelope),
            event.dossier_code,
            procedure_code=procedure_code,
            language=recipient.language if recipient else None,
            values=event.model_dump(),
        )
        told = [] if message is None else self._to_applicant(envelope, recipient, message)
        if not isinstance(event, DossierSubmitted):  # agencies learn of new dossiers from their inbox
            agencies = self.audience.agencies(
                agency_code=getattr(event, "agency_code", None),
                procedure_code=procedure_code,
                receiving_unit=recipient.receiving_unit if recipient else None,
            )
            subject = f"{template_key(envelope)} {event.dossier_code}"
            told += [
                Notification.queued(envelope, "webhook", agency, subject, cloud_event_json(envelope))
                for agency in agencies
            ]
        return told

    def _to_applicant(
        self, envelope: Envelope[Any], recipient: Recipient | None, message: Message
    ) -> list[Notification]:
        if recipient is None:
            awaiting = Notification.queued(
                envelope, "email", None, message.subject, message.body, status=AWAITING_RECIPIENT
            )
            return [awaiting]
        told = [Notification.queued(envelope, "email", recipient.email, message.subject, message.body)]
        if self.sms and recipient.phone:
            told.append(Notification.queued(envelope, "sms", recipient.phone, message.subject, message.sms))
        return told
