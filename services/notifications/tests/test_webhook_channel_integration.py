"""The webhook channel against a real HTTP server standing in for an agency's receiver."""

from __future__ import annotations

from uuid import uuid4

import httpx

from dossierbus_devstack.endpoint import RecordingEndpoint
from dossierbus_notifications.adapters.webhook import WebhookChannel, WebhookSecrets, cookieless_client
from dossierbus_notifications.channels import Outgoing
from dossierbus_notifications.signature import SIGNATURE_HEADER
from dossierbus_shared.directory import AgencyDirectory, DirectoryEntry


class KnownSecrets(WebhookSecrets):
    """The agency's secret without asking the registry."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "unused", cache_s=60, timeout_s=1)

    async def get(self, agency_code: str) -> str:
        return "a-webhook-secret-of-some-length"


def directory_with(webhook_url: str) -> AgencyDirectory:
    entry = DirectoryEntry(
        code="justice-hanoi",
        name={"en": "Justice, Ha Noi"},
        sector="justice",
        status="active",
        inbox_topic="agency.justice-hanoi.inbox",
        reports_topic="agency.justice-hanoi.reports",
        webhook_url=webhook_url,
    )
    return AgencyDirectory.of([entry])


async def test_webhooks_to_an_agency_are_signed_and_share_a_kept_alive_connection() -> None:
    with RecordingEndpoint() as agency:
        channel = WebhookChannel(directory_with(f"{agency.url}/hooks"), KnownSecrets(), timeout_s=5)
        for attempt in (1, 2, 3):
            await channel.send(Outgoing(uuid4(), "justice-hanoi", "", '{"type": "x"}', attempt=attempt))
        await channel.close()

    assert [request.path for request in agency.requests] == ["/hooks"] * 3
    assert all(SIGNATURE_HEADER in request.headers for request in agency.requests)
    assert len({request.connection for request in agency.requests}) == 1, "one connection for all three"


async def test_a_cookie_one_agencys_server_sets_goes_nowhere() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=planted; Domain=gov.vn; Path=/"})

    async with cookieless_client(5, transport=httpx.MockTransport(answer)) as http:
        await http.post("https://a.gov.vn/hooks")
        await http.post("https://b.gov.vn/hooks")
        await http.post("https://a.gov.vn/hooks")
        assert not http.cookies

    assert seen == [None, None, None]
