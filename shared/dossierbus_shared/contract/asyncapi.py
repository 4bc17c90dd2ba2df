"""The AsyncAPI 3.0 document of every topic, generated from the event catalogue.

Operations are from the bus's point of view (the four services together): the bus sends on the agency
inboxes and receives on the agency reports topics; an agency system does the opposite. Payloads refer to
the JSON Schema files beside the document (`schemas/<type>.json`), so each schema stays one file that
validators can use on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dossierbus_shared import envelope, signing
from dossierbus_shared.contract.schemas import schema_name
from dossierbus_shared.dlq import letters
from dossierbus_shared.events import AGENCY_CODE_PATTERN, CATALOGUE, Event
from dossierbus_shared.kafka import DLQ_SUFFIX

AGENCY_INBOX = "agency.{agency_code}.inbox"
AGENCY_REPORTS = "agency.{agency_code}.reports"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"

_CLOUDEVENTS_HEADERS: dict[str, dict[str, Any]] = {
    "ce_specversion": {"type": "string", "const": envelope.SPECVERSION, "description": "CloudEvents version"},
    "ce_id": {
        "type": "string",
        "format": "uuid",
        "description": "Unique id of the event; a repeated id is a duplicate the reader drops",
    },
    "ce_source": {
        "type": "string",
        "description": "Who sent it: a bus service, or `urn:agency:<agency_code>` for an agency (a report's"
        " is that of its data's agency_code, whose key signs it, sent on that agency's own reports topic)",
    },
    "ce_type": {"type": "string", "description": "Event type, ending in its major version (`.v1`)"},
    "ce_time": {
        "type": "string",
        "format": "date-time",
        "description": "When it happened, RFC 3339 with a UTC offset",
    },
    "ce_subject": {"type": "string", "description": "The dossier code"},
    "ce_dataschema": {
        "type": "string",
        "format": "uri",
        "description": "URL of the JSON Schema of the data",
    },
    "content-type": {"type": "string", "const": envelope.CONTENT_TYPE},
    "traceparent": {
        "type": "string",
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "W3C trace context; continue the trace (same trace id, a new span id of your own)",
    },
    "tracestate": {"type": "string", "description": "W3C trace state, copied when present"},
}
_REQUIRED_HEADERS = ["ce_specversion", "ce_id", "ce_source", "ce_type"]  # what the envelope refuses without

_SIGNATURE_HEADER: dict[str, Any] = {
    "type": "string",
    "contentEncoding": "base64",
    "description": (
        f"Ed25519 signature by the agency's registered key over `{signing.SCHEME}`, "
        + ", ".join(signing.SIGNED_HEADERS)
        + " and the SHA-256 of the value, one per line (see docs/integrators.md)"
    ),
}

_DEAD_LETTER_HEADERS: dict[str, dict[str, Any]] = {
    letters.REASON: {"type": "string", "description": "Why the record could not be processed"},
    letters.ERROR_TYPE: {
        "type": "string",
        "description": "Kind of failure, e.g. MalformedEvent, UnhandledEventType",
    },
    letters.ORIGINAL_TOPIC: {"type": "string", "description": "Topic the record was read from"},
    letters.ORIGINAL_PARTITION: {"type": "string", "description": "Its partition"},
    letters.ORIGINAL_OFFSET: {"type": "string", "description": "Its offset"},
    letters.CONSUMER_GROUP: {"type": "string", "description": "Consumer group that gave up on it"},
    letters.ATTEMPTS: {"type": "string", "description": "How many times it was tried"},
    letters.FAILED_AT: {"type": "string", "description": "When it was dead-lettered, RFC 3339"},
    letters.BY_REFERENCE: {
        "type": "string",
        "description": "`true` when the record was too large to copy: the letter has no value",
    },
    letters.VALUE_SIZE: {"type": "string", "description": "By reference: the original value's bytes"},
    letters.VALUE_SHA256: {"type": "string", "description": "By reference: its SHA-256, hex"},
    letters.OMITTED: {
        "type": "string",
        "description": "By reference: `headers` or `headers,key` when those did not fit either",
    },
}


def camel(text: str) -> str:
    """An identifier from a topic or type name: `agency.{agency_code}.inbox` → `agencyInbox`."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", re.sub(r"\{[^}]*\}", "", text)) if word]
    return words[0].lower() + "".join(word[:1].upper() + word[1:] for word in words[1:])


def is_signed(event_type: type[Event]) -> bool:
    """Agencies sign what they send on their reports topic; the bus verifies it against the directory."""
    return event_type.topic == AGENCY_REPORTS


def bus_receives(topic: str) -> bool:
    return topic != AGENCY_INBOX


def bus_sends(topic: str) -> bool:
    return topic != AGENCY_REPORTS


def _headers_schema(*, signed: bool) -> dict[str, Any]:
    properties = dict(_CLOUDEVENTS_HEADERS)
    required = list(_REQUIRED_HEADERS)
    if signed:
        properties[signing.SIGNATURE_HEADER] = _SIGNATURE_HEADER
        required += [name for name in signing.SIGNED_HEADERS if name not in required]
        required.append(signing.SIGNATURE_HEADER)
    return {"type": "object", "properties": properties, "required": required}


def _key_binding() -> dict[str, Any]:
    return {
        "kafka": {
            "key": {
                "type": "string",
                "format": "uuid",
                "description": "The dossier id: all events of one dossier share a partition, in order",
            },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _traits() -> dict[str, Any]:
    common = {
        "contentType": envelope.CONTENT_TYPE,
        "correlationId": {
            "description": "The dossier code ties every event of a dossier together",
            "location": "$message.header#/ce_subject",
        },
        "bindings": _key_binding(),
    }
    return {
        "cloudEvent": {
            "summary": "CloudEvents 1.0 in Kafka binary mode: JSON data as the value, attributes as headers",
            "headers": _headers_schema(signed=False),
            **common,
        },
        "signedCloudEvent": {
            "summary": "A CloudEvent signed by the agency that sent it (`ce_signature`)",
            "headers": _headers_schema(signed=True),
            **common,
        },
        "deadLetter": {
            "summary": "A record the bus gave up on: the original key, value and headers, plus why",
            "headers": {
                "type": "object",
                "properties": {
                    **_CLOUDEVENTS_HEADERS,
                    **_DEAD_LETTER_HEADERS,
                },
                "required": [letters.REASON, letters.ERROR_TYPE, letters.ORIGINAL_TOPIC],
            },
            "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING_VERSION}},
        },
    }


def _message(event_type: type[Event]) -> dict[str, Any]:
    name = schema_name(event_type)
    trait = "signedCloudEvent" if is_signed(event_type) else "cloudEvent"
    return {
        "name": event_type.type,
        "title": event_type.__name__,
        "summary": next(iter((event_type.__doc__ or "").strip().splitlines()), event_type.__name__),
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"./schemas/{name}.json"}},
        "traits": [{"$ref": f"#/components/messageTraits/{trait}"}],
    }


def _channel(address: str, message_ids: list[str], description: str) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {mid: {"$ref": f"#/components/messages/{mid}"} for mid in message_ids},
        "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    names = re.findall(r"\{(\w+)\}", address)
    if names:
        channel["parameters"] = {
            name: {"$ref": "#/components/parameters/agency_code"}
            if name == "agency_code"
            else {"description": f"Fills `{{{name}}}` in the topic name from the event's `{name}` field"}
            for name in names
        }
        del channel["bindings"]  # the topic name is the address with the parameters filled in
    return channel


def _description(topic: str) -> str:
    if topic == AGENCY_INBOX:
        return (
            "An agency's inbox: the bus sends it the dossier steps assigned to it"
            " (the agency reads it as consumer group `agency.<agency_code>`)."
        )
    if topic == AGENCY_REPORTS:
        return "An agency's reports: the agency sends signed progress reports on the steps assigned to it."
    return f"Bus-internal topic `{topic}`, published through the transactional outbox."


def asyncapi_document(catalogue: Mapping[str, type[Event]] = CATALOGUE) -> dict[str, Any]:
    by_topic: dict[str, list[type[Event]]] = {}
    for _, event_type in sorted(catalogue.items()):
        by_topic.setdefault(event_type.topic, []).append(event_type)
    messages = {camel(schema_name(cls)): _message(cls) for cls in by_topic_order(by_topic)}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in sorted(by_topic):
        channel_id = camel(topic)
        message_ids = [camel(schema_name(cls)) for cls in by_topic[topic]]
        channels[channel_id] = _channel(topic, message_ids, _description(topic))
        message_refs = [{"$ref": f"#/channels/{channel_id}/messages/{mid}"} for mid in message_ids]
        if bus_sends(topic):
            operations[f"send{channel_id[:1].upper()}{channel_id[1:]}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"The bus publishes on {topic}",
                "messages": message_refs,
            }
        if bus_receives(topic):
            operations[f"receive{channel_id[:1].upper()}{channel_id[1:]}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"The bus consumes {topic}; what it cannot process goes to {topic}{DLQ_SUFFIX}",
                "messages": message_refs,
            }
            dlq_id = channel_id + "Dlq"
            channels[dlq_id] = {
                **_channel(
                    topic + DLQ_SUFFIX,
                    ["deadLetter"],
                    f"Dead letters of `{topic}`; replay with `dossierbus-dlq`.",
                ),
            }
            operations[f"send{dlq_id[:1].upper()}{dlq_id[1:]}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dlq_id}"},
                "summary": f"The bus dead-letters a record of {topic} it cannot process",
                "messages": [{"$ref": f"#/channels/{dlq_id}/messages/deadLetter"}],
            }
    messages["deadLetter"] = {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "The original record unchanged (it may be malformed), with the reason in dlq_* headers",
        "payload": {
            "description": "The original value, byte for byte; none on a letter by reference (over 1 MiB)"
        },
        "traits": [{"$ref": "#/components/messageTraits/deadLetter"}],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "dossierbus",
            "version": "1.0.0",
            "description": (
                "Every topic of the interagency dossier-exchange bus. Operations are from the bus's point of"
                " view: an agency system receives on its inbox and sends on its reports topic. Records are"
                " CloudEvents 1.0 in Kafka binary mode; the key is the dossier id. Generated from"
                " shared/dossierbus_shared/events.py by `dossierbus-contract generate`: do not edit by hand."
            ),
        },
        "defaultContentType": envelope.CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "messageTraits": _traits(),
            "parameters": {
                "agency_code": {
                    "description": f"The agency's code in the registry's directory ({AGENCY_CODE_PATTERN})",
                    "examples": ["justice-hanoi"],
                }
            },
        },
    }


def by_topic_order(by_topic: dict[str, list[type[Event]]]) -> list[type[Event]]:
    return [cls for topic in sorted(by_topic) for cls in by_topic[topic]]
