"""Two replicas of every consuming service under load, one of each killed with SIGKILL and started again:
every dossier ends exactly once and in order, both replicas of a service share its work (its partitions,
its HTTP requests, its outbox), and no event is lost or applied twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dossierbus_devstack.chaos import Kill, Load, run_chaos
from dossierbus_devstack.services import CONSUMERS
from dossierbus_devstack.stack import DevStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DOSSIERS = 150
RATE = 5.0  # dossiers per second: 30 s of load
DRAIN_BOUND_S = 600.0
PRODUCERS = ("intake", "registry", "routing")
"""The consuming services whose outbox publishes events (notifications sends e-mail instead)."""


@pytest.fixture(scope="module")
async def replicated(isolated: None) -> AsyncIterator[DevStack]:
    async with DevStack(replicas=dict.fromkeys(CONSUMERS, 2)) as running:
        yield running


def counted(metrics: str, name: str, *labels: str) -> float:
    """The sum of a counter's samples in a /metrics page, over those carrying each `label="value"`."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name + "{") and all(label in line for label in labels)
    )


async def test_one_replica_of_each_killed_under_load_every_dossier_ends_once_in_order(
    replicated: DevStack,
) -> None:
    stack = replicated
    # One of each service, the first replica of some and the second of others, a few seconds apart.
    faults = [Kill(name, at_s=4.0 + 5 * i, replica=i % 2) for i, name in enumerate(CONSUMERS)]
    figures = await run_chaos(stack, Load(stack, DOSSIERS, RATE), faults, drain_timeout_s=DRAIN_BOUND_S)
    report = "\n".join(figures.lines())

    assert figures.accepted == DOSSIERS, report
    assert figures.not_final == [], report
    assert figures.timeline_repeats == 0, report
    assert figures.out_of_order == 0, report
    assert figures.verification_repeats == figures.access_log_repeats == 0, report
    assert figures.dead_letters == 0, report
    assert figures.unsent_events == 0, report
    assert figures.emails_delivered == figures.emails_expected, report
    assert figures.emails_repeated <= figures.in_flight_allowance, report

    # The replicas that were not killed did their share all along: consumed records of their partitions
    # and, where the service publishes, relayed rows of the outbox it shares with its sibling.
    killed = {(fault.service, fault.replica) for fault in faults}
    async with httpx.AsyncClient(timeout=10) as http:
        for name in CONSUMERS:
            for replica in stack.replicas[name]:
                assert replica.running, replica.label
                if (name, replica.replica) in killed:
                    continue
                metrics = (await http.get(replica.own_url("/metrics"))).text
                consumed = counted(metrics, "dossierbus_events_consumed_total", 'outcome="processed"')
                assert consumed > 0, f"{replica.label} consumed nothing"
                if name in PRODUCERS:
                    produced = counted(metrics, "dossierbus_events_produced_total")
                    assert produced > 0, f"{replica.label} relayed nothing from the outbox"
