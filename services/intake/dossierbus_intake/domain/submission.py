"""What a valid submission is, its dossier code and appointment date; a submission decided in memory."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dossierbus_shared.calendar import Deadline, WorkingCalendar
from dossierbus_shared.catalogue import Catalogue, Procedure
from dossierbus_shared.events import Applicant, Channel, DossierSubmitted

UNIT_IDENTIFIER_PATTERN = r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"
"""Unit identifiers under QCVN 102:2016/BTTTT, e.g. 000.00.01.H26."""


class SubmissionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(min_length=1, max_length=32)
    channel: Channel = Field(
        default=Channel.DIRECT,
        description="How the dossier was submitted. Absent: direct (at the counter), as the national portal "
        "counts a dossier without a channel (KenhThucHien 1 or null), so it never inflates the online rate",
    )
    receiving_unit: str | None = Field(
        default=None,
        pattern=UNIT_IDENTIFIER_PATTERN,
        description="The one-stop unit receiving the dossier (QCVN 102 identifier); this intake's default "
        "unit when absent. It prefixes the dossier code and decides which agency handles each step.",
    )
    applicant: Applicant
    form: dict[str, Any]
    prefilled: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Fields the portal filled from the registry's prefill (e.g. `applicant.full_name`, "
        "`form.place_of_birth`): the applicant did not type them. Counted for the once-only rate.",
    )

    def fingerprint(self) -> str:
        """Identifies the request body, to tell a retry from a different request under the same key."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class SubmissionRefused(Exception):
    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


def validate_submission(
    request: SubmissionRequest, catalogue: Catalogue, units: Collection[str]
) -> tuple[Procedure, dict[str, Any]]:
    """The procedure and the form as that procedure defines it, or SubmissionRefused naming each field.
    `units`: the receiving units this intake serves."""
    if request.receiving_unit is not None and request.receiving_unit not in units:
        raise SubmissionRefused(
            f"receiving_unit {request.receiving_unit!r} is not a unit this intake serves",
            [{"field": "receiving_unit", "message": f"served units: {', '.join(units)}", "type": "unknown"}],
        )
    procedure = catalogue.procedure(request.procedure_code)
    if procedure is None:
        raise SubmissionRefused(
            f"procedure_code {request.procedure_code!r} is not a procedure in the catalogue",
            [{"field": "procedure_code", "message": "no such procedure in the catalogue", "type": "unknown"}],
        )
    submitted = {f"applicant.{name}" for name in request.applicant.model_fields_set} | {
        f"form.{name}" for name in request.form
    }
    unknown = [name for name in request.prefilled if name not in submitted]
    if unknown:
        raise SubmissionRefused(
            f"prefilled names fields the submission does not contain: {', '.join(unknown)}",
            [
                {"field": "prefilled", "message": f"not a submitted field: {name}", "type": "unknown"}
                for name in unknown
            ],
        )
    try:
        form = procedure.validate_form(request.form)
    except ValidationError as error:
        errors = [
            {
                "field": ".".join(["form", *(str(part) for part in item["loc"])]),
                "message": item["msg"],
                "type": item["type"],
            }
            for item in error.errors()
        ]
        fields = ", ".join(item["field"] for item in errors)
        raise SubmissionRefused(f"the form of {procedure.code} is invalid: {fields}", errors) from None
    return procedure, form.model_dump(mode="json")


SEQUENCE_DIGITS = 4
"""A daily sequence is zero-padded to this many digits, never cut to it."""


def dossier_code(receiving_unit: str, day: date, sequence: int) -> str:
    """`<unit identifier>-<YYMMDD>-<daily sequence, 4+ digits>` (Circular 01/2018/TT-VPCP, Art. 19)."""
    if sequence < 1:
        raise ValueError(f"a daily sequence starts at 1, got {sequence}")
    return f"{dossier_code_prefix(receiving_unit, day)}{sequence:0{SEQUENCE_DIGITS}d}"


def dossier_code_prefix(receiving_unit: str, day: date) -> str:
    """The codes of one unit's dossiers of one day share it; the daily sequence follows."""
    return f"{receiving_unit}-{day:%y%m%d}-"


def appointment(
    calendar: WorkingCalendar, procedure: Procedure, channel: Channel, received_at: datetime
) -> Deadline:
    """The appointment (ngày hẹn trả) under the procedure's time limit for this channel."""
    return calendar.deadline(received_at, procedure.limit_for(channel))


def appointment_date(calendar: WorkingCalendar, procedure: Procedure, received_at: datetime) -> date:
    """The appointment date of a dossier submitted at the counter."""
    return appointment(calendar, procedure, Channel.DIRECT, received_at).due_date


@dataclass(frozen=True)
class Receipt:
    """The appointment slip (giấy tiếp nhận và hẹn trả kết quả) a submission is answered with."""

    dossier_id: uuid.UUID
    dossier_code: str
    procedure_code: str
    submitted_at: datetime
    appointment_date: date
    deadline_provisional: bool = False
    tracking_secret: str | None = None
    """None only for a retry answered after TRACKING_SECRET_KEY changed (see dossierbus_intake.tracking)."""

    def as_json(self) -> dict[str, Any]:
        tracking = {"tracking_secret": self.tracking_secret} if self.tracking_secret else {}
        return {
            "dossier_id": str(self.dossier_id),
            "dossier_code": self.dossier_code,
            "procedure_code": self.procedure_code,
            "status": "received",
            "submitted_at": self.submitted_at.isoformat(),
            "appointment_date": self.appointment_date.isoformat(),
            "deadline_provisional": self.deadline_provisional,
            **tracking,
        }


@dataclass(frozen=True)
class Submission:
    """A valid submission, decided in memory: everything about the new dossier but the daily sequence
    number that completes its code, which the store hands out as it keeps the dossier."""

    dossier_id: uuid.UUID
    idempotency_key: str
    fingerprint: str
    receiving_unit: str
    procedure_code: str
    channel: Channel
    applicant: Applicant
    form: dict[str, Any]
    prefilled: list[str]
    submitted_at: datetime
    day: date
    """The receiving unit's local date: the one in the dossier code."""
    deadline: Deadline
    tracking_secret: str

    @classmethod
    def receive(
        cls,
        request: SubmissionRequest,
        idempotency_key: str,
        *,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        units: list[str],
        received_at: datetime,
        dossier_id: uuid.UUID,
        tracking_secret: str,
    ) -> Submission:
        """The submission, or SubmissionRefused naming each field at fault. `units`: the receiving units
        this intake serves, its default first."""
        procedure, form = validate_submission(request, catalogue, units)
        return cls(
            dossier_id=dossier_id,
            idempotency_key=idempotency_key,
            fingerprint=request.fingerprint(),
            receiving_unit=request.receiving_unit or units[0],
            procedure_code=procedure.code,
            channel=request.channel,
            applicant=request.applicant,
            form=form,
            prefilled=request.prefilled,
            submitted_at=received_at,
            day=calendar.local_date(received_at),
            deadline=appointment(calendar, procedure, request.channel, received_at),
            tracking_secret=tracking_secret,
        )

    @property
    def source(self) -> str:
        """The CloudEvents source of the events about this dossier: the unit that received it."""
        return f"urn:dossierbus:intake:{self.receiving_unit}"

    def submitted(self, code: str) -> DossierSubmitted:
        """The event announcing the dossier, once numbered `code`."""
        return DossierSubmitted(
            dossier_id=self.dossier_id,
            dossier_code=code,
            procedure_code=self.procedure_code,
            receiving_unit=self.receiving_unit,
            channel=self.channel,
            applicant=self.applicant,
            form=self.form,
            prefilled=self.prefilled,
            submitted_at=self.submitted_at,
            due_date=self.deadline.due_date,
            deadline_provisional=self.deadline.provisional,
            tracking_secret=self.tracking_secret,
        )

    def receipt(self, code: str) -> Receipt:
        return Receipt(
            self.dossier_id,
            code,
            self.procedure_code,
            self.submitted_at,
            self.deadline.due_date,
            self.deadline.provisional,
            self.tracking_secret,
        )
