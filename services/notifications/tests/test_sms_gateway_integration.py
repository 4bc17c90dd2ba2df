"""The SMS channel against a real HTTP server standing in for the gateway."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from dossierbus_devstack.endpoint import RecordingEndpoint
from dossierbus_notifications.adapters.sms import SmsChannel
from dossierbus_notifications.channels import Outgoing


def outgoing() -> Outgoing:
    return Outgoing(uuid4(), "+84912345678", "[X] subject", "Ho so X da duoc tiep nhan.", attempt=1)


async def test_sends_the_documented_json_with_the_bearer_token() -> None:
    message = outgoing()
    with RecordingEndpoint() as gateway:
        channel = SmsChannel(f"{gateway.url}/send", "gateway-token", timeout_s=5)
        await channel.send(message)
        await channel.close()

    [request] = gateway.requests
    assert request.path == "/send"
    assert request.headers["Authorization"] == "Bearer gateway-token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "to": "+84912345678",
        "text": "Ho so X da duoc tiep nhan.",
        "reference": f"{message.event_id}.sms",
    }


async def test_a_gateway_error_is_a_failed_attempt_naming_the_status() -> None:
    with RecordingEndpoint([503]) as gateway:
        channel = SmsChannel(gateway.url, None, timeout_s=5)
        with pytest.raises(RuntimeError, match="HTTP 503"):
            await channel.send(outgoing())
        await channel.send(outgoing())  # the next answer is 200
        await channel.close()

    assert [request.answered for request in gateway.requests] == [503, 200]
    assert "Authorization" not in gateway.requests[0].headers


async def test_messages_share_a_kept_alive_connection() -> None:
    with RecordingEndpoint() as gateway:
        channel = SmsChannel(gateway.url, None, timeout_s=5)
        for _ in range(3):
            await channel.send(outgoing())
        await channel.close()

    assert len({request.connection for request in gateway.requests}) == 1, "one connection for all three"
