"""Resident memory of every process of the stack, sampled in a thread while a benchmark runs.

The four semsearch processes are sampled alone (their RSS is what the budgets mean); a service
(PostgreSQL, Redis, Weaviate) is its main process plus its children, summed, which counts pages
they share once per process: an upper bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

BUDGETS_MB = {"command-api": 150, "relay": 150, "worker": 1024, "query-api": 1024}
"""What each process may hold at its peak, with the model loaded where it has one."""

SERVICES = ("postgres", "redis", "weaviate")
MB = 1024 * 1024


def rss_mb(pid: int, with_children: bool) -> float:
    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        if with_children:
            for child in process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        return total / MB
    except psutil.Error:
        return float("nan")


class MemorySampler:
    """``with MemorySampler(stack.processes): ...``; the pids are re-read as processes restart."""

    def __init__(self, processes: Callable[[], dict[str, int]], interval: float = 0.5) -> None:
        self.processes = processes
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.t0 = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic() - self.t0
            for name, pid in self.processes().items():
                value = rss_mb(pid, with_children=name in SERVICES)
                if value == value:  # not NaN: the process was there
                    self.samples.setdefault(name, []).append((round(now, 2), round(value, 1)))
            self._stop.wait(self.interval)

    def mark(self) -> float:
        """Seconds since sampling began: to tell phases apart on the RSS plot."""
        return round(time.monotonic() - self.t0, 2)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> dict[str, Any]:
        """Per process: peak, first and last RSS, the budget, and the growth over the run's
        second half (MB per minute, from a least-squares line: flat is ~0)."""
        out: dict[str, Any] = {}
        for name, series in self.samples.items():
            values = [v for _, v in series]
            half = series[len(series) // 2:]
            out[name] = {"peak_mb": max(values), "first_mb": values[0], "last_mb": values[-1],
                         "budget_mb": BUDGETS_MB.get(name),
                         "within_budget": max(values) <= BUDGETS_MB[name] if name in BUDGETS_MB else None,
                         "growth_mb_per_min_2nd_half": round(_slope(half) * 60, 1)}
        return out


def _slope(series: list[tuple[float, float]]) -> float:
    if len(series) < 3:
        return 0.0
    ts = [t for t, _ in series]
    vs = [v for _, v in series]
    mt, mv = sum(ts) / len(ts), sum(vs) / len(vs)
    var = sum((t - mt) ** 2 for t in ts)
    return round(sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / var, 3) if var else 0.0
