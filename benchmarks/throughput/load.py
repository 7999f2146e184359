"""Run the load generator in its own process, with a progress bar, and summarize it.

Two builds of one generator, same spec, modes and output: Go (:mod:`benchmarks.throughput.goload`, the
default) and Python (:mod:`benchmarks.throughput.loadgen`). ``--loadgen`` (or ``SEMSEARCH_LOADGEN``) picks;
without Go installed the Python one runs and the report says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.throughput import goload
from benchmarks.throughput.loadgen import CONNECT_TIMEOUT, RESPONSE_TIMEOUT

GENERATORS = ("go", "python")
_wanted = [os.environ.get("SEMSEARCH_LOADGEN") or "go"]
_resolved: list[tuple[list[str], str]] = []


def use(generator: str) -> None:
    """Pick the load generator for the rest of this process (``go`` or ``python``)."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown load generator {generator!r}: use one of {GENERATORS}")
    _wanted[0] = generator
    _resolved.clear()


def generator() -> tuple[list[str], str]:
    """The load generator's command (``SPEC.json OUT.json`` follow) and what the report says
    of it; the Go one is built on first use."""
    if not _resolved:
        python = ([sys.executable, "-m", "benchmarks.throughput.loadgen"],
                  "benchmarks.throughput.loadgen: Python asyncio HTTP/1.1 keep-alive client in its own "
                  "process")
        if _wanted[0] == "python":
            _resolved.append(python)
        elif (binary := goload.ensure_binary()) is not None:
            _resolved.append(([str(binary)], "benchmarks/throughput/goload: Go HTTP/1.1 keep-alive client in "
                                             "its own process"))
        else:
            print("warning: Go is not installed: the Python load generator runs instead (it "
                  "costs more CPU per request, taken from the system measured)", file=sys.stderr)
            _resolved.append((python[0], python[1] + " (Go not installed)"))
    return _resolved[0]


def describe() -> str:
    return generator()[1] + " (its CPU share is reported per phase)"

Request = tuple[str, str, str]
"""(method, path, JSON body)"""


@dataclass
class LoadResult:
    label: str
    started: np.ndarray
    latency: np.ndarray
    status: np.ndarray
    wall_s: float
    cpu_s: float
    reconnects: int = 0
    """Requests sent again because the server had closed the idle connection they met."""

    @property
    def ok(self) -> np.ndarray:
        return (self.status >= 200) & (self.status < 300)

    def summary(self) -> dict[str, Any]:
        good = self.latency[self.ok] * 1e3
        pct = (lambda q: round(float(np.percentile(good, q)), 2)) if len(good) else (lambda q: None)
        return {
            "label": self.label, "requests": int(len(self.status)), "ok": int(self.ok.sum()),
            "errors": int((~self.ok).sum()),
            "error_statuses": sorted({int(s) for s in self.status[~self.ok]}),
            "qps": round(float(self.ok.sum()) / self.wall_s, 1) if self.wall_s else 0.0,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "mean_ms": round(float(good.mean()), 2) if len(good) else None,
            "loadgen_cpu_share": round(self.cpu_s / self.wall_s, 3) if self.wall_s else None,
            "reconnects": self.reconnects,
        }

    def overload_summary(self) -> dict[str, Any]:
        """What an overloaded server did: served and refused (503) per second, the latency of
        each, connection errors and timeouts, and any other status."""
        refused = self.status == 503
        failed = ~self.ok & ~refused
        late = self.latency[refused] * 1e3
        pct = (lambda q: round(float(np.percentile(late, q)), 2)) if len(late) else (lambda q: None)
        summary = self.summary()
        return {
            "label": self.label, "requests": summary["requests"], "served": summary["ok"],
            "served_per_s": summary["qps"],
            "refused": int(refused.sum()),
            "refused_per_s": round(float(refused.sum()) / self.wall_s, 1) if self.wall_s else 0.0,
            "served_p50_ms": summary["p50_ms"], "served_p99_ms": summary["p99_ms"],
            "refused_p50_ms": pct(50), "refused_p99_ms": pct(99),
            "connection_errors": int((self.status == 0).sum()),
            "connect_timeouts": int((self.status == CONNECT_TIMEOUT).sum()),
            "response_timeouts": int((self.status == RESPONSE_TIMEOUT).sum()),
            "other_statuses": sorted({int(s) for s in self.status[failed] if s > 0}),
            "other_5xx": int(((self.status >= 500) & ~refused).sum()),
            "loadgen_cpu_share": summary["loadgen_cpu_share"],
        }

    def per_second(self) -> list[int]:
        """Successful requests completed in each second of the run (for throughput plots)."""
        finished = (self.started + self.latency)[self.ok]
        seconds = max(1, int(np.ceil(self.wall_s)))
        counts, _ = np.histogram(finished, bins=seconds, range=(0, seconds))
        return [int(c) for c in counts]


def run_load(label: str, url: str, requests: list[Request], duration: float, *,
             concurrency: int | None = None, rate: float | None = None, warmup: float = 0.0,
             template: bool = False, headers: dict[str, str] | None = None,
             burst: bool = False, **options: Any) -> LoadResult:
    """Closed loop with ``concurrency`` clients, open loop at ``rate`` requests/s, or ``burst``:
    ``concurrency`` connections at once, one request each; ``headers`` go with every request (an
    API key); ``options``: the load generator's ``timeout``, ``connect_timeout``,
    ``honor_retry_after`` and ``max_connections`` (open loop)."""
    mode = "burst" if burst else "closed" if rate is None else "rate"
    spec = {"url": url, "requests": requests, "duration": duration, "warmup": warmup,
            "template": template, "mode": mode, "concurrency": concurrency or 1, "rate": rate,
            "headers": headers or {}, **options}
    with tempfile.TemporaryDirectory(prefix="semsearch-load-") as folder:
        spec_path, out_path = Path(folder) / "spec.json", Path(folder) / "out.json"
        spec_path.write_text(json.dumps(spec))
        child = subprocess.Popen([*generator()[0], str(spec_path), str(out_path)])
        total = warmup + duration
        with tqdm(total=round(total, 1), desc=f"{label:<28}", unit="s", leave=False) as bar:
            started = time.monotonic()
            while child.poll() is None:
                time.sleep(0.2)
                bar.n = round(min(total, time.monotonic() - started), 1)
                bar.refresh()
        if child.returncode != 0:
            raise RuntimeError(f"load generator failed ({child.returncode}) for {label}")
        out = json.loads(out_path.read_text())
    return LoadResult(label, np.asarray(out["started"]), np.asarray(out["latency"]),
                      np.asarray(out["status"], dtype=int), float(out["wall_s"]), float(out["cpu_s"]),
                      int(out.get("reconnects", 0)))
