"""A JSON Schema (draft 2020-12) per event type, generated from its pydantic model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dossierbus_shared.events import CATALOGUE, TYPE_PREFIX, Event

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_name(event_type: type[Event]) -> str:
    """`dossier.status-reported.v1`: the CloudEvents type without its prefix, the last part of its URL."""
    return event_type.type.removeprefix(TYPE_PREFIX)


def event_schema(event_type: type[Event]) -> dict[str, Any]:
    """What a valid `data` of this event is. Validation mode: what a producer may send and a reader accepts
    (fields with a default may be left out)."""
    generated = event_type.model_json_schema(mode="validation")
    return {
        "$schema": DIALECT,
        "$id": event_type.schema_url(),
        "x-cloudevents-type": event_type.type,
        "x-topic": event_type.topic,
        **generated,
    }


def event_schemas(catalogue: Mapping[str, type[Event]] = CATALOGUE) -> dict[str, dict[str, Any]]:
    """Every event's schema, by schema name, in a stable order."""
    return {schema_name(cls): event_schema(cls) for _, cls in sorted(catalogue.items())}
