"""CPU time of each part of the stack, from Linux's /proc.

Every part of the development stack is a child process of the benchmark: a part's time is that of its
process and of everything it started (PostgreSQL's backends, say), the living and the ended. A part is
named by its command line: each service by its uvicorn app (replicas add up), PostgreSQL, Tansu, and the
program name for anything else. The benchmark's own process counts apart: the reference agencies, the
SMTP sink and the submitting client run in it.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

BENCHMARK = "benchmark (agencies, SMTP sink, client)"
PROC = Path("/proc")
_SERVICE_APP = re.compile(r"dossierbus_(\w+)\.app:app")


@dataclass(frozen=True)
class Process:
    parent: int
    own_ticks: int
    """User and system time of the process itself (all its threads)."""
    ended_children_ticks: int
    """Of its children that ended and were waited for."""


def available() -> bool:
    return (PROC / "self" / "stat").exists()


@dataclass(frozen=True)
class MachineTicks:
    """The whole machine's CPU time so far, all cores, in clock ticks (/proc/stat)."""

    busy: int
    """User, system and interrupt time of every process, the stack's and any other."""
    stolen: int
    """Time a virtual CPU wanted to run but the host ran something else: another guest's work, which a
    shared machine shows as a slower stack without a cause of its own."""

    def __sub__(self, before: MachineTicks) -> MachineTicks:
        return MachineTicks(self.busy - before.busy, self.stolen - before.stolen)

    def cores(self, seconds: float) -> dict[str, float]:
        """Over `seconds` of wall time: how many cores were busy, and how many the host took away."""
        per_second = os.sysconf("SC_CLK_TCK") * seconds
        return {"busy": self.busy / per_second, "stolen by the host": self.stolen / per_second}


def machine_ticks() -> MachineTicks:
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user's)
    fields = [int(field) for field in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return MachineTicks(busy=user + nice + system + irq + softirq, stolen=steal)


def cpu_seconds_by_part(root: int | None = None) -> dict[str, float]:
    """CPU seconds used so far by each part started by the process `root` (this one by default)."""
    root = os.getpid() if root is None else root
    processes = _processes()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, process in processes.items():
        children[process.parent].append(pid)

    def ticks(pid: int) -> int:
        process = processes[pid]
        return process.own_ticks + process.ended_children_ticks + sum(ticks(child) for child in children[pid])

    by_part: dict[str, int] = defaultdict(int)
    by_part[BENCHMARK] = processes[root].own_ticks
    for child in children[root]:
        by_part[part_name(_command_line(child))] += ticks(child)
    per_second = os.sysconf("SC_CLK_TCK")
    return {part: used / per_second for part, used in by_part.items()}


def part_name(command: list[str]) -> str:
    """`routing` for a service's uvicorn, `PostgreSQL`, `Tansu`, or the program (module) name."""
    for argument in command:
        if found := _SERVICE_APP.fullmatch(argument):
            return found.group(1)
    program = Path(command[0]).name if command else "?"
    if program == "postgres":
        return "PostgreSQL"
    if "tansu" in program:
        return "Tansu"
    if "-m" in command[:-1]:
        return command[command.index("-m") + 1]
    return program


def _processes() -> dict[int, Process]:
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name in parentheses may hold spaces: the fields follow its last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        found[int(entry.name)] = Process(
            parent=int(fields[1]),
            own_ticks=int(fields[11]) + int(fields[12]),
            ended_children_ticks=int(fields[13]) + int(fields[14]),
        )
    return found


def _command_line(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
