"""Where a dossier's time goes on its way from submission to its agency, hop by hop, read from the spans
the services wrote during a benchmark run (`bench/throughput.py --spans PATH`):

    .venv/bin/python bench/throughput.py --dossiers 600 --rate 20 --spans /tmp/spans.jsonl
    .venv/bin/python bench/hops.py /tmp/spans.jsonl --last 600

`--last N` keeps the N dossiers submitted last: the run's measured dossiers, without its warm-up or, after
`--half-capacity`, the closed loop that measured the capacity.

Each dossier is one trace. A hop between two services runs from the outbox relay's send to the next
service's process span: the broker's delivery plus the time the record waited for the consumer's loop.
A process span lasts from the start of the batch it was applied in to that batch's commit.
"""

from __future__ import annotations

import argparse
import json
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


def hops(spans: list[Span], last: int | None = None) -> dict[str, list[float]]:
    """Seconds per hop, over the traces that hold the whole path (the `last` submitted, if given)."""
    traces: dict[str, dict[tuple[str, str], Span]] = defaultdict(dict)
    for span in spans:
        service = span["service"].removeprefix("dossierbus-")
        traces[span["trace_id"]].setdefault((service, span["name"]), span)
    whole = sorted(
        (trace for trace in traces.values() if all(step in trace for step in PATH)),
        key=lambda trace: trace[PATH[0]]["start_ns"],
    )
    found: dict[str, list[float]] = defaultdict(list)
    for trace in whole[-last:] if last else whole:
        request, submitted, verifying, verified, routing = (trace[step] for step in PATH)
        for name, start, end in (
            ("intake: the submission's request", request["start_ns"], request["end_ns"]),
            ("intake: answered -> its event sent (outbox relay)", request["end_ns"], submitted["start_ns"]),
            ("broker and registry's queue", submitted["start_ns"], verifying["start_ns"]),
            ("registry: its batch, to commit", verifying["start_ns"], verifying["end_ns"]),
            ("registry: commit -> its event sent (outbox relay)", verifying["end_ns"], verified["start_ns"]),
            ("broker and routing's queue", verified["start_ns"], routing["start_ns"]),
            ("routing: its batch, to commit (assigned)", routing["start_ns"], routing["end_ns"]),
            ("all: request start -> routing's commit", request["start_ns"], routing["end_ns"]),
        ):
            found[name].append((end - start) / 1e9)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("spans", type=Path, help="a spans file (JSON lines), as SPANS_FILE writes it")
    parser.add_argument("--last", type=int, metavar="N", help="only the N dossiers submitted last")
    args = parser.parse_args()
    if args.last is not None and args.last < 1:
        parser.error("--last must be at least 1")
    lines = args.spans.read_text(encoding="utf-8").splitlines()
    found = hops([json.loads(line) for line in lines if line.strip()], args.last)
    if not found:
        raise SystemExit(f"{args.spans}: no trace holds the whole way from submission to assignment")
    count = len(next(iter(found.values())))
    print(f"{count} dossiers; milliseconds per hop")
    for name, seconds in found.items():
        cut = percentiles(seconds)
        print(f"  {name:52s} p50 {cut['p50']:7.1f}  p99 {cut['p99']:7.1f}")


if __name__ == "__main__":
    main()
