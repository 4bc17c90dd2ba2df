"""Fixtures for the console's tests: an operator's client and a malformed record put on a topic (headless
Chromium, `chromium`, is the root conftest's)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dossierbus_devstack.stack import DevStack
from dossierbus_shared.events import DossierVerified

PutMalformed = Callable[[str], Awaitable[str]]


@pytest.fixture
async def operator(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    """An API client of the console that authenticates as an operator (Bearer OPERATOR_TOKEN)."""
    headers = {"Authorization": f"Bearer {stack.operator_token}"}
    async with httpx.AsyncClient(base_url=stack.url("console"), headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def put_malformed(stack: DevStack) -> AsyncIterator[PutMalformed]:
    """Publish a record whose body is not JSON on `dossier.verified` (routing alone consumes it, so it
    lands in `dossier.verified.dlq` once); returns its event id."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()

    async def put(subject: str) -> str:
        event_id = str(uuid.uuid4())
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", b"urn:dossierbus:console-test"),
            ("ce_type", DossierVerified.type.encode()),
            ("ce_subject", subject.encode()),
        ]
        await producer.send_and_wait(DossierVerified.topic, value=b"{not json", key=b"k", headers=headers)
        return event_id

    try:
        yield put
    finally:
        await producer.stop()
