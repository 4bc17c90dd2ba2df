"""The webhook secret, served to operators (the notifications service signs webhooks with it)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow


async def test_webhook_secret_is_served_to_operators_only_and_follows_rotation(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    code = f"hooked-{uuid.uuid4().hex[:6]}"
    created = await http.post(
        stack.url("registry", "/agencies"),
        json={"code": code, "identifier": "1", "name": {"vi": "X"}, "sector": "justice"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    issued = created.json()["credentials"]
    url = stack.url("registry", f"/agencies/{code}/webhook-secret")

    assert (await http.get(url)).status_code == 401
    assert (
        await http.get(url, headers={"Authorization": f"Bearer {issued['api_token']}"})
    ).status_code == 401
    served = await http.get(url, headers=admin)
    assert served.json() == {"webhook_secret": issued["webhook_secret"]}

    rotated = await http.post(stack.url("registry", f"/agencies/{code}/credentials"), json={}, headers=admin)
    new_secret = rotated.json()["credentials"]["webhook_secret"]
    assert new_secret != issued["webhook_secret"]
    assert (await http.get(url, headers=admin)).json() == {"webhook_secret": new_secret}

    unknown = await http.get(stack.url("registry", "/agencies/no-such-agency/webhook-secret"), headers=admin)
    assert unknown.status_code == 404
