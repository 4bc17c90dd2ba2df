"""What the stack costs doing nothing: CPU milliseconds per second of each part, measured after a few
dossiers went through (consumer groups joined, caches warm) and the bus has gone quiet. Below saturation
this is a share of every dossier's cost: at R dossiers/s, each pays (idle CPU-ms/s) / R of it.

    .venv/bin/python bench/idle.py --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx

import processes
from dossierbus_devstack.lifetime import run_until_signalled
from dossierbus_devstack.stack import DevStack
from throughput import Portal, closed_loop, wait_returned

SETTLE_S = 5.0
"""After the last dossier returned: the relays', dispatcher's and portal sync's last rounds end."""


async def run(seconds: float, dossiers: int) -> None:
    async with (
        DevStack() as stack,
        httpx.AsyncClient(timeout=60, headers=stack.headers("portal")) as http,
        stack.database() as database,
    ):
        portal = Portal(http, stack.url("intake", "/dossiers"))
        sent = await closed_loop(portal.submit, range(dossiers), dossiers)
        await wait_returned(database, [code for code, _ in sent])
        await asyncio.sleep(SETTLE_S)
        before, started = processes.cpu_seconds_by_part(), time.perf_counter()
        await asyncio.sleep(seconds)
        after, elapsed = processes.cpu_seconds_by_part(), time.perf_counter() - started
    used = {part: (after[part] - before.get(part, 0.0)) * 1000 / elapsed for part in after}
    print(f"idle for {elapsed:.1f} s after {dossiers} dossiers; CPU-ms per second:")
    for part, value in sorted(used.items(), key=lambda item: -item[1]):
        print(f"  {part:45s} {value:7.1f}")
    print(f"  {'all parts':45s} {sum(used.values()):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to watch the idle stack")
    parser.add_argument("--dossiers", type=int, default=10, help="dossiers through first (default 10)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.dossiers < 1:
        parser.error("--seconds and --dossiers must be positive")
    if not processes.available():
        parser.error("the CPU time of the stack's processes is read from /proc: Linux only")
    if (stopped_by := run_until_signalled(run(args.seconds, args.dossiers))) is not None:
        sys.exit(128 + stopped_by)


if __name__ == "__main__":
    main()
