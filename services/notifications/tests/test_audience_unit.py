"""Which agency systems get a webhook for an event, and how the delivery log shows recipients."""

from __future__ import annotations

from dossierbus_notifications.domain.notifying import WebhookAudience
from dossierbus_notifications.views import masked
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.directory import AgencyDirectory, DirectoryEntry, Handles

BIRTH = "1.001193"


def entry(code: str, webhook: str | None, *, status: str = "active", **extra: object) -> DirectoryEntry:
    return DirectoryEntry.model_validate(
        {
            "code": code,
            "name": {"vi": code},
            "sector": "justice",
            "status": status,
            "inbox_topic": f"agency.{code}.inbox",
            "reports_topic": f"agency.{code}.reports",
            "webhook_url": webhook,
            **extra,
        }
    )


def audience(*entries: DirectoryEntry) -> WebhookAudience:
    return WebhookAudience(AgencyDirectory.of(list(entries)), default_catalogue())


def test_the_agency_an_event_names_gets_it_when_it_has_a_webhook() -> None:
    hooks = audience(entry("justice-hanoi", "https://tp.example.vn/hook"), entry("police-hanoi", None))

    named = hooks.agencies(agency_code="justice-hanoi", procedure_code=BIRTH, receiving_unit=None)
    without_webhook = hooks.agencies(agency_code="police-hanoi", procedure_code=BIRTH, receiving_unit=None)

    assert named == ["justice-hanoi"]
    assert without_webhook == []


def test_an_event_naming_no_agency_goes_to_the_procedures_agencies() -> None:
    hooks = audience(entry("justice-hanoi", "https://tp.example.vn/hook"), entry("police-hanoi", "https://x"))

    assert hooks.agencies(agency_code=None, procedure_code=BIRTH, receiving_unit=None) == ["justice-hanoi"]
    assert hooks.agencies(agency_code=None, procedure_code="9.999999", receiving_unit=None) == []


def test_an_onboarded_handler_of_the_step_replaces_the_catalogue_agency() -> None:
    unit = "000.00.07.H26"
    hooks = audience(
        entry("justice-hanoi", "https://tp.example.vn/hook"),
        entry(
            "justice-ba-dinh",
            "https://badinh.example.vn/hook",
            handles=[Handles(procedure_code=BIRTH, step="birth-registration", receiving_unit=unit)],
        ),
    )

    assert hooks.agencies(agency_code=None, procedure_code=BIRTH, receiving_unit=unit) == ["justice-ba-dinh"]
    assert hooks.agencies(agency_code=None, procedure_code=BIRTH, receiving_unit="other") == ["justice-hanoi"]


def test_a_suspended_agency_gets_nothing() -> None:
    hooks = audience(entry("justice-hanoi", "https://tp.example.vn/hook", status="suspended"))

    assert hooks.agencies(agency_code="justice-hanoi", procedure_code=BIRTH, receiving_unit=None) == []


def test_citizen_addresses_are_masked_agency_codes_are_not() -> None:
    assert masked("email", "mother@example.vn") == "m***@example.vn"
    assert masked("sms", "+84912345678") == "***678"
    assert masked("webhook", "justice-hanoi") == "justice-hanoi"
    assert masked("email", "") == ""
