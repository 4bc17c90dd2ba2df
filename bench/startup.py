"""How long each service takes to start: from its process starting to its /readyz answering 200, on a
running stack, after kill -9 (a restart, as after a crash), several times each. The machine's load
counts for much: the CPU time of the restarted process is printed beside the wall-clock time.

    uv run python bench/startup.py --restarts 3

Each service logs the phases of its own start ("started in ...": migrations, start-up hooks, Kafka)
in its log under the stack's logs directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from dossierbus_devstack.database import DURABILITY_QUERY, describe_durability
from dossierbus_devstack.lifetime import run_until_signalled
from dossierbus_devstack.services import SERVICES
from dossierbus_devstack.stack import DevStack


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(restarts: int) -> None:
    started = time.perf_counter()
    async with DevStack(agencies=False) as stack:
        took, load = time.perf_counter() - started, os.getloadavg()[0]
        print(f"stack started in {took:.1f} s (load average {load:.1f})")
        async with stack.database() as db:
            print(f"PostgreSQL: {describe_durability(await db.fetchrow(DURABILITY_QUERY))}")
        for name in SERVICES:
            walls, cpus = [], []
            for _ in range(restarts):
                stack.kill(name)
                began = time.perf_counter()
                await stack.start(name)
                walls.append(time.perf_counter() - began)
                pid = stack.services[name].process.pid
                cpus.append(cpu_seconds(pid) if pid is not None else float("nan"))
            print(
                f"{name:<14} restart to ready: median {statistics.median(walls):6.2f} s"
                f"  max {max(walls):6.2f} s   CPU median {statistics.median(cpus):5.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--restarts", type=int, default=3)
    args = parser.parse_args()
    if (stopped_by := run_until_signalled(run(args.restarts))) is not None:
        sys.exit(128 + stopped_by)


if __name__ == "__main__":
    main()
