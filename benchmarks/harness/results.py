"""What one benchmark run gathers, and the acceptance checks computed from it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.harness.memory import is_service
from benchmarks.throughput import load
from benchmarks.throughput.load import LoadResult


@dataclass
class Run:
    out: Path
    data: dict[str, Any] = field(default_factory=lambda: {"stores": {}, "notes": []})
    loads: dict[str, LoadResult] = field(default_factory=dict)
    rss: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    marks: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def collect(self, name: str, result: LoadResult) -> None:
        self.loads[name] = result

    def store(self, name: str) -> dict[str, Any]:
        stores: dict[str, dict[str, Any]] = self.data["stores"]
        return stores.setdefault(name, {})

    def note(self, text: str) -> None:
        if text not in self.data["notes"]:
            self.data["notes"].append(text)

    def latencies(self, prefixes: tuple[str, ...], strip: str = "") -> dict[str, np.ndarray]:
        """Successful requests' latencies (ms) of the loads whose name starts with a prefix."""
        return {name.removeprefix(strip): r.latency[r.ok] * 1e3
                for name, r in self.loads.items() if name.startswith(prefixes)}


def machine() -> dict[str, Any]:
    model = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform()}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def meta(argv: list[str]) -> dict[str, Any]:
    return {"command": "semsearch bench " + " ".join(argv), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "git_commit": git_commit(), "machine": machine(), "executable": sys.executable,
            "load_generator": load.describe()}


FLAT_MB_PER_MIN = 1.0
"""Most a process may grow per minute over a long run's second half and still count as flat."""


def _check(what: str, value: float | None, target: str, passed: bool | None) -> dict[str, Any]:
    return {"what": what, "value": value, "target": target, "pass": passed}


def checks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each acceptance criterion the run has figures for, with its measured value."""
    out = []
    for store, figures in data["stores"].items():
        if (ingest := figures.get("ingest")) and ingest.get("ratio_to_encoder") is not None:
            r = ingest["ratio_to_encoder"]
            out.append(_check(f"{store}: ingest / raw encoder", r, "≥ 0.9", r >= 0.9))
        if (fresh := figures.get("freshness")) and fresh.get("p99_ms") is not None:
            p99 = fresh["p99_ms"]
            out.append(_check(f"{store}: freshness p99 at half capacity (ms)", p99, "< 1000", p99 < 1000))
        for size, q in sorted((figures.get("query") or {}).items()):
            out += _query_checks(f"{store} @ {size} docs", q)
        if commands := figures.get("commands"):
            out += _command_checks(store, commands)
        for name, mem in (figures.get("memory") or {}).items():
            if mem.get("budget_mb"):
                out.append(_check(f"{store}: {name} peak RSS (MB)", mem["peak_mb"],
                                  f"≤ {mem['budget_mb']}", mem["within_budget"]))
            if mem.get("budget_mb") and "endurance" in figures and not is_service(name):
                growth = mem["growth_mb_per_min_2nd_half"]
                out.append(_check(f"{store}: {name} RSS growth over the endurance run's second "
                                  "half (MB/min)", growth, f"≤ {FLAT_MB_PER_MIN}",
                                  growth <= FLAT_MB_PER_MIN))
    onnx = data.get("ceilings", {}).get("onnx", {})
    if "sts_spearman" in onnx:
        out.append(_check("ONNX int8 STS Benchmark Spearman", onnx["sts_spearman"], "≥ 0.81",
                          onnx["sts_spearman"] >= 0.81))
    return out


def _query_checks(where: str, q: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    best = q["best"]
    if q.get("ratio_to_batched_encoder") is not None:
        r = q["ratio_to_batched_encoder"]
        out.append(_check(f"{where}: distinct QPS / raw batched encoding", r, "≥ 0.6", r >= 0.6))
    half = q["half_load"]
    if half.get("p99_ms") is not None:
        out.append(_check(f"{where}: distinct p99 at half load (ms)", half["p99_ms"], "< 100",
                          half["p99_ms"] < 100))
    if "overload" in q:
        from benchmarks.throughput import overload

        out += overload.checks(where, q["overload"], _check)
    processes = q.get("query_api_processes") or 1
    for kind in ("repeated", "filter_only"):
        per = round(best[kind]["qps"] / processes, 1)
        out.append(_check(f"{where}: {kind} QPS per query-API process ({best[kind]['qps']} over "
                          f"{processes})", per, "≥ 1000", per >= 1000))
    return out


def _command_checks(store: str, commands: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for state in ("paused", "running"):
        for op in ("create", "update"):
            rows = commands.get(state, {}).get(op)
            if not rows:
                continue
            ok = [r for r in rows if r["p99_ms"] is not None and r["p99_ms"] < 100]
            best = max(ok, key=lambda r: r["qps"]) if ok else max(rows, key=lambda r: r["qps"])
            out.append(_check(f"{store}: {op}/s with p99 < 100 ms, worker {state} "
                              f"(c={best['concurrency']}, p99 {best['p99_ms']} ms)", best["qps"],
                              "≥ 500", bool(ok) and best["qps"] >= 500))
    return out
