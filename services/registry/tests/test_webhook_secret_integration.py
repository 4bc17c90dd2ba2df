"""The webhook secret, served only to the token notifications holds for that (WEBHOOK_SECRETS_TOKEN), which
can do nothing else: not onboard an agency, not rotate credentials."""

from __future__ import annotations

import uuid

import httpx
import pytest

from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_webhook_secret_is_served_to_the_webhook_secrets_token_only_and_follows_rotation(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    admin = bearer(stack.admin_token)
    reader = bearer(stack.webhook_secrets_token)
    code = f"hooked-{uuid.uuid4().hex[:6]}"
    created = await http.post(
        stack.url("registry", "/agencies"),
        json={"code": code, "identifier": "1", "name": {"vi": "X"}, "sector": "justice"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    issued = created.json()["credentials"]
    url = stack.url("registry", f"/agencies/{code}/webhook-secret")

    async with httpx.AsyncClient(timeout=30) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
    for other in (bearer(issued["api_token"]), admin, stack.headers("portal"), stack.headers("operator")):
        assert (await http.get(url, headers=other)).status_code == 401
    served = await http.get(url, headers=reader)
    assert served.json() == {"webhook_secret": issued["webhook_secret"]}

    rotate_url = stack.url("registry", f"/agencies/{code}/credentials")
    assert (await http.post(rotate_url, json={}, headers=reader)).status_code == 401
    rotated = await http.post(rotate_url, json={}, headers=admin)
    new_secret = rotated.json()["credentials"]["webhook_secret"]
    assert new_secret != issued["webhook_secret"]
    assert (await http.get(url, headers=reader)).json() == {"webhook_secret": new_secret}

    onboarding = {"code": f"x-{code}", "identifier": "1", "name": {"vi": "X"}, "sector": "justice"}
    assert (
        await http.post(stack.url("registry", "/agencies"), json=onboarding, headers=reader)
    ).status_code == 401

    unknown = await http.get(stack.url("registry", "/agencies/no-such-agency/webhook-secret"), headers=reader)
    assert unknown.status_code == 404
