"""``semsearch bench ingest --profile``: the smallest profiled ingest end to end (ONNX encoder,
pgvector), its worker under py-spy (installed into the environment on first use)."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from benchmarks import cli
from benchmarks.profile import rules


def test_a_profiled_ingest_reports_the_workers_cpu_breakdown(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["ingest", "--store", "pgvector", "--documents", "20", "--encoder", "onnx", "--no-sts",
            "--no-naive", "--profile", "--ceiling-documents", "20", "--ceiling-queries", "40",
            "--sample-interval", "0.2", "--out", str(out)]
    assert cli.main(argv) == 0
    figures = json.loads((out / "results.json").read_text())["stores"]["pgvector"]
    found = figures["profile"]
    assert {"worker", "py-spy"} <= set(figures["memory"])  # the worker itself, and its profiler
    for side in ("worker", "encoder"):
        breakdown = found[side]
        assert breakdown["samples"] > 0 and breakdown["cpu_measured"], side
        shares = {name: c["share"] for name, c in breakdown["categories"].items()}
        assert abs(sum(shares.values()) - 1.0) < 0.01, (side, shares)
        assert shares[rules.FORWARD] > 0.3, (side, shares)  # an ONNX model's forward pass dominates
    assert found["worker"]["documents"] == 20 and found["worker"]["samples_left_out"] > 0
    text = (out / "report.md").read_text()
    assert "### Worker CPU breakdown (pgvector)" in text and f"| {rules.FORWARD} |" in text
    assert (out / "profile-pgvector.png").stat().st_size > 1000
    assert (out / "profile-worker-pgvector.txt").stat().st_size > 0
    left = [p for p in psutil.process_iter(["cmdline"])
            if any(str(out) in part for part in (p.info["cmdline"] or []))]
    assert not left, "py-spy or the profiled worker outlived the run"
