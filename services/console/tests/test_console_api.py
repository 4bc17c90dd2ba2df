"""The console's API on the whole stack: a dossier's timeline with trace links, queues and lag, dead letters
listed and replayed by an operator, the 766 indicators; bad input answered with problems."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final, wait_for_notifications
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

DLQ = "dossier.verified.dlq"


async def letters_of(operator: httpx.AsyncClient, event_id: str, count: int) -> list[Any]:
    """The letters of one event in the console's DLQ listing, once there are at least `count`."""

    async def listed() -> list[Any]:
        response = await operator.get(f"/api/dlq/{DLQ}")
        assert response.status_code == 200, response.text
        found = [letter for letter in response.json()["letters"] if letter["event_id"] == event_id]
        assert len(found) >= count, f"expected {count} dead letter(s) of {event_id} in {DLQ}, found {found}"
        return found

    return await eventually(listed)


async def test_a_dossier_shows_its_timeline_with_links_to_its_trace(
    stack: DevStack, http: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    code = (await submit(http, stack, birth_registration(10, email="console@example.vn")))["dossier_code"]
    routed = await wait_final(http, stack, code)
    sent = await wait_for_notifications(http, stack, code, count=4)

    response = await operator.get(f"/api/dossiers/{code}")
    assert response.status_code == 200, response.text
    dossier = response.json()
    assert (dossier["dossier_code"], dossier["status"]) == (code, "returned")
    assert [entry["event"] for entry in dossier["timeline"]] == [
        entry["event"] for entry in routed["timeline"]
    ]
    assert dossier["notifications"] == sent

    spans = await stack.spans_for(code)
    trace_ids = {span["trace_id"] for span in spans}
    linked = {entry["trace_id"] for entry in dossier["timeline"]}
    assert linked and linked <= trace_ids, "every timeline entry links to a trace of this dossier"
    for entry in dossier["timeline"]:
        assert entry["trace_url"] == f"http://localhost:16686/trace/{entry['trace_id']}"


async def test_a_dossiers_trace_comes_back_as_a_waterfall_of_every_service(
    stack: DevStack, http: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    code = (await submit(http, stack, birth_registration(11, email="trace@example.vn")))["dossier_code"]
    await wait_final(http, stack, code)
    await wait_for_notifications(http, stack, code, count=4)
    written = await stack.spans_for(
        code, until=lambda found: {"intake", "registry", "routing", "notifications"} <= services(found)
    )

    assert (
        await httpx.AsyncClient().get(stack.url("console", f"/api/dossiers/{code}/trace"))
    ).status_code == 401
    response = await operator.get(f"/api/dossiers/{code}/trace")
    assert response.status_code == 200, response.text
    trace = response.json()
    assert (trace["dossier_code"], trace["backend"]) == (code, "spans-file")
    assert {"intake", "registry", "routing", "notifications"} <= {span["service"] for span in trace["spans"]}
    assert {span["span_id"] for span in trace["spans"]} <= {span["span_id"] for span in written}
    assert {span["trace_id"] for span in trace["spans"]} == set(trace["trace_ids"])
    assert "justice-hanoi" in {span["hop"] for span in trace["spans"]}
    offsets = [span["offset_us"] for span in trace["spans"]]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert all(span["offset_us"] + span["duration_us"] <= trace["duration_us"] for span in trace["spans"])
    assert trace["waiting"] is None  # returned: it waits on nobody


async def test_a_paused_dossiers_trace_says_it_waits_on_the_applicant(
    stack: DevStack, http: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    body = birth_registration(12)
    body["form"]["place_of_birth"] = "Bệnh viện Phụ sản Hà Nội [justice-hanoi: asks for a supplement]"
    code = (await submit(http, stack, body))["dossier_code"]

    async def waiting_for_the_applicant() -> Any:
        waiting = (await operator.get(f"/api/dossiers/{code}/trace")).json().get("waiting")
        assert waiting and waiting["status"] == "supplement_requested", waiting
        return waiting

    waiting = await eventually(waiting_for_the_applicant, interval_s=0.2)
    assert [(step["step"], step["waits_on"]) for step in waiting["steps"]] == [
        ("birth-registration", "applicant")
    ]
    assert waiting["last_span"]["service"] in {"intake", "registry", "routing", "notifications"}
    # The supplement sent, the dossier ends: nothing of this test stays in progress for the others.
    sent = await http.post(
        stack.url("routing", f"/dossiers/{code}/supplement"),
        json={"applicant_personal_id": body["applicant"]["personal_id"], "note": "Giấy chứng sinh"},
    )
    assert sent.status_code == 200, sent.text
    await wait_final(http, stack, code)

    unknown = await operator.get("/api/dossiers/000.00.01.H26-000000-9999/trace")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def services(spans: list[Any]) -> set[str]:
    return {str(span["service"]).removeprefix("dossierbus-") for span in spans}


async def test_an_unknown_or_malformed_dossier_code_is_a_problem(operator: httpx.AsyncClient) -> None:
    unknown = await operator.get("/api/dossiers/000.00.01.H26-000000-9999")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "000.00.01.H26-000000-9999" in unknown.json()["detail"]

    for malformed in ("not a code!", "000.00.01/H26", "x" * 65):
        response = await operator.get(f"/api/dossiers/{malformed}")
        assert response.status_code == 422, malformed
        assert [error["field"] for error in response.json()["errors"]] == ["code"]


async def test_queues_show_every_topic_and_each_groups_lag(
    stack: DevStack, http: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    await wait_final(http, stack, (await submit(http, stack, birth_registration(11)))["dossier_code"])
    response = await operator.get("/api/queues")
    assert response.status_code == 200, response.text
    queues = response.json()
    topics = {topic["name"]: topic for topic in queues["topics"]}
    assert {"dossier.submitted", "dossier.verified", "agency.justice-hanoi.inbox"} <= set(topics)
    assert topics["dossier.submitted"]["partitions"] == stack.topic_partitions
    assert topics["dossier.submitted"]["end_offset"] >= 1
    assert "dossier.submitted.dlq" in {topic["name"] for topic in queues["dead_letter_topics"]}
    assert not any(name.endswith(".dlq") for name in topics)

    lag = {(item["group"], item["topic"]): item for item in queues["consumer_lag"]}
    registry = lag[("dossierbus.registry", "dossier.submitted")]
    assert registry["end_offset"] == topics["dossier.submitted"]["end_offset"]
    assert registry["lag"] == registry["end_offset"] - registry["committed"] >= 0
    assert ("dossierbus.notifications", "dossier.submitted") in lag


async def test_a_dead_letter_is_listed_and_replayed_with_the_operator_token(
    stack: DevStack, http: httpx.AsyncClient, operator: httpx.AsyncClient, put_malformed: Any
) -> None:
    event_id = await put_malformed("CONSOLE-API-1")
    [letter] = await letters_of(operator, event_id, count=1)
    assert letter["original_topic"] == "dossier.verified"
    assert letter["consumer_group"] == "dossierbus.routing"
    assert letter["event_type"] == "vn.gov.dossierbus.dossier.verified.v1"
    assert letter["subject"] == "CONSOLE-API-1"
    assert "JSON" in letter["reason"] and letter["failed_at"]

    replay_url = stack.url("console", f"/api/dlq/{DLQ}/replay")
    body = {"event_id": event_id}
    anonymous = await http.post(replay_url, json=body)
    wrong = await http.post(replay_url, json=body, headers={"Authorization": "Bearer not-the-token"})
    assert anonymous.status_code == wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"

    replayed = await operator.post(replay_url, json=body)
    assert replayed.status_code == 200, replayed.text
    assert [item["event_id"] for item in replayed.json()["replayed"]] == [event_id]
    # Back on dossier.verified, the record is still not JSON: routing dead-letters it a second time.
    again = await letters_of(operator, event_id, count=2)
    assert len({(item["partition"], item["offset"]) for item in again}) == 2

    missing = await operator.post(replay_url, json={"event_id": "no-such-event"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "event_id"
    empty = await operator.post(replay_url, json={"event_id": ""})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "event_id"


async def test_dead_letter_topics_are_checked(operator: httpx.AsyncClient) -> None:
    not_dlq = await operator.get("/api/dlq/dossier.verified")
    assert not_dlq.status_code == 422 and not_dlq.json()["errors"][0]["field"] == "topic"
    unknown = await operator.get("/api/dlq/no-such-topic.dlq")
    assert unknown.status_code == 404
    assert "does not exist" in unknown.json()["detail"]


async def test_indicators_come_from_routing_or_say_they_are_not_available(
    stack: DevStack, http: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    routing = await http.get(stack.url("routing", "/indicators"))
    console = await operator.get("/api/indicators")
    if routing.status_code == 404:
        assert console.status_code == 404
        assert console.json()["title"] == "Indicators not available"
        return
    assert console.status_code == 200, console.text
    served = console.json()["indicators"]
    assert len(served) == len(routing.json()["indicators"])
    for item in served:
        assert {"agency", "procedure", "received", "processed", "on_time_rate"} <= set(item)
