"""SMS through an HTTP gateway: one generic JSON POST, which most Vietnamese brandname-SMS gateways
(or a small proxy in front of one) accept.

    POST <SMS_GATEWAY_URL>
    Authorization: Bearer <SMS_GATEWAY_TOKEN>
    Content-Type: application/json

    {"to": "+84912345678", "text": "...", "reference": "<notification id>"}

Any 2xx answer means the gateway took the message; anything else, or no answer within SMS_TIMEOUT_S,
is a failed attempt and retried. `reference` is the same on every attempt of one notification, so a
gateway that keeps references can drop a repeat.
"""

from __future__ import annotations

import httpx

from dossierbus_notifications.channels import Outgoing


class SmsChannel:
    name = "sms"

    def __init__(self, url: str, token: str | None, timeout_s: float) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(timeout=timeout_s)  # its connections kept from message to message

    async def send(self, outgoing: Outgoing) -> None:
        message = {"to": outgoing.recipient, "text": outgoing.body, "reference": f"{outgoing.message_id}.sms"}
        response = await self._http.post(self.url, json=message, headers=self.headers)
        if not response.is_success:
            raise RuntimeError(f"SMS gateway answered HTTP {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self._http.aclose()
