"""Status to the national portal on the real stack: dossiers flow, and the portal's simulator takes each
national status code of each, in the order the dossier went through them, once, with nothing personal,
the changes of a round in one request; a change the portal fails at first is tried again with the same
key; operators see it all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, linked_birth, submit, wait_final
from dossierbus_devstack.stack import DevStack
from dossierbus_shared.events import DossierStatus, national_status

pytestmark = pytest.mark.slow

PLAIN, LINKED = 64, 65
"""Seeded citizens (scenarios.birth_registration) no other test submits for."""


def national_codes(timeline: list[dict[str, Any]]) -> list[int]:
    """The national codes of the statuses the dossier went through, as routing's timeline shows them."""
    statuses = [DossierStatus.RECEIVED] + [
        DossierStatus(entry["status"]) for entry in timeline if entry["event"] == "status-changed"
    ]
    codes = [
        national_status(status, previous)
        for previous, status in zip([None, *statuses[:-1]], statuses, strict=True)
    ]
    return [int(code) for code in codes if code is not None]


async def test_the_portal_takes_every_national_status_in_order(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    portal = stack.national_portal
    await portal.fail(503, count=2, detail="maintenance")  # the first changes sent are sent again
    bodies = {"plain": birth_registration(PLAIN), "linked": linked_birth(LINKED)}
    codes = {name: (await submit(http, stack, body))["dossier_code"] for name, body in bodies.items()}
    operator = stack.headers("operator")

    for name, code in codes.items():
        dossier = await wait_final(http, stack, code, timeout_s=120)
        assert dossier["status"] == "returned", dossier
        expected = national_codes(dossier["timeline"])
        taken = await portal.wait_for_codes(code, expected)
        applicant = bodies[name]["applicant"]
        for item in taken:
            assert item["payload"]["MaHoSo"] == code
            assert item["payload"]["MaTTHC"] == bodies[name]["procedure_code"]
            assert applicant["personal_id"] not in str(item) and applicant["full_name"] not in str(item)
        view = await http.get(stack.url("routing", f"/dossiers/{code}/portal-sync"), headers=operator)
        assert view.status_code == 200, view.text
        states = [(change["national_status"], change["state"]) for change in view.json()["changes"]]
        assert [status for status, state in states if state == "sent"] == expected
        assert {state for _, state in states} <= {"sent", "not_sent"}
        if name == "plain":
            assert expected == [1, 2, 4, 9, 10]
        else:
            assert (None, "not_sent") in states, "the transfer to the linked steps is not a national status"

    # The changes went in batches (the simulator logs each change with the request that carried it), never
    # two of one dossier in a request; each change the portal answered 503 was sent again with the same
    # key, then taken.
    calls = (await http.get(f"{portal.url}/control/calls")).json()["calls"]
    requests: dict[int, list[str]] = {}
    for call in calls:
        requests.setdefault(call["request"], []).append(call["dossier"])
    assert all(len(set(dossiers)) == len(dossiers) for dossiers in requests.values()), requests
    refused = [call for call in calls if call["status"] == 503]
    assert len(refused) == 2
    for key in {call["key"] for call in refused}:
        answers = [call["status"] for call in calls if call["key"] == key]
        assert answers == [503] * (len(answers) - 1) + [200], answers
        dossier_code = next(call["dossier"] for call in refused if call["key"] == key)
        view = await http.get(stack.url("routing", f"/dossiers/{dossier_code}/portal-sync"), headers=operator)
        [change] = [c for c in view.json()["changes"] if c["idempotency_key"] == key]
        assert (change["state"], change["attempts"], change["error"]) == ("sent", len(answers), None)

    failures = await http.get(stack.url("routing", "/portal-sync/failures"), headers=operator)
    assert failures.status_code == 200 and failures.json()["enabled"] is True

    async def counted() -> None:
        metrics = (await http.get(stack.url("routing", "/metrics"))).text
        assert 'dossierbus_portal_sync_attempts_total{outcome="sent"}' in metrics
        assert 'dossierbus_portal_sync_changes{state="pending"}' in metrics

    await eventually(counted)
