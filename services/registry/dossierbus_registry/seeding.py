"""Loading the reference national databases with synthetic citizens and enterprises."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from dossierbus_registry.adapters.population import copy_rows
from dossierbus_registry.adapters.tables import citizens, enterprises
from dossierbus_registry.synthetic import (
    ADULT_BEFORE,
    DEVELOPMENT_APPLICANTS,
    CitizenRow,
    EnterpriseRow,
    citizen_rows,
    enterprise_rows,
)
from dossierbus_shared.db import Database

REPRESENTATIVES = 50_000
"""At most this many adult citizens are kept in memory as legal representatives of enterprises."""


@dataclass(frozen=True)
class Loaded:
    table: str
    generated: int
    added: int
    seconds: float
    cpu_seconds: float
    """CPU time of this (generating) process: the rate that does not depend on the machine's load."""

    @property
    def rows_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (
            f"{self.table}: {self.generated} generated, {self.added} added in {self.seconds:.1f} s"
            f" ({self.rows_per_second:,.0f} rows/s; generating and sending took {self.cpu_seconds:.1f} s CPU)"
        )


async def seed(
    db: Database,
    citizen_count: int,
    enterprise_count: int = 0,
    seed_value: int = 766,
    report: Callable[[Loaded], None] = lambda loaded: None,
) -> list[Loaded]:
    """Load the documented development applicants and `citizen_count` synthetic citizens, then
    `enterprise_count` enterprises represented by adults among them. Deterministic for a seed, and
    idempotent: existing rows are kept."""
    representatives: list[str] = []
    stride = max(1, citizen_count // REPRESENTATIVES)
    counted = 0

    def keeping_representatives() -> Iterator[list[CitizenRow]]:
        nonlocal counted
        documented = {row[0] for row in DEVELOPMENT_APPLICANTS}
        counted += len(DEVELOPMENT_APPLICANTS)
        yield list(DEVELOPMENT_APPLICANTS)
        for generated in citizen_rows(citizen_count, seed_value):
            # The documented applicants keep their names should a synthetic citizen draw the same ID.
            batch = [row for row in generated if row[0] not in documented]
            representatives.extend(
                row[0] for row in batch[::stride] if _adult(row[2]) and len(representatives) < REPRESENTATIVES
            )
            counted += len(batch)
            yield batch

    started, cpu = time.perf_counter(), time.process_time()
    added = await copy_rows(db, citizens, keeping_representatives())
    results = [Loaded("citizens", counted, added, time.perf_counter() - started, time.process_time() - cpu)]
    report(results[-1])
    if enterprise_count:
        generated = 0

        def counting() -> Iterator[list[EnterpriseRow]]:
            nonlocal generated
            for batch in enterprise_rows(enterprise_count, representatives, seed_value):
                generated += len(batch)
                yield batch

        started, cpu = time.perf_counter(), time.process_time()
        added = await copy_rows(db, enterprises, counting())
        elapsed = time.perf_counter() - started
        results.append(Loaded("enterprises", generated, added, elapsed, time.process_time() - cpu))
        report(results[-1])
    return results


def _adult(born: date) -> bool:
    return born < ADULT_BEFORE
