"""The throughput benchmark runs end to end on a few dossiers, measures the capacity and offers half of it
at a steady rate, and reports what each dossier cost, part by part, and where its time went, hop by hop.
How fast is for the benchmark to print, not for a test to judge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The benchmark starts a stack of its own: no fixture marks the test.
pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.db]

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("intake", "registry", "routing", "notifications", "PostgreSQL", "Tansu")
SERVICES = ("intake", "registry", "routing", "notifications")


def test_the_benchmark_reports_what_each_dossier_cost(tmp_path: Path) -> None:
    report = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "throughput.py"), "--dossiers", "3", "--half-capacity"]
    spans = tmp_path / "spans.jsonl"
    command += ["--warmup", "1", "--raw-records", "200", "--json", str(report), "--spans", str(spans)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=270)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    assert "half of the capacity measured just before on a stack of its own" in result.stdout
    assert "durable, each commit on disk" in result.stdout
    figures = json.loads(report.read_text())["figures"]
    capacity = figures["capacity (returned, letters sent), dossiers/s"]
    # The capacity waits for the letters too, so it is never above the rate the dossiers came back at.
    assert 0 < capacity <= figures["returned by the closed loop just before, dossiers/s"]
    assert figures["offered, dossiers/s"] == pytest.approx(capacity / 2)
    assert figures["last letter sent after the last return, s"] >= 0
    assert figures["cores of the machine: busy"] > 0
    assert figures["cores of the machine: stolen by the host"] >= 0
    for part in PARTS:
        assert figures[f"CPU-ms per dossier: {part}"] > 0, part
    for service in SERVICES:
        assert figures[f"statements per dossier (PostgreSQL): {service}"] > 0, service
        assert figures[f"statements per dossier (services): {service}"] > 0, service
    for kind in ("select", "insert", "update", "begin", "commit"):
        assert figures[f"statements per dossier (PostgreSQL) by kind: {kind}"] > 0, kind
        assert figures[f"statements per dossier (services) by kind: {kind}"] > 0, kind
    assert figures["commits per dossier"] > 0
    assert figures["rows per dossier: inserted"] > 0
    assert figures["Kafka records per dossier"] > 0
    assert figures["submit -> assigned, ms: p99"] <= figures["submit -> returned, ms: p99"]
    assert figures["end to end / raw consume"] > 0
    # The ceiling from a broker of its own, and the same read beside the running stack.
    assert figures["raw broker consume (JSON decode), records/s"] > 0
    assert figures["raw consume beside the idle stack, records/s"] > 0

    # Where each dossier's time went, hop by hop, from the spans the run kept.
    def hops(*options: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(ROOT / "bench" / "hops.py"), str(spans), *options]
        return subprocess.run(command, cwd=ROOT / "bench", capture_output=True, text=True, timeout=60)

    whole = hops()
    assert whole.returncode == 0, whole.stdout + whole.stderr
    # The spans of the whole run: on the capacity's stack its warm-up dossier and three, on the stack that
    # took half of it another warm-up dossier and the three measured.
    assert whole.stdout.startswith("8 dossiers; milliseconds per hop"), whole.stdout
    for hop in ("broker and registry's queue", "routing: its batch, to commit", "request start -> routing"):
        assert hop in whole.stdout, hop
    # The measured three alone, submitted last.
    measured = hops("--last", "3", "--every", "600")
    assert measured.returncode == 0, measured.stdout + measured.stderr
    assert measured.stdout.startswith("3 dossiers; milliseconds per hop"), measured.stdout
    # And how they moved during the run: the three were submitted within one window of ten minutes.
    rows = measured.stdout.split("600 s at a time\n", 1)[1].splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["0.0", "3"]], measured.stdout
    refused = hops("--last", "0")
    assert refused.returncode == 2 and "--last must be at least 1" in refused.stderr, refused.stderr
