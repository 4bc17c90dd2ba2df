from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model, model_validator

from dossierbus_shared.bounds import MAX_BIGINT, BoundedDate, Int64
from dossierbus_shared.calendar import TimeLimit
from dossierbus_shared.events import AGENCY_CODE_PATTERN, Channel
from dossierbus_shared.identifiers import PersonalId, TaxCode

FeeVnd = Annotated[StrictInt, Field(ge=0, le=MAX_BIGINT)]
"""A fee in whole Vietnamese dong (the dong has no smaller unit): a YAML integer, never 1.5, "10000" or
true; 0 means free."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(Strict):
    code: str = Field(pattern=AGENCY_CODE_PATTERN, description="Short code used in topic names")
    identifier: str = Field(description="Unit identifier under QCVN 102:2016/BTTTT")
    name: dict[str, str]
    sector: str


class LegalBasis(Strict):
    reference: str
    effective_from: date


class FormField(Strict):
    type: Literal["string", "date", "integer", "boolean", "enum", "personal_id", "tax_code"]
    required: bool = True
    max_length: int | None = None
    values: list[str] | None = None
    label: dict[str, str] = Field(default_factory=dict)

    def annotation(self) -> Any:
        match self.type:
            case "string":
                return str
            case "date":
                return BoundedDate
            case "integer":
                return Int64
            case "boolean":
                return bool
            case "enum":
                return Literal[tuple(self.values or ())]
            case "personal_id":
                return PersonalId
            case "tax_code":
                return TaxCode


class Step(Strict):
    """One agency's part of a procedure. Steps with no `after` start at once; the others start when every
    step they name has its result, so a procedure is a sequence, a parallel set, or any mix of both."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    agency: str
    name: dict[str, str] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list, description="Steps whose result this step needs first")
    on_rejection: Literal["reject_dossier", "continue"] = Field(
        default="reject_dossier",
        description="What an agency's rejection of this step does: reject the whole dossier (its open "
        "steps are cancelled), or end this step alone (with the steps that need its result) and let "
        "the others finish",
    )
    fee_vnd: FeeVnd = Field(
        default=0,
        description="The fee (lệ phí/phí) paid for this step, in VND, before any step starts; 0: none",
    )


class StepFee(Strict):
    """One fee line of a procedure: the step it pays for and its amount."""

    step: str
    agency: str
    fee_vnd: int


class Procedure(Strict):
    code: str = Field(pattern=r"^\d\.\d{6}$", description="National procedure code (mã TTHC)")
    version: int
    name: dict[str, str]
    legal_basis: list[LegalBasis]
    processing_working_days: int | None = Field(
        default=None, ge=0, description="Shorthand for a time_limit of whole working days"
    )
    time_limit: TimeLimit | None = Field(
        default=None, description="The time limit (thời hạn giải quyết) for every channel, or for paper ones"
    )
    online_time_limit: TimeLimit | None = Field(
        default=None, description="The limit for dossiers submitted online, where the law sets another"
    )
    applicant: Literal["citizen", "business"]
    form: dict[str, FormField]
    national_facts: dict[Literal["population", "business"], list[str]] = Field(
        default_factory=dict,
        description="Facts taken from each national database, never typed: the only fields a lookup for "
        "this procedure may return",
    )
    enterprise_field: str | None = Field(
        default=None, description="The form field holding the enterprise's tax code (business procedures)"
    )
    consent_required: bool = Field(
        default=True, description="Whether lookups for this procedure need the data subject's consent"
    )
    consent_exemption: str | None = Field(
        default=None, description="The legal provision that lets lookups go ahead without consent"
    )
    steps: list[Step] = Field(min_length=1)
    supplement_deadline_working_days: int | None = Field(
        default=None,
        ge=1,
        le=60,
        description="Working days an applicant has to supplement when the agency's request names none; "
        "none: no deadline unless the request or routing's setting gives one",
    )
    extension_max_working_days: int | None = Field(
        default=None,
        ge=0,
        le=120,
        description="How many working days in all the agencies may extend a dossier's due date (form 04); "
        "none: routing's setting",
    )
    fee_vnd: FeeVnd = Field(
        default=0,
        description="The fee of a one-step procedure, in VND (shorthand for its step's fee_vnd); a linked "
        "procedure gives each step its own",
    )

    @model_validator(mode="after")
    def _fees_are_unambiguous(self) -> Procedure:
        if self.fee_vnd and self.linked:
            raise ValueError(
                f"procedure {self.code}: fee_vnd on a linked procedure is ambiguous; give each step its "
                "own fee_vnd (the agency of that step collects it)"
            )
        if self.fee_vnd and self.steps[0].fee_vnd:
            raise ValueError(f"procedure {self.code}: give fee_vnd on the procedure or on its step, not both")
        return self

    def fees(self) -> list[StepFee]:
        """The fees the applicant owes, one per step that has one, in the steps' order (empty: free)."""
        if self.fee_vnd:
            return [StepFee(step=self.steps[0].id, agency=self.steps[0].agency, fee_vnd=self.fee_vnd)]
        return [
            StepFee(step=step.id, agency=step.agency, fee_vnd=step.fee_vnd)
            for step in self.steps
            if step.fee_vnd
        ]

    @property
    def fee_total_vnd(self) -> int:
        return sum(fee.fee_vnd for fee in self.fees())

    @model_validator(mode="after")
    def _steps_form_a_workflow(self) -> Procedure:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"procedure {self.code}: step {step.id!r} appears twice")
            # Naming only earlier steps keeps the graph free of cycles and the file readable top-down.
            for dependency in step.after:
                if dependency not in seen:
                    raise ValueError(
                        f"procedure {self.code} step {step.id}: {dependency!r} must be an earlier step"
                    )
            seen.add(step.id)
        return self

    @model_validator(mode="after")
    def _has_one_time_limit(self) -> Procedure:
        if (self.processing_working_days is None) == (self.time_limit is None):
            raise ValueError(f"procedure {self.code}: give either time_limit or processing_working_days")
        return self

    def limit_for(self, channel: Channel) -> TimeLimit:
        """The time limit that applies to a dossier submitted through `channel`."""
        if channel is Channel.ONLINE and self.online_time_limit is not None:
            return self.online_time_limit
        if self.time_limit is not None:
            return self.time_limit
        return TimeLimit(amount=self.processing_working_days or 0)

    @model_validator(mode="after")
    def _purpose_is_complete(self) -> Procedure:
        if not self.consent_required and not self.consent_exemption:
            raise ValueError(f"procedure {self.code}: lookups without consent need a consent_exemption")
        if "business" in self.national_facts and self.enterprise_field not in self.form:
            raise ValueError(f"procedure {self.code}: business facts need an enterprise_field in the form")
        return self

    def in_effect(self, on: date) -> bool:
        """Whether the procedure has a legal basis in force on that day."""
        return any(basis.effective_from <= on for basis in self.legal_basis)

    def agencies(self) -> set[str]:
        return {step.agency for step in self.steps}

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.steps if step.id == step_id), None)

    @property
    def linked(self) -> bool:
        """Whether the procedure is a linked one (liên thông): more than one agency step."""
        return len(self.steps) > 1

    @functools.cached_property
    def form_model(self) -> type[BaseModel]:
        """A pydantic model of this procedure's form: unknown fields are refused, each field typed.

        Strict, for validating JSON: a date must be an ISO 8601 string, and a number is never taken for
        a date, a boolean or a string. Use `validate_form`. Built once per procedure (building a model
        class costs far more than validating a form with it).
        """
        fields: dict[str, Any] = {}
        for name, spec in self.form.items():
            annotation = spec.annotation()
            if spec.required:
                fields[name] = (annotation, Field(..., max_length=spec.max_length))
            else:
                fields[name] = (annotation | None, Field(None, max_length=spec.max_length))
        return create_model(
            f"Form_{self.code.replace('.', '_')}",
            __config__=ConfigDict(extra="forbid", strict=True),
            **fields,
        )

    def validate_form(self, form: Mapping[str, Any]) -> BaseModel:
        """The form, typed; a pydantic ValidationError naming each wrong field otherwise."""
        return self.form_model.model_validate_json(json.dumps(form))


class Catalogue(Strict):
    agencies: dict[str, Agency]
    procedures: dict[str, Procedure]

    @model_validator(mode="after")
    def _steps_name_known_agencies(self) -> Catalogue:
        for procedure in self.procedures.values():
            for step in procedure.steps:
                if step.agency not in self.agencies:
                    raise ValueError(
                        f"procedure {procedure.code} step {step.id}: unknown agency {step.agency!r}"
                    )
        return self

    def procedure(self, code: str) -> Procedure | None:
        return self.procedures.get(code)


def load_catalogue(directory: Path | None = None) -> Catalogue:
    root = Path(directory) if directory else Path(str(resources.files("dossierbus_shared.catalogue")))
    agencies = [Agency.model_validate(item) for item in _yaml(root / "agencies.yaml")["agencies"]]
    procedures = [
        Procedure.model_validate(_yaml(path)) for path in sorted((root / "procedures").glob("*.yaml"))
    ]
    return Catalogue(
        agencies={agency.code: agency for agency in agencies},
        procedures={procedure.code: procedure for procedure in procedures},
    )


@cache
def default_catalogue() -> Catalogue:
    return load_catalogue()


# libyaml's safe loader where PyYAML was built with it (its wheels are): the same data, eight times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text("utf-8"), Loader=_YAML_LOADER)
