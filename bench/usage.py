"""What the stack used: CPU time per part, statements per service and kind (as PostgreSQL and as the
services count them), the rows they read and wrote, and the records on the broker. Taken before and
after a load, the difference is what the load cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import httpx

import processes
from broker import records_on_broker
from dossierbus_devstack.stack import DevStack
from statements import Counts, counted_by_postgres, counted_by_services


@dataclass(frozen=True)
class Usage:
    cpu_s: Mapping[str, float] | None
    """Per part of the stack; None without /proc."""
    statements: Counts | None
    """Per (service, kind), counted by PostgreSQL; None without pg_stat_statements."""
    rows: Counts | None
    """Rows the statements of `statements` returned or changed."""
    statements_by_services: Counts | None
    """Per (service, kind), counted by the services; None where they have no such counter."""
    records: int
    """On the broker, written by the bus."""
    machine: processes.MachineTicks | None
    """The whole machine's CPU time; None without /proc."""

    def __sub__(self, before: Usage) -> Usage:
        return Usage(
            cpu_s=_minus(self.cpu_s, before.cpu_s),
            statements=_minus_counts(self.statements, before.statements),
            rows=_minus_counts(self.rows, before.rows),
            statements_by_services=_minus_counts(self.statements_by_services, before.statements_by_services),
            records=self.records - before.records,
            machine=self.machine - before.machine if self.machine and before.machine else None,
        )


async def usage(stack: DevStack, http: httpx.AsyncClient, database: asyncpg.Connection) -> Usage:
    by_postgres = await counted_by_postgres(database)
    metrics = [stack.url(name, "/metrics") for name in stack.services]
    return Usage(
        cpu_s=processes.cpu_seconds_by_part() if processes.available() else None,
        statements=by_postgres[0] if by_postgres else None,
        rows=by_postgres[1] if by_postgres else None,
        statements_by_services=await counted_by_services(http, metrics),
        records=await records_on_broker(stack.kafka_bootstrap),
        machine=processes.machine_ticks() if processes.available() else None,
    )


def _minus(after: Mapping[str, float] | None, before: Mapping[str, float] | None) -> dict[str, float] | None:
    if after is None or before is None:
        return None
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _minus_counts(after: Counts | None, before: Counts | None) -> Counts | None:
    if after is None or before is None:
        return None
    return after - before  # what grew: counts only grow
