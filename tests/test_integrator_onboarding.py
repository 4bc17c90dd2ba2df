"""docs/integrators.md, step by step, on the whole stack: a new agency is onboarded through the registry
(the registry makes its key pair and its topics), its system signs with the private key it was given, and
the contract test kit, checking against the key the directory publishes, passes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.dlq.replay import read_dead_letters
from dossierbus_shared.signing import load_public_key
from reference_agency.agency import run_agency

pytestmark = pytest.mark.slow


async def test_an_agency_onboarded_by_the_registry_passes_the_contract_kit(
    stack: DevStack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    code = f"justice-hue-{uuid.uuid4().hex[:4]}"
    onboarded = await stack.onboard(
        code=code,
        identifier="000.00.03.H46",
        name={"vi": "Sở Tư pháp (Huế)", "en": "Hue Department of Justice"},
        sector="justice",
    )
    private_pem = onboarded["credentials"]["private_key_pem"]  # shown once: the agency keeps it
    entry = (await http.get(stack.url("registry", f"/agencies/{code}"))).json()
    assert (entry["inbox_topic"], entry["reports_topic"]) == (
        f"agency.{code}.inbox",
        f"agency.{code}.reports",
    )
    (tmp_path / "agency.pem").write_text(entry["public_key"])
    # The registry made the agency's topics as the services make theirs: KAFKA_TOPIC_PARTITIONS each.
    offsets = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    await offsets.start()
    try:
        for topic in (entry["inbox_topic"], entry["reports_topic"], f"{entry['reports_topic']}.dlq"):
            assert len(await partitions_of(offsets, topic)) == stack.topic_partitions, topic
    finally:
        await offsets.stop()

    stop = asyncio.Event()
    agency = asyncio.create_task(
        run_agency(stack.kafka_bootstrap, code, stop=stop, private_key_pem=private_pem)
    )
    try:
        command = [
            str(Path(sys.executable).parent / "dossierbus-contract-kit"),
            "--bootstrap", stack.kafka_bootstrap, "--agency", code,
            "--public-key", str(tmp_path / "agency.pem"), "--settle", "1",
        ]  # fmt: skip
        kit = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        await asyncio.wait_for(agency, timeout=15)
    assert kit.returncode == 0, kit.stdout + kit.stderr
    assert "PASS  signature" in kit.stdout
    assert load_public_key(entry["public_key"])  # what the bus verifies reports with

    # Routing reads every agency's reports, the kit's too: once it has read them all, none is a dead letter.
    await routing_has_read(stack.kafka_bootstrap, entry["reports_topic"])
    letters = [
        letter
        async for letter, _ in read_dead_letters(stack.kafka_bootstrap, f"{entry['reports_topic']}.dlq")
    ]
    assert [letter.failure for letter in letters] == []


async def routing_has_read(bootstrap: str, topic: str) -> None:
    """Wait until routing's consumer group has committed past every record now on `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await offsets.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await partitions_of(offsets, topic))]
        end = await offsets.end_offsets(partitions)
        assert sum(end.values()) > 0, "the kit's reports are on the topic"

        async def read_to_the_end() -> None:
            committed = await admin.list_consumer_group_offsets("dossierbus.routing", partitions=partitions)
            # A partition the kit sent nothing to has no committed offset, and needs none.
            assert all(
                end[tp] == 0 or (tp in committed and committed[tp].offset >= end[tp]) for tp in partitions
            ), f"routing did not read {topic}: {committed}"

        await eventually(read_to_the_end, timeout_s=90, interval_s=0.2)
    finally:
        await offsets.stop()
        await admin.close()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # refreshes the metadata
    return consumer.partitions_for_topic(topic) or set()
