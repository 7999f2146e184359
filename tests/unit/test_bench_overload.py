"""The overload phase's pieces: the summary of an overloaded run and its checks (the load
generators' Retry-After and burst modes: tests/unit/test_bench_loadgens.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness.results import _check
from benchmarks.throughput import overload
from benchmarks.throughput.load import LoadResult
from benchmarks.throughput.loadgen import CONNECT_TIMEOUT, RESPONSE_TIMEOUT


def test_an_overloaded_run_counts_served_refused_and_failures_apart() -> None:
    status = np.array([200, 200, 503, 503, 503, 0, CONNECT_TIMEOUT, RESPONSE_TIMEOUT, 500])
    latency = np.array([0.1, 0.3, 0.001, 0.002, 0.003, 1.0, 60.0, 60.0, 0.5])
    result = LoadResult("x", np.zeros(len(status)), latency, status, wall_s=2.0, cpu_s=0.5)
    s = result.overload_summary()
    assert (s["served"], s["refused"], s["served_per_s"], s["refused_per_s"]) == (2, 3, 1.0, 1.5)
    assert (s["connection_errors"], s["connect_timeouts"], s["response_timeouts"]) == (1, 1, 1)
    assert s["other_5xx"] == 1 and s["other_statuses"] == [500]
    assert s["refused_p50_ms"] == 2.0 and s["served_p50_ms"] == 200.0


def row(multiple: int, served: float, p99: float, refused_p99: float | None) -> dict[str, Any]:
    return {"multiple": multiple, "served_per_s": served, "served_p99_ms": p99,
            "refused_p99_ms": refused_p99}


def test_checks_hold_the_peak_at_10x_and_30x_and_the_burst_to_no_failure() -> None:
    burst = {"connections": 2000, "served": 100, "refused": 1900, "connect_timeouts": 0,
             "response_timeouts": 0, "connection_errors": 0, "other_5xx": 0}
    o = {"peak_per_s": 100.0, "burst": burst,
         "closed": [row(1, 100, 200, None), row(10, 95, 900, 5), row(30, 80, 1200, 150)],
         "open": [row(3, 99, 300, 4)]}
    found = {c["what"]: c["pass"] for c in overload.checks("s", o, _check)}
    assert found["s: overload closed 10x: served/s / peak (95 / 100.0)"] is True
    assert found["s: overload closed 30x: served/s / peak (80 / 100.0)"] is False
    assert found["s: overload closed 10x: p99 of served (ms)"] is True
    assert found["s: overload closed 30x: p99 of served (ms)"] is False
    assert found["s: overload closed 30x: p99 of refusals (ms)"] is False
    assert not any("closed 1x" in what for what in found)  # the 1x level is the reference
    burst_check = [v for k, v in found.items() if "burst of 2000" in k]
    assert burst_check == [True]
    burst["connect_timeouts"] = 1
    assert [c["pass"] for c in overload.checks("s", o, _check) if "burst" in c["what"]] == [False]
