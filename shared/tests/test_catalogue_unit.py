"""The procedure and agency catalogue: shipped files, typed forms, and integrity of a catalogue."""

from __future__ import annotations

import textwrap
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dossierbus_shared.catalogue import Catalogue, Procedure, default_catalogue, load_catalogue
from dossierbus_shared.events import Channel

BIRTH = "1.001193"
DEATH = "1.000656"


def birth_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "child_full_name": "Nguyễn Thị Bình",
        "child_date_of_birth": "2026-02-27",
        "child_sex": "female",
        "place_of_birth": "Bệnh viện Phụ sản Hà Nội",
        "relationship": "mother",
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def error_fields(error: ValidationError) -> dict[str, str]:
    return {".".join(str(part) for part in item["loc"]): item["type"] for item in error.errors()}


@pytest.fixture
def birth() -> Procedure:
    procedure = load_catalogue().procedure(BIRTH)
    assert procedure is not None
    return procedure


# --- shipped catalogue --------------------------------------------------------------------------------


def test_shipped_catalogue_loads() -> None:
    catalogue = load_catalogue()

    assert {BIRTH, DEATH} <= set(catalogue.procedures)
    assert {"justice-hanoi", "police-hanoi", "social-insurance-hanoi"} <= set(catalogue.agencies)
    for procedure in catalogue.procedures.values():
        for step in procedure.steps:
            assert step.agency in catalogue.agencies


def test_shipped_procedures_are_as_published(birth: Procedure) -> None:
    assert birth.name["vi"] == "Đăng ký khai sinh"
    # Same day; the next working day when received after 15:00 (the published limit of 1.001193).
    limit = birth.limit_for(Channel.DIRECT)
    assert (limit.amount, limit.unit, limit.cutoff) == (0, "working_days", time(15, 0))
    assert birth.applicant == "citizen"
    assert [step.agency for step in birth.steps] == ["justice-hanoi"]
    assert birth.form["child_sex"].values == ["male", "female"]
    assert birth.national_facts == {"population": ["full_name", "date_of_birth", "permanent_address"]}


def test_shipped_agencies_have_both_names() -> None:
    for agency in load_catalogue().agencies.values():
        assert agency.name.get("vi")
        assert agency.name.get("en")


def test_unknown_procedure_is_none() -> None:
    assert load_catalogue().procedure("9.999999") is None


def test_default_catalogue_is_loaded_once() -> None:
    assert default_catalogue() is default_catalogue()
    assert set(default_catalogue().procedures) == set(load_catalogue().procedures)


# --- form_model ----------------------------------------------------------------------------------------


def test_valid_form_is_typed(birth: Procedure) -> None:
    form = birth.validate_form(birth_form())

    assert form.child_date_of_birth == date(2026, 2, 27)  # type: ignore[attr-defined]
    assert form.model_dump(mode="json")["child_date_of_birth"] == "2026-02-27"


def test_form_refuses_unknown_fields(birth: Procedure) -> None:
    with pytest.raises(ValidationError) as caught:
        birth.validate_form(birth_form(nickname="Bông"))

    assert error_fields(caught.value) == {"nickname": "extra_forbidden"}


@pytest.mark.parametrize("field", ["child_full_name", "child_date_of_birth", "child_sex", "relationship"])
def test_form_refuses_missing_required_fields(birth: Procedure, field: str) -> None:
    form = birth_form()
    del form[field]

    with pytest.raises(ValidationError) as caught:
        birth.validate_form(form)

    assert error_fields(caught.value) == {field: "missing"}


@pytest.mark.parametrize(
    ("field", "value"), [("child_sex", "other"), ("relationship", "neighbour"), ("child_sex", "")]
)
def test_form_refuses_bad_enum_values(birth: Procedure, field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        birth.validate_form(birth_form(**{field: value}))

    assert list(error_fields(caught.value)) == [field]


@pytest.mark.parametrize("value", ["2026-02-30", "27/02/2026", "yesterday", "2026-13-01", ""])
def test_form_refuses_bad_dates(birth: Procedure, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        birth.validate_form(birth_form(child_date_of_birth=value))

    assert list(error_fields(caught.value)) == ["child_date_of_birth"]


def test_form_refuses_a_number_as_a_date(birth: Procedure) -> None:
    with pytest.raises(ValidationError):
        birth.validate_form(birth_form(child_date_of_birth=0))


def test_form_enforces_max_length(birth: Procedure) -> None:
    with pytest.raises(ValidationError) as caught:
        birth.validate_form(birth_form(child_full_name="x" * 101))

    assert error_fields(caught.value) == {"child_full_name": "string_too_long"}
    birth.validate_form(birth_form(child_full_name="x" * 100))


def test_form_names_every_bad_field_at_once(birth: Procedure) -> None:
    form = birth_form(child_sex="other", child_date_of_birth="soon", extra=1)
    del form["relationship"]

    with pytest.raises(ValidationError) as caught:
        birth.validate_form(form)

    assert set(error_fields(caught.value)) == {"child_sex", "child_date_of_birth", "extra", "relationship"}


# --- catalogues built in tmp_path ----------------------------------------------------------------------

AGENCIES = """
    agencies:
      - code: justice-hanoi
        identifier: "000.00.01.H26"
        sector: justice
        name: {vi: "Phòng Tư pháp", en: "Justice office"}
      - code: police-hanoi
        identifier: "000.00.02.H26"
        sector: public-security
        name: {vi: "Công an", en: "Police"}
"""

PROCEDURE = """
    code: "9.000001"
    version: 1
    name: {{vi: "Thủ tục thử", en: "Test procedure"}}
    legal_basis:
      - {{reference: "Test", effective_from: 2024-01-01}}
    processing_working_days: 5
    applicant: citizen
    form:
      purpose: {{type: string, max_length: 20}}
      copies: {{type: integer}}
      urgent: {{type: boolean, required: false}}
      kind: {{type: enum, values: [a, b], required: false}}
      since: {{type: date, required: false}}
    steps:
      - {{id: first, agency: justice-hanoi}}
      - {{id: second, agency: {second_agency}}}
"""


def write_catalogue(root: Path, *, second_agency: str = "police-hanoi", agencies: str = AGENCIES) -> Path:
    (root / "procedures").mkdir(parents=True)
    (root / "agencies.yaml").write_text(textwrap.dedent(agencies), "utf-8")
    (root / "procedures" / "9.000001.yaml").write_text(
        textwrap.dedent(PROCEDURE.format(second_agency=second_agency)), "utf-8"
    )
    return root


def test_catalogue_from_a_directory(tmp_path: Path) -> None:
    catalogue = load_catalogue(write_catalogue(tmp_path))

    assert set(catalogue.procedures) == {"9.000001"}
    assert set(catalogue.agencies) == {"justice-hanoi", "police-hanoi"}
    procedure = catalogue.procedures["9.000001"]
    assert [(step.id, step.agency) for step in procedure.steps] == [
        ("first", "justice-hanoi"),
        ("second", "police-hanoi"),
    ]


def test_optional_fields_may_be_omitted_and_types_are_checked(tmp_path: Path) -> None:
    procedure = load_catalogue(write_catalogue(tmp_path)).procedures["9.000001"]

    form = procedure.validate_form({"purpose": "visa", "copies": 2})
    assert form.model_dump() == {"purpose": "visa", "copies": 2, "urgent": None, "kind": None, "since": None}

    with pytest.raises(ValidationError) as caught:
        procedure.validate_form({"purpose": "visa", "copies": "many", "kind": "c", "since": "2024-02-31"})
    assert set(error_fields(caught.value)) == {"copies", "kind", "since"}


def test_step_naming_an_unknown_agency_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        load_catalogue(write_catalogue(tmp_path, second_agency="tax-hanoi"))

    message = str(caught.value)
    assert "unknown agency 'tax-hanoi'" in message
    assert "9.000001" in message
    assert "second" in message


def test_bad_agency_code_fails_to_load(tmp_path: Path) -> None:
    agencies = AGENCIES.replace("code: police-hanoi", "code: Police_Hanoi")

    with pytest.raises(ValidationError, match="code"):
        load_catalogue(write_catalogue(tmp_path, agencies=agencies))


def test_unknown_key_in_a_procedure_fails_to_load(tmp_path: Path) -> None:
    root = write_catalogue(tmp_path)
    path = root / "procedures" / "9.000001.yaml"
    path.write_text(path.read_text("utf-8") + "price_vnd: 10000\n", "utf-8")

    with pytest.raises(ValidationError, match="price_vnd"):
        load_catalogue(root)


# --- fees ---------------------------------------------------------------------------------------------


def with_step_fees(root: Path, first: str, second: str | None = None) -> Path:
    path = root / "procedures" / "9.000001.yaml"
    text = path.read_text("utf-8").replace(
        "{id: first, agency: justice-hanoi}", f"{{id: first, agency: justice-hanoi, fee_vnd: {first}}}"
    )
    if second is not None:
        text = text.replace("agency: police-hanoi}", f"agency: police-hanoi, fee_vnd: {second}}}")
    path.write_text(text, "utf-8")
    return root


def test_a_linked_procedure_has_a_fee_per_step_and_a_free_step_owes_nothing(tmp_path: Path) -> None:
    procedure = load_catalogue(with_step_fees(write_catalogue(tmp_path), "50000", "0")).procedures["9.000001"]

    assert [(fee.step, fee.agency, fee.fee_vnd) for fee in procedure.fees()] == [
        ("first", "justice-hanoi", 50_000)
    ]
    assert procedure.fee_total_vnd == 50_000


@pytest.mark.parametrize("fee", ["-1", "1.5", '"10000"', "true", "10000000000000000000000"])
def test_a_fee_is_a_whole_non_negative_number_of_dong(tmp_path: Path, fee: str) -> None:
    with pytest.raises(ValidationError, match="fee_vnd"):
        load_catalogue(with_step_fees(write_catalogue(tmp_path), fee))


def test_a_linked_procedure_may_not_carry_one_fee_for_all_its_steps(tmp_path: Path) -> None:
    root = write_catalogue(tmp_path)
    path = root / "procedures" / "9.000001.yaml"
    path.write_text(path.read_text("utf-8") + "fee_vnd: 10000\n", "utf-8")

    with pytest.raises(ValidationError, match="give each step its own fee_vnd"):
        load_catalogue(root)


def test_a_one_step_procedure_has_its_fee_on_the_procedure_or_the_step_not_both() -> None:
    residence = default_catalogue().procedures["1.004194"]
    data = residence.model_dump()
    data["steps"][0]["fee_vnd"] = 10_000

    with pytest.raises(ValidationError, match="not both"):
        Procedure.model_validate(data)


def test_shipped_fees_some_procedures_pay_and_others_are_free() -> None:
    procedures = default_catalogue().procedures
    assert [(fee.step, fee.agency, fee.fee_vnd) for fee in procedures["1.004194"].fees()] == [
        ("permanent-residence", "police-hanoi", 10_000)
    ]
    assert [(fee.step, fee.fee_vnd) for fee in procedures["2.001417"].fees()] == [
        ("criminal-record", 200_000),
        ("certified-copy", 5_000),
    ]
    # The procedures the end-to-end tests and the demo run stay free, and so flow as before.
    for code in ("1.001193", "1.000656", "2.001199", "2.002913", "3.000722"):
        assert procedures[code].fees() == [] and procedures[code].fee_total_vnd == 0


def test_procedure_code_must_be_a_national_code(tmp_path: Path) -> None:
    root = write_catalogue(tmp_path)
    path = root / "procedures" / "9.000001.yaml"
    path.write_text(path.read_text("utf-8").replace('"9.000001"', '"TTHC-1"'), "utf-8")

    with pytest.raises(ValidationError, match="code"):
        load_catalogue(root)


def test_procedure_needs_at_least_one_step() -> None:
    with pytest.raises(ValidationError, match="steps"):
        Procedure.model_validate(
            {
                "code": "9.000002",
                "version": 1,
                "name": {"vi": "x"},
                "legal_basis": [],
                "processing_working_days": 1,
                "applicant": "citizen",
                "form": {},
                "steps": [],
            }
        )


def test_catalogue_validates_steps_when_built_directly() -> None:
    procedure = load_catalogue().procedures[BIRTH]

    with pytest.raises(ValidationError, match="unknown agency 'justice-hanoi'"):
        Catalogue(agencies={}, procedures={BIRTH: procedure})


# --- workflows ----------------------------------------------------------------------------------------


def _procedure_with_steps(steps: list[dict[str, object]]) -> Procedure:
    return Procedure.model_validate(
        {
            "code": "9.000003",
            "version": 1,
            "name": {"vi": "x"},
            "legal_basis": [],
            "processing_working_days": 1,
            "applicant": "citizen",
            "form": {},
            "steps": steps,
        }
    )


def test_linked_birth_group_is_birth_first_then_the_rest_in_parallel() -> None:
    group = load_catalogue().procedures["3.000722"]

    assert group.linked
    assert [(step.id, step.agency, step.after, step.on_rejection) for step in group.steps] == [
        ("birth-registration", "justice-hanoi", [], "reject_dossier"),
        ("permanent-residence", "police-hanoi", ["birth-registration"], "continue"),
        ("health-insurance-card", "social-insurance-hanoi", ["birth-registration"], "continue"),
        ("identity-card", "police-hanoi", ["birth-registration"], "continue"),
    ]
    assert group.agencies() == {"justice-hanoi", "police-hanoi", "social-insurance-hanoi"}


def test_linked_death_group_is_death_first_then_the_rest_in_parallel() -> None:
    group = load_catalogue().procedures["2.002913"]

    assert [(step.id, step.agency, step.after) for step in group.steps] == [
        ("death-registration", "justice-hanoi", []),
        ("residence-deletion", "police-hanoi", ["death-registration"]),
        ("funeral-allowance", "social-insurance-hanoi", ["death-registration"]),
    ]


def test_single_step_procedures_default_to_rejecting_the_dossier() -> None:
    birth = load_catalogue().procedures[BIRTH]

    assert not birth.linked
    assert birth.steps[0].after == []
    assert birth.steps[0].on_rejection == "reject_dossier"
    assert birth.step("birth-registration") is birth.steps[0]
    assert birth.step("nope") is None


def test_a_step_may_only_follow_an_earlier_step() -> None:
    with pytest.raises(ValidationError, match="'b' must be an earlier step"):
        _procedure_with_steps([{"id": "a", "agency": "x1", "after": ["b"]}, {"id": "b", "agency": "x2"}])


def test_a_step_may_not_follow_itself() -> None:
    with pytest.raises(ValidationError, match="'a' must be an earlier step"):
        _procedure_with_steps([{"id": "a", "agency": "x1", "after": ["a"]}])


def test_step_ids_are_unique() -> None:
    with pytest.raises(ValidationError, match="step 'a' appears twice"):
        _procedure_with_steps([{"id": "a", "agency": "x1"}, {"id": "a", "agency": "x2"}])


def test_unknown_rejection_rule_is_refused() -> None:
    with pytest.raises(ValidationError, match="on_rejection"):
        _procedure_with_steps([{"id": "a", "agency": "x1", "on_rejection": "ignore"}])


def test_2001610_is_not_used_for_a_change_of_registration() -> None:
    """2.001610 is published as the establishment of a private enterprise (đăng ký thành lập doanh nghiệp
    tư nhân), so the change of enterprise registration must not carry it."""
    catalogue = default_catalogue()
    assert "2.001610" not in catalogue.procedures
    change = catalogue.procedures["2.001199"]
    assert change.name["vi"] == "Đăng ký thay đổi nội dung đăng ký doanh nghiệp"


@pytest.mark.parametrize("code", ["1.000656", "2.002913"])
def test_a_deceased_personal_id_is_validated(code: str) -> None:
    """Death registration: the deceased's personal ID is a 12-digit ID of the Law on Identity 2023 Art. 12."""
    procedure = default_catalogue().procedures[code]
    form = {
        "deceased_personal_id": "001085012345",
        "date_of_death": "2026-03-01",
        "place_of_death": "Hà Nội",
        "relationship": "con",
    }
    assert procedure.validate_form(form)
    for wrong in ("12345", "999085012345", "abcdefghijkl"):
        with pytest.raises(ValidationError, match="deceased_personal_id"):
            procedure.validate_form({**form, "deceased_personal_id": wrong})


def test_a_procedure_needs_exactly_one_time_limit() -> None:
    data = default_catalogue().procedures["1.001193"].model_dump()
    with pytest.raises(ValidationError, match="either time_limit or processing_working_days"):
        Procedure.model_validate({**data, "processing_working_days": 2})
    data.pop("time_limit")
    with pytest.raises(ValidationError, match="either time_limit or processing_working_days"):
        Procedure.model_validate(data)
