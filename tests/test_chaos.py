"""Faults under load heal without an operator: dossiers arrive at a steady rate while every service is
killed with SIGKILL and started again and PostgreSQL crashes (immediate stop) and starts again. Every
accepted dossier ends, each effect happened once, nothing is dead-lettered, and each e-mail is sent once
(or twice, for the one in flight when its dispatcher died)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dossierbus_devstack.chaos import Load, every_service_and_the_database, run_chaos
from dossierbus_devstack.services import SERVICES
from dossierbus_devstack.stack import DevStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DOSSIERS = 200
RATE = 5.0  # dossiers per second: 40 s of load
OUTAGE_S = 5.0
DRAIN_BOUND_S = 600.0
"""How long after the load (and the last restart) the bus may take to finish every dossier and send every
e-mail: generous, as a loaded machine sends the e-mails slowly."""


@pytest.fixture(scope="module")
async def own_stack(isolated: None) -> AsyncIterator[DevStack]:
    async with DevStack() as running:
        yield running


async def test_every_service_killed_and_the_database_crashed_under_load_heals_without_an_operator(
    own_stack: DevStack,
) -> None:
    stack = own_stack
    faults = every_service_and_the_database(SERVICES, DOSSIERS / RATE, OUTAGE_S)
    figures = await run_chaos(stack, Load(stack, DOSSIERS, RATE), faults, drain_timeout_s=DRAIN_BOUND_S)
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
