"""The kit's Kafka side: assign each case's dossier on the agency's inbox, collect what comes back on its
reports topic until every case has settled or the time is up, then have it judged."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dossierbus_shared.contract.kit.cases import cases, malformed_records
from dossierbus_shared.contract.kit.judging import KitReport, judge, settled, signatures
from dossierbus_shared.events import agency_topics


async def run_contract_kit(
    bootstrap: str,
    agency_code: str,
    public_key: Ed25519PublicKey,
    *,
    timeout_s: float = 60.0,
    settle_s: float = 2.0,
    max_report_age: timedelta = timedelta(minutes=10),
) -> KitReport:
    """Run every scenario once against the agency listening on `bootstrap`; never raises on a failure."""
    inbox_topic, reports_topic = agency_topics(agency_code)
    sent = cases(agency_code)
    by_key = {case.envelope.key.encode(): case for case in sent}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await consumer.start()
    await producer.start()
    try:
        partitions = await _partitions(consumer, reports_topic)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)  # only reports to what this run sends
        for partition in partitions:
            await consumer.position(partition)
        for case in sent:
            record = case.inbox_record()
            if case.scenario == "malformed input":
                for bad in malformed_records(record):
                    await producer.send_and_wait(bad.topic, bad.value, key=bad.key, headers=bad.headers)
            for _ in range(2 if case.scenario == "redelivery" else 1):
                await producer.send_and_wait(
                    inbox_topic, record.value, key=record.key, headers=record.headers
                )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(
            settled(case, time.monotonic(), settle_s) for case in sent
        ):
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                for report in batch:
                    answered = by_key.get(report.key or b"") or by_key.get(_dossier_id(report.value))
                    if answered is None:
                        continue  # a report on another dossier (an earlier run, real traffic)
                    answered.reports.append(report)
                    answered.last_report_at = time.monotonic()
    finally:
        await consumer.stop()
        await producer.stop()
    checks = [judge(case, agency_code, timeout_s) for case in sent]
    checks.append(signatures(sent, public_key, datetime.now(UTC), max_report_age))
    return KitReport(agency_code, tuple(checks))


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    if topic not in await consumer.topics():  # also refreshes the consumer's metadata
        raise LookupError(f"topic {topic} does not exist: is the agency onboarded?")
    return [TopicPartition(topic, number) for number in sorted(consumer.partitions_for_topic(topic) or ())]


def _dossier_id(value: bytes | None) -> bytes:
    """The dossier a report is about by its data, to name a report sent with the wrong key."""
    try:
        data = json.loads(value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return b""
    dossier_id = data.get("dossier_id") if isinstance(data, dict) else None
    return dossier_id.encode() if isinstance(dossier_id, str) else b""
