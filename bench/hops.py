"""Where a dossier's time goes on its way from submission to its agency, hop by hop, read from the spans
the services wrote during a benchmark run (`bench/throughput.py --spans PATH`):

    .venv/bin/python bench/throughput.py --dossiers 600 --rate 20 --spans /tmp/spans.jsonl
    .venv/bin/python bench/hops.py /tmp/spans.jsonl --last 600

`--last N` keeps the N dossiers submitted last: the run's measured dossiers, without its warm-up or, after
`--half-capacity`, the closed loop that measured the capacity. `--every S` adds a line per S seconds of
submissions (the p50 of each hop, the p50, p99 and slowest of the whole way): whether the run was steady,
and if not, when it slowed and on which hop.

    .venv/bin/python bench/hops.py /tmp/spans.jsonl --last 600 --every 10

Each dossier is one trace. A hop between two services runs from the outbox relay's send to the next
service's process span: the broker's delivery plus the time the record waited for the consumer's loop.
A process span lasts from the start of the batch it was applied in to that batch's commit.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from throughput import percentiles

PATH = (
    ("intake", "POST /dossiers"),
    ("intake", "send dossier.submitted"),
    ("registry", "process dossier.submitted"),
    ("registry", "send dossier.verified"),
    ("routing", "process dossier.verified"),
)
"""The spans of a dossier's way to being assigned, in order: (service, span name)."""

Span = dict[str, Any]
Trace = dict[tuple[str, str], Span]

HOPS = (
    ("intake: the submission's request", "request"),
    ("intake: answered -> its event sent (outbox relay)", "relay"),
    ("broker and registry's queue", "reg.queue"),
    ("registry: its batch, to commit", "registry"),
    ("registry: commit -> its event sent (outbox relay)", "relay"),
    ("broker and routing's queue", "rt.queue"),
    ("routing: its batch, to commit (assigned)", "routing"),
    ("all: request start -> routing's commit", "all"),
)
"""Each hop's name, and its column's heading in `--every`'s table."""


def whole_traces(spans: list[Span], last: int | None = None) -> list[Trace]:
    """The traces that hold the whole path, in the order of submission (the `last` submitted, if given)."""
    traces: dict[str, Trace] = defaultdict(dict)
    for span in spans:
        service = span["service"].removeprefix("dossierbus-")
        traces[span["trace_id"]].setdefault((service, span["name"]), span)
    whole = sorted(
        (trace for trace in traces.values() if all(step in trace for step in PATH)),
        key=submitted_ns,
    )
    return whole[-last:] if last else whole


def submitted_ns(trace: Trace) -> int:
    return int(trace[PATH[0]]["start_ns"])


def hop_seconds(trace: Trace) -> list[float]:
    """Seconds of each of `HOPS`, in order."""
    request, submitted, verifying, verified, routing = (trace[step] for step in PATH)
    bounds = (
        (request["start_ns"], request["end_ns"]),
        (request["end_ns"], submitted["start_ns"]),
        (submitted["start_ns"], verifying["start_ns"]),
        (verifying["start_ns"], verifying["end_ns"]),
        (verifying["end_ns"], verified["start_ns"]),
        (verified["start_ns"], routing["start_ns"]),
        (routing["start_ns"], routing["end_ns"]),
        (request["start_ns"], routing["end_ns"]),
    )
    return [(end - start) / 1e9 for start, end in bounds]


def collect(traces: list[Trace]) -> dict[str, list[float]]:
    """Seconds per hop, over `traces`."""
    found: dict[str, list[float]] = defaultdict(list)
    for trace in traces:
        for (name, _), seconds in zip(HOPS, hop_seconds(trace), strict=True):
            found[name].append(seconds)
    return found


def windows(traces: list[Trace], seconds: float) -> list[tuple[float, dict[str, list[float]]]]:
    """The traces grouped by when they were submitted, `seconds` at a time from the first: each window's
    start (seconds after the first submission) and its seconds per hop. A window with no submission is
    left out."""
    if not traces:
        return []
    first = submitted_ns(traces[0])
    grouped: dict[int, list[Trace]] = defaultdict(list)
    for trace in traces:
        grouped[int((submitted_ns(trace) - first) / 1e9 // seconds)].append(trace)
    return [(index * seconds, collect(grouped[index])) for index in sorted(grouped)]


def print_windows(traces: list[Trace], seconds: float) -> None:
    """One line per window: how many dossiers were submitted in it, the p50 of each hop (in the order of
    `HOPS`: the registry's and routing's queue and batch), and the p50, p99 and slowest of the whole way;
    where a run slowed down, and on which hop."""
    headings = [heading for _, heading in HOPS[:-1]]
    print(f"milliseconds per hop (p50) by when the dossiers were submitted, {seconds:g} s at a time")
    columns = " ".join(f"{heading:>9}" for heading in headings)
    print(f"{'from s':>7} {'count':>5} {columns}   all: p50      p99      max")
    for start, found in windows(traces, seconds):
        whole = found[HOPS[-1][0]]
        cut = percentiles(whole)
        hop_p50 = [percentiles(found[name])["p50"] for name, _ in HOPS[:-1]]
        print(
            f"{start:7.1f} {len(whole):5d} "
            + " ".join(f"{value:9.1f}" for value in hop_p50)
            + f"  {cut['p50']:9.1f} {cut['p99']:8.1f} {max(whole) * 1000:8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("spans", type=Path, help="a spans file (JSON lines), as SPANS_FILE writes it")
    parser.add_argument("--last", type=int, metavar="N", help="only the N dossiers submitted last")
    parser.add_argument(
        "--every",
        type=float,
        metavar="S",
        help="also a line per S seconds of submissions: how the hops moved during the run",
    )
    args = parser.parse_args()
    if args.last is not None and args.last < 1:
        parser.error("--last must be at least 1")
    if args.every is not None and not 0 < args.every < math.inf:
        parser.error("--every must be a finite number of seconds above 0")
    try:
        lines = args.spans.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"{args.spans}: cannot be read: {error}") from None
    try:
        traces = whole_traces([json.loads(line) for line in lines if line.strip()], args.last)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SystemExit(f"{args.spans}: not a spans file as SPANS_FILE writes it: {error!r}") from None
    if not traces:
        raise SystemExit(f"{args.spans}: no trace holds the whole way from submission to assignment")
    found = collect(traces)
    print(f"{len(traces)} dossiers; milliseconds per hop")
    for name, seconds in found.items():
        cut = percentiles(seconds)
        print(f"  {name:52s} p50 {cut['p50']:7.1f}  p99 {cut['p99']:7.1f}")
    if args.every:
        print()
        print_windows(traces, args.every)


if __name__ == "__main__":
    main()
