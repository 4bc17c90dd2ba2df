"""`bench/hops.py` splits each dossier's way to its agency into hops, from the spans a run kept, and with
`--every` shows how they moved during the run. Synthetic spans: nothing starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MS = 1_000_000

# (service, span name, start, end) in milliseconds after the submission's request began.
WAY = (
    ("dossierbus-intake", "POST /dossiers", 0, 10),
    ("dossierbus-intake", "send dossier.submitted", 12, 13),
    ("dossierbus-registry", "process dossier.submitted", 30, 40),
    ("dossierbus-registry", "send dossier.verified", 42, 43),
    ("dossierbus-routing", "process dossier.verified", 60, 70),
)


def trace(index: int, submitted_s: float, slower_ms: int = 0) -> list[dict[str, object]]:
    """One dossier's spans; `slower_ms` more in routing's queue."""
    base = int(submitted_s * 1000 * MS)
    spans = []
    for service, name, start, end in WAY:
        late = slower_ms if service == "dossierbus-routing" else 0
        spans.append(
            {
                "trace_id": f"trace-{index}",
                "service": service,
                "name": name,
                "start_ns": base + (start + late) * MS,
                "end_ns": base + (end + late) * MS,
            }
        )
    return spans


def run_hops(spans_file: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "bench" / "hops.py"), str(spans_file), *options]
    return subprocess.run(command, cwd=ROOT / "bench", capture_output=True, text=True, timeout=60)


def test_every_shows_when_a_run_slowed_and_on_which_hop(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    # Three dossiers in the first two seconds, two in the next two with routing's queue 100 ms longer, and
    # a span of a dossier that never reached routing (left out).
    spans = trace(0, 0.0) + trace(1, 0.5) + trace(2, 1.5) + trace(3, 2.2, 100) + trace(4, 3.9, 100)
    spans += trace(5, 4.0)[:2]
    spans_file.write_text("\n".join(json.dumps(span) for span in spans) + "\n")

    result = run_hops(spans_file, "--every", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5 dossiers; milliseconds per hop")
    table = result.stdout.split("2 s at a time\n", 1)[1].splitlines()
    assert table[0].split()[:3] == ["from", "s", "count"]
    first, second = (line.split() for line in table[1:])
    assert first[:2] == ["0.0", "3"] and second[:2] == ["2.0", "2"]
    # The columns: request, relay, the registry's queue and batch, relay, routing's queue and batch, then
    # the whole way's p50, p99 and slowest.
    assert [float(value) for value in first[2:9]] == [10.0, 2.0, 18.0, 10.0, 2.0, 18.0, 10.0]
    assert float(first[9]) == 70.0 and float(first[11]) == 70.0
    assert float(second[7]) == 118.0 and float(second[11]) == 170.0

    last_two = run_hops(spans_file, "--last", "2", "--every", "2")
    assert last_two.stdout.startswith("2 dossiers; milliseconds per hop"), last_two.stdout
    # Windows count from the first dossier kept: both of the last two (at 2.2 and 3.9 s) in the first.
    rows = last_two.stdout.split("2 s at a time\n", 1)[1].splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["0.0", "2"]]


def test_bad_options_are_refused_with_the_reason(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    spans_file.write_text("\n".join(json.dumps(span) for span in trace(0, 0.0)) + "\n")
    for value in ("0", "-1", "inf", "nan"):
        refused = run_hops(spans_file, f"--every={value}")
        assert refused.returncode == 2, value
        assert "--every must be a finite number of seconds above 0" in refused.stderr, value
    assert "--last must be at least 1" in run_hops(spans_file, "--last", "0").stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps(trace(1, 0.0)[0]) + "\n")
    nothing = run_hops(empty)
    assert nothing.returncode == 1 and "no trace holds the whole way" in nothing.stderr
    for text in ("not json\n", '{"trace_id": "t"}\n', "[1, 2]\n"):
        empty.write_text(text)
        broken = run_hops(empty)
        assert broken.returncode == 1, text
        assert "not a spans file as SPANS_FILE writes it" in broken.stderr, broken.stderr
        assert "Traceback" not in broken.stderr
    missing = run_hops(tmp_path / "absent.jsonl")
    assert missing.returncode == 1 and "cannot be read" in missing.stderr
