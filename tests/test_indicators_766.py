"""Decision 766 indicators on the whole bus: dossiers submitted through intake, handled by the reference
agency and rated by their applicants show up in routing's GET /indicators and in its Prometheus gauges;
the same events delivered again change nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, business_dossier, submit, wait_final
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

AGENCY, PROCEDURE = "justice-hanoi", "1.001193"
ROUTING_GROUP = "dossierbus.routing"
COUNTED = (
    "received",
    "processed",
    "on_time",
    "late",
    "in_progress",
    "overdue_in_progress",
    "online",
    "with_result",
    "digitised_results",
)


async def indicators(http: httpx.AsyncClient, stack: DevStack) -> dict[str, Any]:
    response = await http.get(
        stack.url("routing", "/indicators"), params={"agency": AGENCY, "procedure": PROCEDURE}
    )
    assert response.status_code == 200, response.text
    rows = response.json()["indicators"]
    assert len(rows) <= 1
    return rows[0] if rows else {name: 0 for name in COUNTED} | {"satisfaction": {"count": 0}}


async def settled(http: httpx.AsyncClient, stack: DevStack, processed: int | None = None) -> dict[str, Any]:
    """The indicators once no counted dossier is in progress (and, if given, `processed` is reached)."""

    async def without_work_in_progress() -> dict[str, Any]:
        current = await indicators(http, stack)
        assert current["in_progress"] == 0, current
        assert processed is None or current["processed"] >= processed, current
        return current

    return await eventually(without_work_in_progress)


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    changes = {name: after[name] - before[name] for name in COUNTED}
    changes["ratings"] = after["satisfaction"]["count"] - before["satisfaction"]["count"]
    return changes


async def rate(http: httpx.AsyncClient, stack: DevStack, code: str, score: object) -> httpx.Response:
    return await http.post(stack.url("intake", f"/dossiers/{code}/rating"), json={"score": score})


async def rate_finished(http: httpx.AsyncClient, stack: DevStack, code: str, score: int) -> httpx.Response:
    """Rate a dossier routing reports final, once intake has heard that it is (one event later)."""

    async def rated() -> httpx.Response:
        response = await rate(http, stack, code, score)
        if response.status_code == 409:
            assert response.json()["errors"][0]["type"] != "not_finished", f"intake holds {code} unfinished"
        return response

    return await eventually(rated)


async def test_indicators_count_what_the_bus_did_once(stack: DevStack, http: httpx.AsyncClient) -> None:
    before = await settled(http, stack)

    direct = dict(birth_registration(20), channel="direct")
    mismatched = birth_registration(21)
    mismatched["applicant"] = dict(mismatched["applicant"], full_name="Tên Không Khớp")
    bodies = [birth_registration(22), birth_registration(23), direct, mismatched]
    codes = [(await submit(http, stack, body))["dossier_code"] for body in bodies]
    final = [(await wait_final(http, stack, code))["status"] for code in codes]
    assert final == ["returned", "returned", "returned", "rejected"]

    five, two = await rate_finished(http, stack, codes[0], 5), await rate_finished(http, stack, codes[1], 2)
    assert (five.status_code, two.status_code) == (202, 202)
    assert five.headers["Idempotent-Replayed"] == "false"

    await settled(http, stack, processed=before["processed"] + 4)

    async def both_ratings_counted() -> dict[str, Any]:
        after = await indicators(http, stack)
        assert after["satisfaction"]["count"] == before["satisfaction"]["count"] + 2, after["satisfaction"]
        return after

    after = await eventually(both_ratings_counted)
    assert delta(after, before) == {
        "received": 4,
        "processed": 4,  # the refusal by the registry ends processing too
        "on_time": 4,
        "late": 0,
        "in_progress": 0,
        "overdue_in_progress": 0,
        "online": 3,
        "with_result": 3,
        "digitised_results": 3,  # the reference agency attaches the signed result document
        "ratings": 2,
    }
    assert after["late"] == 0 and after["on_time_rate"] == 1.0
    assert after["online_rate"] == round(after["online"] / after["received"], 4)
    assert after["digitised_results_rate"] == round(after["digitised_results"] / after["with_result"], 4)
    satisfaction = after["satisfaction"]
    assert satisfaction["dislikes"] - before["satisfaction"].get("dislikes", 0) == 1
    components = {item["indicator"]: item for item in after["score"]["components"]}
    assert components["2.1"]["points"] == 20.0  # every dossier so far on time
    assert components["4.1"]["max_points"] == 6

    await metrics_show(http, stack, after)
    await redelivery_changes_nothing(http, stack, codes[0], after)


async def metrics_show(http: httpx.AsyncClient, stack: DevStack, expected: dict[str, Any]) -> None:
    labels = f'agency="{AGENCY}",procedure="{PROCEDURE}"'
    wanted = [
        f"dossierbus_766_received{{{labels}}} {float(expected['received'])}",
        f"dossierbus_766_processed{{{labels}}} {float(expected['processed'])}",
        f"dossierbus_766_on_time_rate{{{labels}}} 1.0",
        f"dossierbus_766_satisfaction_count{{{labels}}} {float(expected['satisfaction']['count'])}",
        f"dossierbus_766_online_rate{{{labels}}} {expected['online_rate']}",
    ]

    async def shown() -> None:
        lines = (await http.get(stack.url("routing", "/metrics"), follow_redirects=True)).text.splitlines()
        missing = [line for line in wanted if line not in lines]
        assert not missing, f"/metrics lacks {missing}"

    await eventually(shown)  # the gauges are reloaded from the projection every few seconds


async def redelivery_changes_nothing(
    http: httpx.AsyncClient, stack: DevStack, code: str, counted: dict[str, Any]
) -> None:
    """Every event routing consumed for one dossier's projection (its verification and its rating; its own
    status changes it applied as it published them), sent again with its id, is consumed (the routing
    group's committed offset passes it) and counted no second time."""
    async with stack.database() as connection:
        rows = await connection.fetch(
            "SELECT topic, key, headers, payload FROM registry.outbox"
            " WHERE subject = $1 AND event_type LIKE '%verified%'"
            " UNION ALL SELECT topic, key, headers, payload FROM intake.outbox"
            " WHERE subject = $1 AND event_type LIKE '%rated%'",
            code,
        )
    topics = sorted({row["topic"] for row in rows})
    assert topics == ["dossier.rated", "dossier.verified"]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(
                row["topic"],
                value=row["payload"].encode(),
                key=row["key"].encode(),
                headers=[(name, value.encode()) for name, value in json.loads(row["headers"])],
            )
            for row in rows
        ]
    finally:
        await producer.stop()
    for record in sent:
        await consumed(stack, TopicPartition(record.topic, record.partition), record.offset)
    assert await indicators(http, stack) == counted


async def consumed(stack: DevStack, partition: TopicPartition, offset: int) -> None:
    # A consumer that never subscribes only asks the group coordinator, without joining the group.
    reader = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, group_id=ROUTING_GROUP, enable_auto_commit=False
    )
    await reader.start()

    async def passed() -> None:
        committed = await reader.committed(partition)
        assert committed is not None and committed > offset, f"routing's offset of {partition}: {committed}"

    try:
        await eventually(passed)
    finally:
        await reader.stop()


async def test_rating_is_validated_and_given_once_the_dossier_is_finished(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    live, _ = await business_dossier(http, stack, representative=25)  # kept in processing
    early = await rate(http, stack, live, 4)
    assert early.status_code == 409
    assert early.json()["errors"][0] == {
        "field": "code",
        "message": "the dossier is still being processed",
        "type": "not_finished",
    }

    code = (await submit(http, stack, birth_registration(24)))["dossier_code"]
    await wait_final(http, stack, code)
    for score in [0, 6, "4", None]:
        refused = await rate(http, stack, code, score)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "score" in [error["field"] for error in refused.json()["errors"]]
    unknown = await rate(http, stack, "000.00.01.H26-000101-9999", 4)
    assert unknown.status_code == 404

    first = await rate_finished(http, stack, code, 4)
    again = await rate(http, stack, code, 4)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    changed = await rate(http, stack, code, 1)
    assert changed.status_code == 409
    assert changed.json()["errors"][0]["field"] == "score"
    async with stack.database() as connection:
        staged = await connection.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE subject = $1 AND event_type LIKE '%rated%'", code
        )
    assert staged == 1


async def test_bad_indicator_queries_get_a_problem_naming_the_field(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    cases = [
        ({"agency": "no-such-agency"}, "agency"),
        ({"procedure": "9.999999"}, "procedure"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
    ]
    for params, field in cases:
        response = await http.get(stack.url("routing", "/indicators"), params=params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]]
    empty = await http.get(
        stack.url("routing", "/indicators"), params={"from": "2000-01-01", "to": "2000-12-31"}
    )
    assert empty.status_code == 200 and empty.json()["indicators"] == []
