"""Prometheus metrics: one registry per process (prometheus_client's default), served at `/metrics` by
every service's HTTP app.

A metric is a module-level prometheus_client `Counter`, `Gauge` or `Histogram` in the module that owns
it; counters are updated where the thing happens. Gauges whose value must be queried (a table, the
broker) are set by samplers: async functions the service runs every `METRICS_SAMPLE_INTERVAL_S`
(`Service.sample`). The bus's own samplers read the outbox backlog (`OutboxRelay.sample_backlog`), the
consumer lag and the DLQ sizes (`KafkaSampler`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

from dossierbus_shared.events import CATALOGUE
from dossierbus_shared.kafka import DLQ_SUFFIX
from dossierbus_shared.periodic import every

log = logging.getLogger(__name__)

Sampler = Callable[[], Awaitable[None]]

EVENTS_CONSUMED = Counter(
    "dossierbus_events_consumed",
    "Records consumed, by topic, CloudEvents type and outcome (processed, duplicate, parked, dead_lettered)",
    ["topic", "event_type", "outcome"],
)
EVENTS_PRODUCED = Counter(
    "dossierbus_events_produced",
    "Events published by the outbox relay and acknowledged by the broker, by topic and CloudEvents type",
    ["topic", "event_type"],
)
DEAD_LETTERS = Counter(
    "dossierbus_dead_letters",
    "Records this service sent to a dead-letter topic, by original topic and error type",
    ["topic", "error_type"],
)
HANDLER_DURATION = Histogram(
    "dossierbus_handler_duration_seconds",
    "Time to process one consumed record (parse, inbox, handler, the commit of its batch; retries included)",
    ["topic", "event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge(
    "dossierbus_consumer_lag",
    "Records not yet processed: end offset minus the group's committed offset, per topic and partition",
    ["consumer_group", "topic", "partition"],
)
DLQ_SIZE = Gauge(
    "dossierbus_dlq_messages",
    "Records held in a dead-letter topic (end offset minus beginning offset over its partitions)",
    ["topic"],
)
OUTBOX_BACKLOG = Gauge("dossierbus_outbox_backlog", "Outbox rows staged but not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "dossierbus_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0 when none)"
)
SAMPLE_FAILURES = Counter(
    "dossierbus_metrics_sample_failures", "Samplers that raised, by sampler name", ["sampler"]
)


def event_type_label(ce_type: str | None) -> str:
    """A label value from the catalogue only, so a sender cannot create unbounded series."""
    return ce_type if ce_type in CATALOGUE else "unknown"


def metrics_response() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class Samplers:
    """Runs every registered sampler each `interval_s`; one that fails is logged and counted."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.samplers: list[Sampler] = []

    def add(self, sampler: Sampler) -> Sampler:
        self.samplers.append(sampler)
        return sampler

    async def sample_once(self) -> None:
        for sampler in self.samplers:
            try:
                await sampler()
            except Exception as error:
                name = getattr(sampler, "__qualname__", type(sampler).__name__)
                SAMPLE_FAILURES.labels(name).inc()
                log.warning("metrics sampler %s failed: %s", name, error)

    async def run(self) -> None:
        await every(self.interval_s, self.sample_once, what="sampling metrics")


class KafkaSampler:
    """Consumer lag of the service's group and the size of the DLQs of the topics it consumes."""

    def __init__(
        self,
        bootstrap_servers: str,
        consumer_group: str,
        topics: Sequence[str],
        *,
        matching: str | None = None,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        """`matching`: a regular expression naming further consumed topics (those of a pattern
        subscription), looked up at each sample; `client_options`: how aiokafka connects (security)."""
        self.bootstrap_servers = bootstrap_servers
        self.client_options = dict(client_options or {})
        self.consumer_group = consumer_group
        self.topics = list(topics)
        self.matching = re.compile(matching) if matching else None
        self._offsets: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def __call__(self) -> None:
        offsets, admin = await self._clients()
        existing = await offsets.topics()  # refreshes metadata: partitions of topics created since
        topics = set(self.topics)
        if self.matching is not None:
            topics |= {topic for topic in existing if self.matching.fullmatch(topic)}
        watched = self._partitions(offsets, sorted(topics | {topic + DLQ_SUFFIX for topic in topics}))
        if not watched:
            return
        end = await offsets.end_offsets(watched)
        beginning = await offsets.beginning_offsets(watched)
        consumed = [tp for tp in watched if not tp.topic.endswith(DLQ_SUFFIX)]
        # Partitions named explicitly: the development broker answers "all partitions" unreadably.
        committed = await admin.list_consumer_group_offsets(self.consumer_group, partitions=consumed)
        dlq_sizes: dict[str, int] = {}
        for tp in watched:
            if tp.topic.endswith(DLQ_SUFFIX):
                dlq_sizes[tp.topic] = dlq_sizes.get(tp.topic, 0) + end[tp] - beginning[tp]
                continue
            position = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None
            lag = end[tp] - (beginning[tp] if position is None else position)
            CONSUMER_LAG.labels(self.consumer_group, tp.topic, str(tp.partition)).set(max(lag, 0))
        for topic, size in dlq_sizes.items():
            DLQ_SIZE.labels(topic).set(size)

    @staticmethod
    def _partitions(offsets: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
        return [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(offsets.partitions_for_topic(topic) or ())
        ]

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._offsets is None:
            offsets = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False, **self.client_options
            )
            await offsets.start()
            self._offsets = offsets
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, **self.client_options)
            await admin.start()
            self._admin = admin
        return self._offsets, self._admin

    async def close(self) -> None:
        if self._offsets is not None:
            await self._offsets.stop()
        if self._admin is not None:
            await self._admin.close()
        self._offsets = self._admin = None
