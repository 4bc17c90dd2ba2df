"""What a span may carry out of the process: the attributes exported as they are. Everything else is
dropped on export (redaction.py), whatever its value looks like, except personal fields, which leave as
keyed pseudonyms."""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging

DOSSIER_CODE = "dossier.code"
DOSSIER_ID = "dossier.id"

EXPORTED_ATTRIBUTES = frozenset(
    {
        DOSSIER_CODE,
        DOSSIER_ID,
        # messaging (send_span, process_span)
        messaging.MESSAGING_SYSTEM,
        messaging.MESSAGING_OPERATION_TYPE,
        messaging.MESSAGING_OPERATION_NAME,
        messaging.MESSAGING_DESTINATION_NAME,
        messaging.MESSAGING_DESTINATION_PARTITION_ID,
        messaging.MESSAGING_CONSUMER_GROUP_NAME,
        messaging.MESSAGING_KAFKA_OFFSET,
        messaging.MESSAGING_KAFKA_MESSAGE_KEY,  # the dossier id
        messaging.MESSAGING_MESSAGE_ID,
        messaging.MESSAGING_MESSAGE_BODY_SIZE,
        # HTTP server spans: the route template, never the path or query (they may hold personal IDs),
        # the client's address or its user agent
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "http.scheme",
        "url.scheme",
        "http.flavor",
        "network.protocol.version",
        "net.host.port",
        "server.port",
        # exceptions, by type only
        "exception.type",
        "exception.escaped",
        "error.type",
    }
)
"""The span and event attributes exported as they are; add a key here to export it."""
