"""Kafka clients configured once: producer settings and explicit topic creation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dossierbus_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"


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
            client_id=f"dossierbus-{self.settings.service_name}",
            acks="all",
            linger_ms=2,
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


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[str], *, partitions: int = 6, replication: int = 1
) -> None:
    """Create missing topics; brokers in production do not auto-create them either."""
    wanted = sorted(set(topics))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return
        # Another service may create one of them between our list and our create.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=replication)
                    for name in missing
                ]
            )
        log.info("created topics %s", missing)
    finally:
        await admin.close()


def with_dlq(topics: Iterable[str]) -> list[str]:
    """Each consumed topic and its dead-letter topic."""
    return [name for topic in topics for name in (topic, topic + DLQ_SUFFIX)]
