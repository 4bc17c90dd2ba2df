"""Which agency handles a step: onboarded agencies' declarations, most specific first."""

from __future__ import annotations

from dossierbus_shared.directory import AgencyDirectory, DirectoryEntry, Handles


def entry(code: str, *handles: Handles, status: str = "active") -> DirectoryEntry:
    return DirectoryEntry(
        code=code,
        name={"vi": code},
        sector="justice",
        status=status,
        inbox_topic=f"agency.{code}.inbox",
        reports_topic=f"agency.{code}.reports",
        handles=list(handles),
    )


BIRTH = "1.001193"
HUE = "000.00.01.H46"
DIRECTORY = AgencyDirectory.of(
    [
        entry("justice-hue", Handles(procedure_code=BIRTH, step="birth-registration", receiving_unit=HUE)),
        entry("justice-anywhere", Handles(procedure_code=BIRTH, step="birth-registration")),
        entry(
            "justice-retired",
            Handles(procedure_code="1.000656", step="death-registration"),
            status="suspended",
        ),
    ]
)


def test_the_receiving_units_own_agency_comes_first() -> None:
    assert DIRECTORY.handler(BIRTH, "birth-registration", HUE) == "justice-hue"


def test_an_agency_for_any_unit_comes_next() -> None:
    assert DIRECTORY.handler(BIRTH, "birth-registration", "000.00.01.H26") == "justice-anywhere"


def test_nothing_declared_leaves_the_catalogue_in_charge() -> None:
    assert DIRECTORY.handler(BIRTH, "other-step", HUE) is None
    assert DIRECTORY.handler("1.000656", "death-registration", None) is None  # suspended agencies are out


def test_only_active_agencies_are_found() -> None:
    assert DIRECTORY.agency("justice-hue") is not None
    assert DIRECTORY.agency("justice-retired") is None
    assert DIRECTORY.agency("nobody") is None
