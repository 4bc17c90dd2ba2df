"""Faults under load heal without an operator, on replicas: two processes of every consuming service, and
while dossiers arrive at a steady rate one of each service is killed with SIGKILL and started again and
PostgreSQL crashes (immediate stop) and starts again. Every accepted dossier ends once and in order, each
effect happens once, nothing is dead-lettered, each e-mail is sent once (or twice, for those in flight in
the dispatcher's lanes when it died), and the replicas that lived through it shared the work: consumed
their partitions and relayed their service's outbox.

A service killed whole (its only process) is `tests/test_crash_recovery.py`'s case, and the operators'
`dossierbus chaos` command's by default (one process per service, each killed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dossierbus_devstack.chaos import Kill, Load, every_service_and_the_database, run_chaos
from dossierbus_devstack.services import CONSUMERS, SERVICES
from dossierbus_devstack.stack import DevStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DOSSIERS = 200
RATE = 5.0  # dossiers per second: 40 s of load
OUTAGE_S = 5.0
DRAIN_BOUND_S = 600.0
"""How long after the load (and the last restart) the bus may take to finish every dossier and send every
e-mail: generous, as a loaded machine sends the e-mails slowly."""
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


async def test_every_service_killed_and_the_database_crashed_under_load_heals_without_an_operator(
    replicated: DevStack,
) -> None:
    stack = replicated
    schedule = every_service_and_the_database(SERVICES, DOSSIERS / RATE, OUTAGE_S, stack.replica_counts)
    figures = await run_chaos(stack, Load(stack, DOSSIERS, RATE), schedule, drain_timeout_s=DRAIN_BOUND_S)
    report = "\n".join(figures.lines())

    assert figures.accepted == DOSSIERS, report
    assert figures.server_errors == 0, report
    assert figures.not_final == [], report
    assert figures.drained_s is not None, report
    assert figures.timeline_repeats == 0, report
    assert figures.out_of_order == 0, report
    assert figures.verification_repeats == 0, report
    assert figures.access_log_repeats == 0, report
    assert figures.dead_letters == 0, report
    assert figures.unsent_events == 0, report
    assert figures.emails_delivered == figures.emails_expected, report
    assert figures.emails_repeated <= figures.in_flight_allowance, report
    assert figures.healed, report

    # The replicas that were not killed did their share all along: consumed records of their partitions
    # and, where the service publishes, relayed rows of the outbox it shares with its sibling.
    killed = {(fault.service, fault.replica) for fault in schedule if isinstance(fault, Kill)}
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
