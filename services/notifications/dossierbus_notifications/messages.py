"""What a citizen is told: Jinja2 templates kept as files in `templates/`, in Vietnamese and English.

A template is found by event type (`dossier.submitted`, `dossier.overdue`; status changes by status,
`dossier.status-changed.accepted`) and language, a procedure's own template first
(`templates/procedures/<procedure code>/<key>.<lang>.j2`) and the event type's otherwise
(`templates/<key>.<lang>.j2`). An event with no template tells the citizen nothing. Each template has
the blocks `subject`, `body` and `sms` (the short text; the subject if absent).

The applicant's `language` picks one language; without it the message is Vietnamese with English below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2

from dossierbus_shared.catalogue import Catalogue, Procedure, default_catalogue
from dossierbus_shared.result_urls import https_host

LANGUAGES = ("vi", "en")
DAYS = ("due_date", "previous_due_date", "original_due_date", "supplement_due_date")
"""The dates templates may show; each is always defined (empty when the event has none)."""
TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_CITIZEN_PAGE_URL = "http://127.0.0.1:8001/citizen"
"""The citizen page (served by intake) in the development stack: where the applicant pays."""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    sms: str


def format_day(day: date | None, language: str) -> str:
    if day is None:
        return ""
    return day.strftime("%d/%m/%Y") if language == "vi" else day.isoformat()


def format_vnd(amount: int, language: str) -> str:
    """An amount of dong as the language writes it: `10.000 đồng`, `VND 10,000`."""
    if language == "vi":
        return f"{amount:,} đồng".replace(",", ".")
    return f"VND {amount:,}"


class Templates:
    def __init__(
        self,
        directory: Path = TEMPLATES,
        catalogue: Catalogue | None = None,
        *,
        citizen_page_url: str = DEFAULT_CITIZEN_PAGE_URL,
    ) -> None:
        """`citizen_page_url`: where the applicant follows the dossier and pays its fees (the letters name
        it)."""
        self.catalogue = catalogue or default_catalogue()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            # Messages are plain text; an HTML template (`.html.j2`) would be escaped.
            autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False, default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # the files ship with the service: compile each once, never stat again
        )
        self.env.globals["citizen_page_url"] = citizen_page_url
        self._chosen: dict[tuple[str, ...], jinja2.Template | None] = {}

    def render(
        self,
        key: str,
        dossier_code: str,
        *,
        procedure_code: str | None,
        language: str | None,
        values: Mapping[str, Any],
    ) -> Message | None:
        """The message for this event, or None if the citizen is not told about it."""
        wanted = [language] if language in LANGUAGES else list(LANGUAGES)
        parts = [
            part
            for lang in wanted
            if (part := self._render_one(key, lang, dossier_code, procedure_code, values)) is not None
        ]
        if not parts:
            return None
        return Message(
            subject=f"[{dossier_code}] " + " / ".join(part.subject for part in parts),
            body="\n\n".join(part.body for part in parts) + "\n",
            sms="\n".join(part.sms for part in parts),
        )

    def _render_one(
        self,
        key: str,
        language: str,
        dossier_code: str,
        procedure_code: str | None,
        values: Mapping[str, Any],
    ) -> Message | None:
        names = [f"{key}.{language}.j2"]
        if procedure_code:
            names.insert(0, f"procedures/{procedure_code}/{key}.{language}.j2")
        template = self._template(tuple(names))
        if template is None:
            return None
        context = template.new_context(self._context(language, dossier_code, procedure_code, values))

        def block(name: str) -> str:
            return "".join(template.blocks[name](context)).strip()

        subject = block("subject")
        return Message(
            subject=subject,
            body=block("body"),
            sms=block("sms") if "sms" in template.blocks else subject,
        )

    def _template(self, names: tuple[str, ...]) -> jinja2.Template | None:
        """The first of these templates that exists; found once (jinja2 caches templates it loaded, not
        those it looked for in vain, which cost a look at the disk each time)."""
        if names not in self._chosen:
            try:
                self._chosen[names] = self.env.select_template(names)
            except jinja2.TemplatesNotFound:
                self._chosen[names] = None
        return self._chosen[names]

    def _context(
        self, language: str, dossier_code: str, procedure_code: str | None, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        procedure = self.catalogue.procedure(procedure_code) if procedure_code else None
        agency_code = values.get("agency_code")
        agency = self.catalogue.agencies.get(agency_code) if agency_code else None
        return {
            **values,
            # Every day as the language writes it (datetimes are left alone), empty when absent.
            **{name: format_day(_day(values.get(name)), language) for name in DAYS},
            "dossier_code": dossier_code,
            "procedure": _name(procedure.name, language) if procedure else (procedure_code or ""),
            "agency": _name(agency.name, language) if agency else (agency_code or ""),
            "note": values.get("note") or "",
            "legal_basis": values.get("legal_basis") or "",
            "reason": values.get("reason") or "",
            "national_status": values.get("national_status"),
            "result_documents": https_documents(values.get("result_documents")),
            **self._money(language, procedure, values),
        }

    def _money(self, language: str, procedure: Procedure | None, values: Mapping[str, Any]) -> dict[str, Any]:
        """Amounts as the language writes them, and each fee line with its step's and agency's names."""
        money: dict[str, Any] = {
            name: format_vnd(values[name], language)
            for name in ("amount_vnd",)
            if isinstance(values.get(name), int)
        }
        fees = values.get("fees")
        if isinstance(fees, list):
            lines = []
            for fee in fees:
                step = procedure.step(fee["step"]) if procedure else None
                agency = self.catalogue.agencies.get(fee["agency_code"])
                if step and step.name:
                    step_name = _name(step.name, language)
                elif procedure and not procedure.linked:  # a one-step procedure's step is the procedure
                    step_name = _name(procedure.name, language)
                else:
                    step_name = fee["step"]
                lines.append(
                    {
                        "step": step_name,
                        "agency": _name(agency.name, language) if agency else fee["agency_code"],
                        "fee": format_vnd(fee["fee_vnd"], language),
                    }
                )
            money["fee_lines"] = lines
        return money


def https_documents(documents: Any) -> list[Mapping[str, Any]]:
    """The result documents a message may show: https links only. Routing already refuses any other
    link from an agency; this keeps a `javascript:` or plain-http link out of a citizen's e-mail even
    if one ever reached the bus."""
    if not isinstance(documents, list):
        return []
    return [
        document
        for document in documents
        if isinstance(document, Mapping)
        and isinstance(document.get("url"), str)
        and https_host(document["url"]) is not None
    ]


def _day(value: Any) -> date | None:
    return value if isinstance(value, date) and not isinstance(value, datetime) else None


def _name(names: Mapping[str, str], language: str) -> str:
    return names.get(language) or names.get("vi") or next(iter(names.values()), "")
