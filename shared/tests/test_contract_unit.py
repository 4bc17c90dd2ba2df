"""The published contract: generated from the event catalogue, committed, valid AsyncAPI 3.0 and JSON
Schema 2020-12, and describing every topic, header and event the code has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from dossierbus_shared.contract.asyncapi import asyncapi_document
from dossierbus_shared.contract.cli import main as contract_cli
from dossierbus_shared.contract.files import REGENERATE, drift, render_contract
from dossierbus_shared.contract.kit import assignment
from dossierbus_shared.contract.schemas import event_schemas, schema_name
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import CATALOGUE, FIXED_TOPICS, DossierStatus, DossierStatusReported, Event

CONTRACT = Path(__file__).parents[2] / "contract"
ASYNCAPI_SCHEMA = Path(__file__).parent / "asyncapi_schema" / "asyncapi-3.0.0.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CONTRACT / "asyncapi.yaml").read_text(encoding="utf-8"))
    return loaded


def test_the_committed_contract_is_what_the_code_generates() -> None:
    stale = drift(CONTRACT)
    assert not stale, (
        f"contract/ is out of date with shared/dossierbus_shared/events.py ({'; '.join(stale)}): "
        f"run `{REGENERATE}` at the repository root and commit contract/"
    )


def test_the_asyncapi_document_is_valid_against_the_official_asyncapi_3_schema(
    document: dict[str, Any],
) -> None:
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8")))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_official_schema_does_catch_a_broken_document(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8")))
    broken = json.loads(json.dumps(document))
    broken["operations"]["sendAgencyInbox"]["action"] = "publish"  # AsyncAPI 2 wording, not 3
    del broken["info"]["version"]
    assert len(list(validator.iter_errors(broken))) >= 2


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in _references(document):
        if ref.startswith("./"):
            assert (CONTRACT / ref).is_file(), ref
            continue
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"{ref} does not resolve"
            target = target[part]


def test_every_event_is_a_message_on_its_topic_with_its_schema(document: dict[str, Any]) -> None:
    addresses = {channel["address"]: channel for channel in document["channels"].values()}
    for event_type in CATALOGUE.values():
        channel = addresses[event_type.topic]
        messages = [
            document["components"]["messages"][ref["$ref"].split("/")[-1]]
            for ref in channel["messages"].values()
        ]
        message = next(m for m in messages if m["name"] == event_type.type)
        assert message["payload"]["schema"]["$ref"] == f"./schemas/{schema_name(event_type)}.json"
    assert set(FIXED_TOPICS) <= set(addresses)
    assert {"agency.{agency_code}.inbox", "agency.{agency_code}.reports"} <= set(addresses)


def test_operations_are_the_bus_point_of_view_and_consumed_topics_have_a_dlq(
    document: dict[str, Any],
) -> None:
    actions = {
        (document["channels"][op["channel"]["$ref"].split("/")[-1]]["address"], op["action"])
        for op in document["operations"].values()
    }
    assert ("agency.{agency_code}.inbox", "send") in actions
    assert ("agency.{agency_code}.inbox", "receive") not in actions
    assert ("agency.{agency_code}.reports", "receive") in actions
    assert ("agency.{agency_code}.reports", "send") not in actions
    for topic in [*FIXED_TOPICS, "agency.{agency_code}.reports"]:
        assert (topic, "receive") in actions
        assert (topic + ".dlq", "send") in actions
    inbox = next(c for c in document["channels"].values() if c["address"] == "agency.{agency_code}.inbox")
    assert set(inbox["parameters"]) == {"agency_code"}


def test_headers_traits_name_every_cloudevents_header_and_the_signature_of_reports(
    document: dict[str, Any],
) -> None:
    traits = document["components"]["messageTraits"]
    plain = traits["cloudEvent"]["headers"]
    signed = traits["signedCloudEvent"]["headers"]
    expected = {
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "content-type",
        "traceparent",
        "tracestate",
    }
    assert set(plain["properties"]) == expected
    assert set(signed["properties"]) == expected | {"ce_signature"}
    assert {"ce_signature", "ce_time", "ce_subject"} <= set(signed["required"])
    assert traits["cloudEvent"]["bindings"]["kafka"]["key"]["format"] == "uuid"
    reported = document["components"]["messages"]["dossierStatusReportedV1"]
    assert reported["traits"] == [{"$ref": "#/components/messageTraits/signedCloudEvent"}]
    assigned = document["components"]["messages"]["dossierAssignedV1"]
    assert assigned["traits"] == [{"$ref": "#/components/messageTraits/cloudEvent"}]


def test_the_headers_schema_accepts_what_the_envelope_writes(document: dict[str, Any]) -> None:
    envelope = Envelope(assignment("justice-hanoi", {}), source="urn:dossierbus:routing")
    headers = {name: value.decode() for name, value in envelope.to_kafka().headers}
    headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    schema = document["components"]["messageTraits"]["cloudEvent"]["headers"]
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(headers)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((CONTRACT / "schemas" / f"{name}.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    registry: Registry[Any] = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("name", sorted(event_schemas()))
def test_each_event_schema_is_valid_json_schema_2020_12(name: str) -> None:
    schema = json.loads((CONTRACT / "schemas" / f"{name}.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.json")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_event_schemas_accept_real_events_and_refuse_broken_ones() -> None:
    assigned = assignment("justice-hanoi", {"purpose": "employment"})
    assert list(_validator("dossier.assigned.v1").iter_errors(assigned.model_dump(mode="json"))) == []
    report = DossierStatusReported(
        dossier_id=assigned.dossier_id,
        dossier_code=assigned.dossier_code,
        agency_code="justice-hanoi",
        step=assigned.step,
        status=DossierStatus.PROCESSING,
        reported_at=assigned.assigned_at,
    )
    validator = _validator("dossier.status-reported.v1")
    wire = report.model_dump(mode="json")
    assert list(validator.iter_errors(wire)) == []
    assert list(validator.iter_errors(wire | {"status": "lost"}))
    assert list(validator.iter_errors({k: v for k, v in wire.items() if k != "step"}))


def test_generate_writes_the_contract_and_removes_stale_schemas(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "dossier.gone.v1.json").write_text("{}")
    assert contract_cli(["--dir", str(tmp_path), "generate"]) == 0
    assert drift(tmp_path) == []
    assert not (tmp_path / "schemas" / "dossier.gone.v1.json").exists()
    assert set(render_contract()) == {
        "asyncapi.yaml",
        *(f"schemas/{schema_name(cls)}.json" for cls in CATALOGUE.values()),
    }


def test_drift_names_the_file_that_differs(tmp_path: Path) -> None:
    contract_cli(["--dir", str(tmp_path), "generate"])
    (tmp_path / "schemas" / "dossier.assigned.v1.json").write_text("{}\n")
    assert drift(tmp_path) == ["schemas/dossier.assigned.v1.json: differs"]


def test_the_document_is_generated_from_the_catalogue_it_is_given() -> None:
    only_reports = {DossierStatusReported.type: DossierStatusReported}
    document = asyncapi_document(only_reports)
    assert {channel["address"] for channel in document["channels"].values()} == {
        "agency.{agency_code}.reports",
        "agency.{agency_code}.reports.dlq",
    }


class UnitNotice(Event):
    type: ClassVar[str] = "vn.gov.dossierbus.unit.notice.v1"
    topic: ClassVar[str] = "unit.{receiving_unit}.notices"

    receiving_unit: str


def test_a_new_event_without_a_docstring_on_another_parameterised_topic_is_still_valid_asyncapi() -> None:
    document = asyncapi_document(dict(CATALOGUE) | {UnitNotice.type: UnitNotice})
    channel = document["channels"]["unitNotices"]
    assert set(channel["parameters"]) == {"receiving_unit"}
    assert document["components"]["messages"]["unitNoticeV1"]["summary"] == "UnitNotice"
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8")))
    assert list(validator.iter_errors(json.loads(json.dumps(document)))) == []
