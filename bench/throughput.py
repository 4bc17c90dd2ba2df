"""Pushes N dossiers through the whole bus and prints end-to-end throughput and latencies, next to the raw
produce/consume rate of the same broker measured in the same run (on a broker of its own before the
stack starts; the consume rate also beside the idle stack), and what each dossier cost: CPU time per
part of the stack, database statements, commits and rows, Kafka records. PostgreSQL is durable, as in
production (each commit synced to disk before it is answered); the output says so.

    .venv/bin/python bench/throughput.py --dossiers 2000 --concurrency 64
    .venv/bin/python bench/throughput.py --dossiers 600 --rate 3    # open loop: 3 dossiers/s offered
    .venv/bin/python bench/throughput.py --dossiers 1000 --half-capacity    # capacity, then half of it
    .venv/bin/python bench/throughput.py --replicas routing=2,notifications=2   # processes per service
    .venv/bin/python bench/throughput.py --rate 20 --spans /tmp/spans.jsonl     # then: bench/hops.py it

Closed loop (the default): `--concurrency` submitters, each submitting as soon as its last was accepted.
Open loop (`--rate R`): a submission every 1/R s whatever the bus answers, so latencies are those of a
bus running at that rate, not those of a queue. `--half-capacity`: a closed loop of as many dossiers
first, then the open loop at half the rate at which the stack finished them (every one returned and every
letter sent), on a fresh stack of the same code (the in-memory development broker keeps every record of
the burst and reads past them on each fetch); the figures after the capacity are those of the open loop.
Every run also prints how many of the machine's cores were busy and how many the host took away (steal
time: on a shared virtual machine, the stack runs slower for reasons of no part of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from broker import lone_broker_rate, raw_broker_rate
from dossierbus_devstack.database import DURABILITY_QUERY, describe_durability
from dossierbus_devstack.lifetime import run_until_signalled
from dossierbus_devstack.scenarios import birth_registration
from dossierbus_devstack.stack import DevStack
from statements import KINDS, Counts, observed_postgres
from usage import Usage, usage

try:
    from dossierbus_devstack.chaos import wait_drained
except ImportError:  # a checkout from before the chaos run: --half-capacity refuses to run on it
    wait_drained = None  # type: ignore[assignment]

try:
    from dossierbus_devstack.cli import replicas_option
except ImportError:  # a checkout from before replicas (bench/compare.py runs this file on older ones)

    def replicas_option(text: str) -> dict[str, int]:
        raise argparse.ArgumentTypeError("this checkout's stack runs one process per service")


STALLED_S = 60.0
"""No dossier returned for this long: the run fails rather than waits for ever."""
DRAINED_S = 600.0
"""`--half-capacity`: the longest wait, after the last dossier returned, for the last letter."""
Submit = Callable[[int], Awaitable[tuple[str, float]]]
"""Submits the index-th dossier: its code and when it was sent (time.time())."""


async def closed_loop(submit: Submit, indexes: range, concurrency: int) -> list[tuple[str, float]]:
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> tuple[str, float]:
        async with limit:
            return await submit(index)

    return await asyncio.gather(*(one(index) for index in indexes))


async def open_loop(submit: Submit, indexes: range, rate: float) -> list[tuple[str, float]]:
    started = time.perf_counter()

    async def one(offset: int, index: int) -> tuple[str, float]:
        await asyncio.sleep(max(0.0, started + offset / rate - time.perf_counter()))
        return await submit(index)

    return await asyncio.gather(*(one(offset, index) for offset, index in enumerate(indexes)))


async def wait_returned(database: asyncpg.Connection, codes: list[str]) -> None:
    returned, progressed = 0, time.monotonic()
    while returned < len(codes):
        await asyncio.sleep(0.2)
        now_returned = await database.fetchval(
            "SELECT count(*) FROM routing.dossiers WHERE code = ANY($1) AND status = 'returned'", codes
        )
        if now_returned > returned:
            returned, progressed = now_returned, time.monotonic()
        elif time.monotonic() - progressed > STALLED_S:
            raise RuntimeError(
                f"{len(codes) - returned} of {len(codes)} dossiers not returned, none for {STALLED_S:.0f} s"
            )


async def wait_letters(stack: DevStack, codes: list[str]) -> None:
    """Until every dossier of `codes` is final and every one of its letters delivered."""
    if not await wait_drained(stack, codes, DRAINED_S, report=False):
        raise RuntimeError(f"letters of {len(codes)} dossiers not all delivered within {DRAINED_S:.0f} s")


async def milestones(database: asyncpg.Connection, codes: list[str]) -> dict[str, tuple[float, float]]:
    """Per dossier code, when routing assigned it and when it was returned (epoch seconds)."""
    rows = await database.fetch(
        """SELECT d.code,
                  extract(epoch FROM min(t.at) FILTER (WHERE t.event = 'assigned'))::float8 AS assigned,
                  extract(epoch FROM min(t.at) FILTER (WHERE t.event = 'status-changed'
                                                       AND t.status = 'returned'))::float8 AS returned
           FROM routing.dossiers d JOIN routing.timeline t ON t.dossier_id = d.id
           WHERE d.code = ANY($1) GROUP BY d.code""",
        codes,
    )
    return {row["code"]: (row["assigned"], row["returned"]) for row in rows}


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p99, in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else seconds * 99
    return {"p50": cuts[49] * 1000, "p99": cuts[98] * 1000}


class Portal:
    """Submits dossiers as the one-stop portal does: again, after Retry-After, while intake answers 503."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.busy = 0
        """503 answers so far."""

    async def submit(self, index: int) -> tuple[str, float]:
        sent, key = time.time(), f"bench-{uuid.uuid4()}"
        while True:
            response = await self.http.post(
                self.url, json=birth_registration(index), headers={"Idempotency-Key": key}
            )
            if response.status_code != 503:
                response.raise_for_status()
                return str(response.json()["dossier_code"]), sent
            self.busy += 1
            await asyncio.sleep(float(response.headers.get("Retry-After", 1)))


async def run(args: argparse.Namespace) -> None:
    lone = await lone_broker_rate(args.raw_records)
    figures: dict[str, float] = {}
    rate = args.rate
    if args.half_capacity:
        # The capacity on a stack of its own, just before: a burst leaves the development broker holding
        # its records, which Tansu reads past on every fetch (an in-memory broker has no retention), and
        # PostgreSQL vacuuming behind it; half of capacity is then measured on a fresh stack.
        async with running_stack(args) as (stack, http, database):
            figures = await measure_capacity(args, stack, http, database)
        rate = figures["capacity (returned, letters sent), dossiers/s"] / 2
    async with running_stack(args) as (stack, http, database):
        durability = describe_durability(await database.fetchrow(DURABILITY_QUERY))
        figures |= await measure(args, stack, http, database, lone, rate)
    if args.half_capacity:
        load = (
            f"offered at {figures['offered, dossiers/s']:.1f}/s, half of the capacity measured just before"
            " on a stack of its own"
        )
    elif args.rate:
        load = f"offered at {args.rate:g}/s"
    else:
        load = f"concurrency {args.concurrency}"
    print(f"dossiers                         {args.dossiers} ({load}; {args.warmup} before, not counted)")
    counts = getattr(stack, "replica_counts", {})  # none before replicas: one process each
    replicas = ", ".join(f"{name} {count}" for name, count in counts.items()) or "one process per service"
    print(f"replicas                         {replicas}")
    print(f"PostgreSQL                       {durability}")
    print_figures(figures)
    if args.json:
        report = json.dumps({"durability": durability, "figures": figures}, indent=1)
        await asyncio.to_thread(Path(args.json).write_text, report)


@contextlib.asynccontextmanager
async def running_stack(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[DevStack, httpx.AsyncClient, asyncpg.Connection]]:
    """A stack of its own, on a PostgreSQL of its own, warmed up by `--warmup` dossiers: what happens
    once (agencies joining their consumer groups, caches, prepared statements) is not counted."""
    stack_options: dict[str, Any] = {"replicas": args.replicas} if args.replicas else {}
    if args.spans:
        stack_options["spans_file"] = Path(args.spans)
    async with (
        observed_postgres() as database_url,
        DevStack(database_url=database_url, **stack_options) as stack,
        httpx.AsyncClient(timeout=60, headers=stack.headers("portal")) as http,
        stack.database() as database,
    ):
        warmup = Portal(http, stack.url("intake", "/dossiers"))
        warmed = await closed_loop(warmup.submit, range(args.warmup), args.concurrency)
        await wait_returned(database, [code for code, _ in warmed])
        yield stack, http, database


async def measure_capacity(
    args: argparse.Namespace, stack: DevStack, http: httpx.AsyncClient, database: asyncpg.Connection
) -> dict[str, float]:
    """The capacity on this machine now, in the same run: a shared machine's speed moves from one minute to
    the next, so half of an earlier run's capacity may be all of this one's. The capacity is the rate at
    which the stack finishes all of a dossier's work: the closed loop returns dossiers faster than the
    notifications send their letters (off the dossier's path, they lag behind a burst), and a rate whose
    letters pile up is not one the stack can keep up."""
    portal = Portal(http, stack.url("intake", "/dossiers"))
    started = time.perf_counter()
    sent = await closed_loop(portal.submit, range(args.warmup, args.warmup + args.dossiers), args.concurrency)
    codes = [code for code, _ in sent]
    await wait_returned(database, codes)
    returned_in = time.perf_counter() - started
    await wait_letters(stack, codes)
    return {
        "returned by the closed loop just before, dossiers/s": args.dossiers / returned_in,
        "capacity (returned, letters sent), dossiers/s": args.dossiers / (time.perf_counter() - started),
    }


async def measure(
    args: argparse.Namespace,
    stack: DevStack,
    http: httpx.AsyncClient,
    database: asyncpg.Connection,
    lone: tuple[float, float],
    rate: float | None,
) -> dict[str, float]:
    """`lone`: the broker's raw produce and consume rates measured on a broker of its own; `rate`: the
    dossiers offered per second (open loop), or None (closed loop)."""
    _, consume_beside = await raw_broker_rate(stack.kafka_bootstrap, args.raw_records)
    produce_rate, consume_rate = lone
    portal = Portal(http, stack.url("intake", "/dossiers"))
    figures: dict[str, float] = {}
    if rate:
        figures["offered, dossiers/s"] = rate
    measured = range(args.warmup, args.warmup + args.dossiers)
    before = await usage(stack, http, database)
    started = time.perf_counter()
    if rate:
        sent = await open_loop(portal.submit, measured, rate)
    else:
        sent = await closed_loop(portal.submit, measured, args.concurrency)
    submitted_in = time.perf_counter() - started
    codes = [code for code, _ in sent]
    await wait_returned(database, codes)
    finished_in = time.perf_counter() - started
    used = await usage(stack, http, database) - before
    letters_after: float | None = None
    if args.half_capacity:
        # At a rate the stack keeps up with, the last letter follows the last return within a poll or two
        # (wait_drained looks every half second); a long wait here means the letters were piling up.
        await wait_letters(stack, codes)
        letters_after = time.perf_counter() - started - finished_in

    reached = await milestones(database, codes)
    assigned = [reached[code][0] - at for code, at in sent]
    returned = [reached[code][1] - at for code, at in sent]
    end_to_end = args.dossiers / finished_in
    figures |= {
        "submitted (HTTP 202), dossiers/s": args.dossiers / submitted_in,
        "end to end (submit -> returned), dossiers/s": end_to_end,
        **breakdown("submit -> assigned, ms", percentiles(assigned), total=False),
        **breakdown("submit -> returned, ms", percentiles(returned), total=False),
        **({"last letter sent after the last return, s": letters_after} if letters_after is not None else {}),
        "submissions answered 503 and sent again": portal.busy,
        "raw broker produce (batched), records/s": produce_rate,
        "raw broker consume (JSON decode), records/s": consume_rate,
        "raw consume beside the idle stack, records/s": consume_beside,
        "end to end / raw consume": end_to_end / consume_rate,
    }
    if used.machine is not None:
        figures |= breakdown("cores of the machine", used.machine.cores(finished_in), total=False)
    return figures | per_dossier(used, args.dossiers)


def per_dossier(used: Usage, dossiers: int) -> dict[str, float]:
    """What one dossier cost, by figure name; a part of a figure is named `<figure>: <part>`."""
    figures: dict[str, float] = {}
    if used.cpu_s is not None:
        parts = sorted(used.cpu_s.items(), key=lambda item: -item[1])
        figures |= breakdown("CPU-ms per dossier", {part: s * 1000 / dossiers for part, s in parts})
    for source, counts in (("PostgreSQL", used.statements), ("services", used.statements_by_services)):
        if counts is not None:
            name = f"statements per dossier ({source})"
            figures |= breakdown(name, by_service(counts, dossiers))
            figures |= breakdown(f"{name} by kind", by_kind(counts, dossiers), total=False)
    if used.statements is not None and used.rows is not None:
        services = sorted({service for service, _ in used.statements})
        commits = {service: used.statements[(service, "commit")] / dossiers for service in services}
        figures |= breakdown("commits per dossier", commits)
        rows = by_kind(used.rows, dossiers)
        named = {"selected": "select", "inserted": "insert", "updated": "update", "deleted": "delete"}
        rows_per_dossier = {name: rows.get(kind, 0.0) for name, kind in named.items()}
        figures |= breakdown("rows per dossier", rows_per_dossier, total=False)
    figures["Kafka records per dossier"] = used.records / dossiers
    return figures


def by_service(counts: Counts, dossiers: int) -> dict[str, float]:
    services = sorted({service for service, _ in counts})
    return {name: sum(n for (s, _), n in counts.items() if s == name) / dossiers for name in services}


def by_kind(counts: Counts, dossiers: int) -> dict[str, float]:
    return {name: sum(n for (_, kind), n in counts.items() if kind == name) / dossiers for name in KINDS}


def breakdown(name: str, parts: Mapping[str, float], *, total: bool = True) -> dict[str, float]:
    """`name` (the sum of the parts, unless `total` is false) and `name: part` for each part."""
    figures = {name: sum(parts.values())} if total else {}
    return figures | {f"{name}: {part}": value for part, value in parts.items()}


def print_figures(figures: Mapping[str, float]) -> None:
    """One line per figure, its parts on the same line."""
    lines: dict[str, list[str]] = {}
    for name, value in figures.items():
        figure, _, part = name.partition(": ")
        shown = f"{value:.4f}" if 0 < value < 0.1 else f"{value:,.1f}"
        lines.setdefault(figure, []).append(f"{part} {shown}" if part else shown)
    for figure, values in lines.items():
        print(f"{figure:<48} {wrap(values)}")


def wrap(values: Iterable[str], width: int = 60) -> str:
    text, line = "", ""
    for value in values:
        if line and len(line) + len(value) > width:
            text, line = text + line.rstrip(", ") + "\n" + " " * 49, ""
        line += value + ", "
    return text + line.rstrip(", ")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=1000, help="dossiers measured (default 1000)")
    parser.add_argument("--concurrency", type=int, default=64, help="closed loop: submitters at once")
    parser.add_argument("--rate", type=float, help="open loop: dossiers offered per second")
    parser.add_argument(
        "--half-capacity",
        action="store_true",
        help="measure the capacity first (closed loop, as many dossiers, until all are returned and their"
        " letters sent), then offer half of it (open loop) to a fresh stack",
    )
    parser.add_argument("--warmup", type=int, default=10, help="dossiers through before measuring")
    parser.add_argument(
        "--raw-records", type=int, default=100_000, help="for the broker's raw rate (default 100000)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    parser.add_argument(
        "--spans",
        metavar="PATH",
        help="keep the services' spans in PATH (JSON lines), for bench/hops.py: those of the whole run",
    )
    parser.add_argument(
        "--replicas", type=replicas_option, default={}, metavar="SERVICE=N,...", help="processes per service"
    )
    args = parser.parse_args()
    if min(args.dossiers, args.concurrency, args.raw_records) < 1 or args.warmup < 0:
        parser.error("--dossiers, --concurrency and --raw-records must be positive, --warmup not negative")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    if args.rate is not None and args.half_capacity:
        parser.error("--rate and --half-capacity exclude each other: one sets the rate, one measures it")
    if args.half_capacity and wait_drained is None:
        parser.error(
            "--half-capacity waits for the letters with dossierbus_devstack.chaos.wait_drained:"
            " this stack has none"
        )
    if (stopped_by := run_until_signalled(run(args))) is not None:
        sys.exit(128 + stopped_by)


if __name__ == "__main__":
    main()
