"""Kafka clients configured once: how to connect (security), producer settings and explicit topic
creation. Every Kafka client the services create takes its connection from here."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from aiokafka.helpers import create_ssl_context

from dossierbus_shared.settings import TOPIC_PARTITIONS, ServiceSettings

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"

MAX_MESSAGE_BYTES = 1_048_576
"""The largest record batch (1 MiB) the services produce and their topics accept (`max.message.bytes`, set
on the topics they create and declared in docker-compose.yml and the Kubernetes KafkaTopic resources). A
failed record whose copy would not fit is dead-lettered by reference (dossierbus_shared.dlq.letters)."""

TOPIC_CONFIG = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates to the brokers and whether it speaks TLS (KAFKA_SECURITY_PROTOCOL etc.)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaSecurity:
        password = settings.kafka_sasl_password
        return cls(
            protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=password.get_secret_value() if password else None,
            ssl_cafile=settings.kafka_ssl_cafile,
        )

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def ssl_context(self) -> SSLContext | None:
        """Verifies the brokers' certificates against the CA file (or the system CAs); None without TLS."""
        return create_ssl_context(cafile=self.ssl_cafile) if self.uses_tls else None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        return options


PLAINTEXT = KafkaSecurity()


class Producer:
    """The service's one Kafka producer; aiokafka needs the running event loop, so it starts late."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # acks="all" explicitly (aiokafka defaults to 1). Idempotence stays off: the development broker
        # refuses InitProducerId, and consumers de-duplicate by event id anyway.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            **KafkaSecurity.from_settings(self.settings).client_options(),
            client_id=f"dossierbus-{self.settings.service_name}",
            acks="all",
            linger_ms=2,
            max_request_size=MAX_MESSAGE_BYTES,
            request_timeout_ms=self.settings.kafka_request_timeout_ms,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def client(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the producer is not started")
        return self._producer


class TopicCreationError(RuntimeError):
    pass


# Another service may create a topic between our list and our create.
_TOPIC_ALREADY_EXISTS = 36


def creation_failures(topic_errors: Iterable[tuple[Any, ...]]) -> dict[str, str]:
    """Topic -> error name, from a CreateTopics response's (topic, error code[, message]) entries.

    aiokafka hands these back instead of raising them: a topic the client may not create (ACLs) would
    otherwise look created.
    """
    return {
        name: for_code(code).__name__ + (f": {rest[0]}" if rest and rest[0] else "")
        for name, code, *rest in topic_errors
        if code not in (0, _TOPIC_ALREADY_EXISTS)
    }


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = TOPIC_PARTITIONS,
    replication: int = 1,
    security: KafkaSecurity = PLAINTEXT,
) -> None:
    """Create missing topics; brokers in production do not auto-create them either.

    Where topics are declared up front (the Kubernetes deployment's KafkaTopic resources) they all exist
    and nothing is created; a service that may not create topics then fails here, naming the topic,
    instead of later in its consumer.
    """
    wanted = sorted(set(topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=replication,
                    topic_configs=TOPIC_CONFIG,
                )
                for name in missing
            ]
        )
        failed = creation_failures(response.topic_errors)
        if failed:
            raise TopicCreationError(f"cannot create missing topics: {failed}")
        log.info("created topics %s", missing)
    finally:
        await admin.close()


def with_dlq(topics: Iterable[str]) -> list[str]:
    """Each consumed topic and its dead-letter topic."""
    return [name for topic in topics for name in (topic, topic + DLQ_SUFFIX)]
