"""Intake rules, free of I/O: what a valid submission is, its dossier code and appointment date."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dossierbus_shared.calendar import Deadline, WorkingCalendar
from dossierbus_shared.catalogue import Catalogue, Procedure
from dossierbus_shared.events import Applicant, Channel

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


def dossier_code(receiving_unit: str, day: date, sequence: int) -> str:
    """`<unit identifier>-<YYMMDD>-<daily sequence, 4+ digits>` (Circular 01/2018/TT-VPCP, Art. 19)."""
    if sequence < 1:
        raise ValueError(f"a daily sequence starts at 1, got {sequence}")
    return f"{receiving_unit}-{day:%y%m%d}-{sequence:04d}"


def appointment(
    calendar: WorkingCalendar, procedure: Procedure, channel: Channel, received_at: datetime
) -> Deadline:
    """The appointment (ngày hẹn trả) under the procedure's time limit for this channel."""
    return calendar.deadline(received_at, procedure.limit_for(channel))


def appointment_date(calendar: WorkingCalendar, procedure: Procedure, received_at: datetime) -> date:
    """The appointment date of a dossier submitted at the counter."""
    return appointment(calendar, procedure, Channel.DIRECT, received_at).due_date
