"""Runs the throughput benchmark on two checkouts of dossierbus, alternated on the same machine, and
prints each figure's median on both sides and their ratio.

    .venv/bin/python bench/compare.py --baseline c8c4761                      # this checkout against it
    .venv/bin/python bench/compare.py --baseline ../other-checkout --runs 5 --dossiers 1000
    .venv/bin/python bench/compare.py --baseline c8c4761 --candidate c8c4761  # the noise: one against itself
    .venv/bin/python bench/compare.py --baseline c8c4761 --rate 3             # open loop, 3 dossiers/s
    .venv/bin/python bench/compare.py --baseline 882e45c --half-capacity      # each side at half its own

A side is the path of a checkout with its .venv (as `python3 dev.py bench` makes it), or a git revision
of this repository: exported once into .dossierbus/bench/<commit> with a .venv of its own, and kept for
the next comparison. Runs alternate (baseline, candidate, baseline, ...) so that both sides see the same
machine. Both run this checkout's bench/throughput.py with their own Python: the stack, services and
agencies are each side's, the measuring is the same. A figure one side cannot give (services that count
no statements) has no ratio; PostgreSQL's own count of statements is there for both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from dossierbus_devstack.parts import dies_with_parent

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT / "bench" / "throughput.py"
EXPORTS = ROOT / ".dossierbus" / "bench"


class CompareError(RuntimeError):
    """A side cannot be prepared or a run failed; the message says which and why."""


@dataclass
class Side:
    name: str
    label: str
    checkout: Path
    runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return self.checkout / ".venv" / "bin" / "python"


def prepare(name: str, given: str) -> Side:
    """The side `given` as a checkout path, or as a git revision exported with a .venv of its own."""
    if Path(given).is_dir():
        side = Side(name, given, Path(given).resolve())
        if not side.python.exists():
            raise CompareError(f"{given} has no .venv: `python3 dev.py bench` (or test, up) there makes it")
        return side
    commit = _git("rev-parse", "--verify", "--quiet", f"{given}^{{commit}}")
    if commit is None:
        raise CompareError(f"{given!r} is neither a directory nor a revision of {ROOT}")
    checkout = EXPORTS / commit[:12]
    if not (checkout / "uv.lock").exists():
        _export(commit, checkout)
    print(f"compare: {name} {given} ({commit[:12]}) in {checkout}: installing its .venv", flush=True)
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(checkout / ".venv"), UV_PYTHON=sys.executable)
    installed = subprocess.run(
        [_uv(), "sync", "--frozen", "--all-packages", "--quiet"], cwd=checkout, env=env, check=False
    )
    if installed.returncode != 0:
        raise CompareError(f"cannot install the .venv of {given} in {checkout} (uv sync failed)")
    return Side(name, f"{given} ({commit[:12]})", checkout)


def _export(commit: str, checkout: Path) -> None:
    """The commit's files (git archive), without a git worktree to keep track of."""
    checkout.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{commit[:12]}-", dir=checkout.parent))
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "archive", commit], cwd=ROOT, stdout=archive, check=True)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as files:
            files.extractall(partial, filter="data")
    shutil.rmtree(checkout, ignore_errors=True)
    partial.rename(checkout)


def _git(*args: str) -> str | None:
    found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def _uv() -> str:
    installed = ROOT / ".dossierbus" / "tools" / "bin" / "uv"
    found = str(installed) if installed.exists() else shutil.which("uv")
    if found is None:
        raise CompareError("no uv: `python3 dev.py bench` (or demo, up, test) in this checkout installs it")
    return found


def run_once(side: Side, options: Sequence[str]) -> dict[str, float]:
    """One benchmark run on `side`, its output shown as it comes; its figures. A stop signal is passed on
    to the run, which stops its stack before exiting."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "figures.json"
        command = [str(side.python), str(BENCHMARK), *options, "--json", str(report)]
        child = subprocess.Popen(command, cwd=side.checkout, preexec_fn=dies_with_parent(signal.SIGTERM))

        stopped_by: list[int] = []

        def pass_on(signum: int, _: FrameType | None) -> None:
            stopped_by.append(signum)
            child.send_signal(signum)

        previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGTERM, signal.SIGHUP)}
        try:
            while True:
                try:
                    exit_code = child.wait()
                    break
                except KeyboardInterrupt:  # Ctrl-C reached the run too (same terminal): it stops
                    stopped_by.append(signal.SIGINT)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if stopped_by:
            sys.exit(128 + stopped_by[0])
        if exit_code != 0:
            raise CompareError(f"the run on {side.name} {side.label} failed (exit code {exit_code})")
        figures: dict[str, float] = json.loads(report.read_text())["figures"]
        return figures


def ratios(baseline: Side, candidate: Side) -> list[tuple[str, float, float, float | None]]:
    """Per figure both sides give (in the benchmark's order): each side's median and candidate/baseline."""
    rows = []
    for name in baseline.runs[0]:
        if all(name in run for run in [*baseline.runs, *candidate.runs]):
            before = statistics.median(run[name] for run in baseline.runs)
            after = statistics.median(run[name] for run in candidate.runs)
            rows.append((name, before, after, after / before if before else None))
    return rows


def print_ratios(baseline: Side, candidate: Side) -> None:
    print(f"\nbaseline  {baseline.label}: {len(baseline.runs)} runs")
    print(f"candidate {candidate.label}: {len(candidate.runs)} runs, alternated with the baseline's")
    print(f"{'figure (median of the runs)':<62} {'baseline':>10} {'candidate':>10} {'ratio':>7}  runs")
    for name, before, after, ratio in ratios(baseline, candidate):
        spread = "  ".join(_spread([run[name] for run in side.runs]) for side in (baseline, candidate))
        shown = f"{ratio:7.2f}" if ratio is not None else "      -"
        print(f"{name:<62} {_number(before):>10} {_number(after):>10} {shown}  {spread}")


def _spread(values: list[float]) -> str:
    """The lowest and highest of the runs."""
    return f"{_number(min(values))}-{_number(max(values))}"


def _number(value: float) -> str:
    return f"{value:.4f}" if 0 < abs(value) < 0.1 else f"{value:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="a git revision or a checkout's path")
    parser.add_argument("--candidate", default=str(ROOT), help="the same; this checkout by default")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--dossiers", type=int, default=300, help="dossiers per run (default 300)")
    parser.add_argument("--concurrency", type=int, help="closed loop: submitters at once")
    parser.add_argument("--rate", type=float, help="open loop: dossiers offered per second")
    parser.add_argument(
        "--half-capacity", action="store_true", help="each run offers half of the capacity it measured first"
    )
    parser.add_argument("--warmup", type=int, help="dossiers through before measuring")
    parser.add_argument(
        "--raw-records", type=int, help="for the broker's raw rates (throughput.py's default: 100000)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    options = [
        f"--{name.replace('_', '-')}={value}"
        for name in ("dossiers", "concurrency", "rate", "warmup", "raw_records")
        if (value := getattr(args, name)) is not None
    ] + (["--half-capacity"] if args.half_capacity else [])
    try:
        baseline = prepare("baseline", args.baseline)
        candidate = prepare("candidate", args.candidate)
        for run in range(1, args.runs + 1):
            for side in (baseline, candidate):
                print(f"\ncompare: run {run} of {args.runs}, {side.name} {side.label}", flush=True)
                side.runs.append(run_once(side, options))
    except CompareError as error:
        sys.exit(f"compare: {error}")
    print_ratios(baseline, candidate)


if __name__ == "__main__":
    main()
