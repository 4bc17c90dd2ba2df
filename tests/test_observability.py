"""Operators' view of the running bus: every service's /metrics after a dossier has flowed, the DLQ size
after a dead letter, and no personal identifier of the applicant in the spans or the service logs."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.events import DossierStatusChanged, DossierSubmitted, DossierVerified

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

SUBMITTED = DossierSubmitted.type
CONSUMES = {
    "intake": [DossierStatusChanged.topic],  # to know when a dossier may be rated
    "registry": [DossierSubmitted.topic, DossierStatusChanged.topic],
    "routing": [DossierVerified.topic, "agency.justice-hanoi.reports"],
    "notifications": [DossierSubmitted.topic, DossierStatusChanged.topic],
}
PRODUCES = {
    "intake": [DossierSubmitted.topic],
    "registry": [DossierVerified.topic],
    "routing": [DossierStatusChanged.topic, "agency.justice-hanoi.inbox"],
}


async def scrape(http: httpx.AsyncClient, stack: DevStack, service: str) -> Samples:
    response = await http.get(stack.url(service, "/metrics"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)


def present(samples: Samples, name: str, **labels: str) -> bool:
    wanted = set(labels.items())
    return any(sample == name and wanted <= have for sample, have in samples)


async def test_every_service_exposes_throughput_latency_lag_and_backlog(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    body = birth_registration(40, email="observed@example.vn")
    personal_id = body["applicant"]["personal_id"]
    code = (await submit(http, stack, body))["dossier_code"]
    assert (await wait_final(http, stack, code))["status"] == "returned"
    await wait_for_notifications(http, stack, code, count=4)

    # The console reads the bus and serves /metrics too, but keeps no outbox and consumes nothing.
    scraped = {name: await scrape(http, stack, name) for name in stack.services if name != "console"}
    assert (await http.get(stack.url("console", "/metrics"))).status_code == 200
    for service, samples in scraped.items():
        assert present(samples, "dossierbus_outbox_backlog"), service
        assert present(samples, "dossierbus_outbox_oldest_age_seconds"), service
        for kind in ("select", "insert", "begin", "commit"):
            assert total(samples, "dossierbus_db_statements_total", service=service, kind=kind) > 0, service
        for topic in PRODUCES.get(service, []):
            assert total(samples, "dossierbus_events_produced_total", topic=topic) > 0, (service, topic)
        for topic in CONSUMES.get(service, []):
            consumed = total(samples, "dossierbus_events_consumed_total", topic=topic, outcome="processed")
            assert consumed > 0, (service, topic)
            assert total(samples, "dossierbus_handler_duration_seconds_count", topic=topic) > 0
            assert present(samples, "dossierbus_handler_duration_seconds_bucket", topic=topic, le="0.5")
            group = f"dossierbus.{service}"
            assert present(samples, "dossierbus_consumer_lag", topic=topic, consumer_group=group)
            assert present(samples, "dossierbus_dlq_messages", topic=topic + ".dlq")
    by_type = total(scraped["registry"], "dossierbus_events_consumed_total", event_type=SUBMITTED)
    assert by_type > 0
    assert present(scraped["notifications"], "dossierbus_notification_failures_total", channel="email")

    spans_text = stack.spans_file.read_text(encoding="utf-8")
    assert code in spans_text
    assert personal_id not in spans_text
    assert body["applicant"]["email"] not in spans_text
    for service in stack.services:
        log_text = (stack.workdir / "logs" / f"{service}.log").read_text(encoding="utf-8")
        assert personal_id not in log_text, service


async def test_a_dead_letter_shows_in_the_dlq_size(stack: DevStack, http: httpx.AsyncClient) -> None:
    def dlq_size(samples: Samples) -> float:
        return total(samples, "dossierbus_dlq_messages", topic="dossier.submitted.dlq")

    def dead_lettered(samples: Samples) -> float:
        return total(samples, "dossierbus_dead_letters_total", topic="dossier.submitted")

    before = await scrape(http, stack, "registry")
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            DossierSubmitted.topic,
            value=b"{not json",
            key=str(uuid.uuid4()).encode(),
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_source", b"urn:test:observability"),
                ("ce_type", SUBMITTED.encode()),
            ],
        )
    finally:
        await producer.stop()

    async def dead_lettered_once_more() -> Samples:
        after = await scrape(http, stack, "registry")
        assert dlq_size(after) >= dlq_size(before) + 1, "the DLQ size did not grow"
        assert dead_lettered(after) >= dead_lettered(before) + 1, "no record counted as dead-lettered"
        return after

    after = await eventually(dead_lettered_once_more, interval_s=0.3)
    malformed = total(
        after, "dossierbus_events_consumed_total", topic="dossier.submitted", outcome="dead_lettered"
    )
    assert malformed >= 1


async def test_service_logs_are_json_lines_with_the_service_name(stack: DevStack) -> None:
    for service in stack.services:
        lines = (stack.workdir / "logs" / f"{service}.log").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        assert records, service
        for record in records:
            assert {"timestamp", "level", "logger", "message"} <= set(record)
            assert record["service"] == service
