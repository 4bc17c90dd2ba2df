"""The compatibility check: within a version only optional fields may be added; each rule has a case."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dossierbus_shared.contract.cli import main as contract_cli
from dossierbus_shared.contract.compat import compare_catalogues, compare_schemas
from dossierbus_shared.contract.files import SCHEMAS_DIR, render_json
from dossierbus_shared.contract.schemas import event_schema, event_schemas
from dossierbus_shared.events import DossierStatusReported

PUBLISHED = event_schema(DossierStatusReported)


def changed(edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(PUBLISHED)
    edit(schema)
    return schema


def reasons(new: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in compare_schemas("dossier.status-reported.v1", PUBLISHED, new)]


def test_an_unchanged_schema_is_compatible() -> None:
    assert reasons(copy.deepcopy(PUBLISHED)) == []


def test_adding_an_optional_field_is_compatible() -> None:
    def add_optional(schema: dict[str, Any]) -> None:
        schema["properties"]["channel_hint"] = {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "default": None,
        }

    assert reasons(changed(add_optional)) == []


def test_adding_an_optional_field_to_a_nested_object_is_compatible() -> None:
    def add_nested(schema: dict[str, Any]) -> None:
        schema["$defs"]["ResultDocument"]["properties"]["mime_type"] = {"type": "string"}

    assert reasons(changed(add_nested)) == []


def test_documentation_changes_are_compatible() -> None:
    def document(schema: dict[str, Any]) -> None:
        schema["description"] = "Reworded."
        schema["properties"]["step"]["title"] = "Workflow step"
        schema["properties"]["note"]["examples"] = ["Thiếu bản sao sổ hộ khẩu"]

    assert reasons(changed(document)) == []


def test_removing_a_field_is_refused() -> None:
    assert reasons(changed(lambda s: s["properties"].pop("note"))) == [
        "dossier.status-reported.v1: note: the field was removed"
    ]


def test_removing_a_nested_field_is_refused() -> None:
    found = reasons(changed(lambda s: s["$defs"]["ResultDocument"]["properties"].pop("sha256")))
    assert found == ["dossier.status-reported.v1: result_documents[].sha256: the field was removed"]


def test_adding_a_required_field_is_refused() -> None:
    def add_required(schema: dict[str, Any]) -> None:
        schema["properties"]["officer"] = {"type": "string"}
        schema["required"].append("officer")

    assert reasons(changed(add_required)) == [
        "dossier.status-reported.v1: officer: "
        "a required field was added: producers of this version do not send it"
    ]


def test_making_an_optional_field_required_is_refused() -> None:
    found = reasons(changed(lambda s: s["required"].append("note")))
    assert found == [
        "dossier.status-reported.v1: note: the field became required: producers of this version leave it out"
    ]


def test_making_a_required_field_optional_is_refused() -> None:
    found = reasons(changed(lambda s: s["required"].remove("step")))
    assert found == [
        "dossier.status-reported.v1: step: the field is no longer required: readers rely on it being there"
    ]


def test_changing_a_type_is_refused() -> None:
    found = reasons(changed(lambda s: s["properties"]["step"].update(type="integer")))
    assert found == ["dossier.status-reported.v1: step: the type changed from string to integer"]


def test_changing_a_type_behind_a_reference_is_refused() -> None:
    found = reasons(changed(lambda s: s["$defs"]["DossierStatus"].update(type="integer")))
    assert found == ["dossier.status-reported.v1: status: the type changed from string to integer"]


def test_narrowing_an_enum_is_refused() -> None:
    found = reasons(changed(lambda s: s["$defs"]["DossierStatus"]["enum"].remove("withdrawn")))
    assert found == [
        "dossier.status-reported.v1: status: the enum was narrowed: ['withdrawn'] no longer allowed"
    ]


def test_widening_an_enum_is_refused_because_readers_validate_it() -> None:
    found = reasons(changed(lambda s: s["$defs"]["DossierStatus"]["enum"].append("suspended")))
    assert found == [
        "dossier.status-reported.v1: status: "
        "the enum was widened: readers of this version refuse ['suspended']"
    ]


def test_making_a_field_nullable_is_refused() -> None:
    def nullable(schema: dict[str, Any]) -> None:
        schema["properties"]["step"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}

    found = reasons(changed(nullable))
    assert any("step: the alternatives (anyOf) changed" in reason for reason in found)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s["properties"]["note"]["anyOf"][0].update(maxLength=500),
            "maxLength changed from 2000 to 500",
        ),
        (lambda s: s["properties"]["agency_code"].update(pattern="^[a-z]+$"), "pattern changed from"),
        (lambda s: s["properties"]["step"].update(minLength=3), "minLength 3 was added"),
        (lambda s: s["properties"]["dossier_id"].pop("format"), "format 'uuid' was dropped"),
    ],
)
def test_changing_a_constraint_is_refused(edit: Any, expected: str) -> None:
    found = reasons(changed(edit))
    assert len(found) == 1 and expected in found[0], found


def test_changing_the_items_of_an_array_is_refused() -> None:
    found = reasons(changed(lambda s: s["properties"]["result_documents"].update(items={"type": "string"})))
    assert any(
        "result_documents[]" in reason and "type changed from object to string" in reason for reason in found
    )


def test_removing_an_event_type_is_refused_and_adding_one_is_compatible() -> None:
    published = event_schemas()
    current = dict(published)
    removed = current.pop("dossier.verified.v1")
    assert [str(p) for p in compare_catalogues(published, current)] == [
        "dossier.verified.v1: (root): the event type was removed; readers and producers still use it"
    ]
    assert compare_catalogues(current, published) == []  # the other way round: a new type
    assert removed["$id"].endswith("dossier.verified.v1.json")


def test_the_check_command_refuses_an_incompatible_committed_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract_cli(["--dir", str(tmp_path), "generate"])
    path = tmp_path / SCHEMAS_DIR / "dossier.status-reported.v1.json"
    published = json.loads(path.read_text())
    published["properties"]["legacy_field"] = {"type": "string"}  # the code no longer has it
    path.write_text(render_json(published))
    assert contract_cli(["--dir", str(tmp_path), "check"]) == 1
    assert "legacy_field: the field was removed" in capsys.readouterr().err


def test_the_check_command_accepts_the_current_code_and_tells_to_regenerate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract_cli(["--dir", str(tmp_path), "generate"])
    path = tmp_path / SCHEMAS_DIR / "dossier.status-reported.v1.json"
    published = json.loads(path.read_text())
    del published["properties"]["note"]  # the code has since added `note`, optional
    path.write_text(render_json(published))
    capsys.readouterr()
    assert contract_cli(["--dir", str(tmp_path), "check"]) == 0
    out = capsys.readouterr().out
    assert "compatible change to dossier.status-reported.v1" in out
    assert "dossierbus-contract generate" in out
