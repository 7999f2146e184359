"""The query benchmark's overload phase: distinct searches far past the best concurrency.

From the best level of the closed-loop phase (its concurrency and its searches/s, the *peak*):
closed loop at 1x, 3x, 10x and 30x that many clients, each waiting out a 503's Retry-After before
its next search (as a well-behaved client does); open loop at 1x, 3x and 10x the peak rate,
arrivals never slowed by refusals; then a burst of ``burst`` connections opened at once, one
search each. Each phase reports served/s, refused/s (503), the latency of both, connection errors
and timeouts. Acceptance (issue 16): served/s at 10x and 30x at least 0.9x the peak, p99 of the
served under 1 s, refusals within 100 ms, and in the burst no connection timeout and no 5xx other
than 503.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import plots
from benchmarks.harness.stack import Target
from benchmarks.throughput.load import LoadResult, run_load
from benchmarks.throughput.query import QueryPool, requests_for

CLOSED = (1, 3, 10, 30)
OPEN = (1, 3, 10)
TIMEOUT_S = 60.0
"""A search not answered within this is counted as a timeout (so is a connection not accepted)."""
HELD = 0.9
"""Share of the peak that served/s must hold at 10x and 30x."""


def run(target: Target, pool: QueryPool, categories: list[str], best: dict[str, Any],
        duration: float, warmup: float, label: str, collect: Callable[[str, LoadResult], None],
        burst: int, multiples: tuple[int, ...] = CLOSED) -> dict[str, Any]:
    peak, level = float(best["qps"]), int(best["concurrency"])
    limits: dict[str, Any] = {"timeout": TIMEOUT_S, "connect_timeout": TIMEOUT_S}
    out: dict[str, Any] = {"peak_per_s": peak, "best_concurrency": level, "closed": [], "open": []}

    def phase(name: str, count: int, **how: Any) -> dict[str, Any]:
        requests = requests_for("distinct", pool, categories, count)
        result = run_load(f"overload {label} {name}", target.query_url, requests, duration,
                          warmup=warmup, **limits, **how)
        collect(f"overload {label} {name}", result)
        return result.overload_summary()

    for m in multiples:
        clients = level * m
        # a never-seen text for every search sent, refused ones included (each client sends
        # about one a second while it is refused): a repeat would be a result-cache hit
        row = phase(f"closed {m}x", int((duration + warmup) * (2 * peak + clients)) + clients,
                    concurrency=clients, honor_retry_after=True)
        out["closed"].append({"multiple": m, "clients": clients, **row})
    for m in (m for m in OPEN if m <= max(multiples)):
        rate = max(1.0, peak * m)
        row = phase(f"open {m}x", int((duration + warmup) * rate) + 10, rate=rate,
                    max_connections=max(256, 3 * level * m))
        out["open"].append({"multiple": m, "rate_per_s": round(rate, 1), **row})
    requests = requests_for("distinct", pool, categories, burst)
    result = run_load(f"overload {label} burst", target.query_url, requests, 0.0, burst=True,
                      concurrency=burst, **limits)
    collect(f"overload {label} burst", result)
    out["burst"] = {"connections": burst, **result.overload_summary(),
                    "wall_s": round(result.wall_s, 2)}
    return out


def checks(where: str, o: dict[str, Any], check: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    peak, out = o["peak_per_s"], []
    for loop, rows in (("closed", o["closed"]), ("open", o["open"])):
        for row in rows:
            name = f"{where}: overload {loop} {row['multiple']}x"
            if row["multiple"] >= 10:
                share = round(row["served_per_s"] / peak, 3) if peak else None
                out.append(check(f"{name}: served/s / peak ({row['served_per_s']} / {peak})",
                                 share, f"≥ {HELD}", share is not None and share >= HELD))
            if row["multiple"] > 1:
                p99 = row["served_p99_ms"]
                out.append(check(f"{name}: p99 of served (ms)", p99, "< 1000",
                                 p99 is not None and p99 < 1000))
                if late := row["refused_p99_ms"]:  # (none refused: nothing to check)
                    out.append(check(f"{name}: p99 of refusals (ms)", late, "< 100", late < 100))
    b = o["burst"]
    failed = b["connect_timeouts"] + b["response_timeouts"] + b["connection_errors"] + b["other_5xx"]
    out.append(check(f"{where}: burst of {b['connections']} connections: timeouts, connection "
                     f"errors and 5xx other than 503 ({b['served']} served, {b['refused']} refused)",
                     failed, "= 0", failed == 0))
    return out


def lines(o: dict[str, Any], table: Callable[[list[str], list[list[Any]]], list[str]]) -> list[str]:
    head = ["served/s", "refused/s", "served p50 ms", "served p99 ms", "refused p99 ms",
            "conn. errors", "timeouts", "other statuses"]

    def cells(r: dict[str, Any]) -> list[Any]:
        return [r["served_per_s"], r["refused_per_s"], r["served_p50_ms"], r["served_p99_ms"],
                r["refused_p99_ms"], r["connection_errors"],
                r["connect_timeouts"] + r["response_timeouts"], r["other_statuses"] or ""]

    b = o["burst"]
    return [f"#### Overload (peak {o['peak_per_s']} distinct searches/s at "
            f"{o['best_concurrency']} clients)", "",
            "Closed loop: each client waits out a 503's Retry-After before its next search.", "",
            *table(["multiple", "clients", *head],
                   [[f"{r['multiple']}x", r["clients"], *cells(r)] for r in o["closed"]]),
            "Open loop: arrivals at a fixed rate, whatever the answers.", "",
            *table(["multiple", "arrivals/s", *head],
                   [[f"{r['multiple']}x", r["rate_per_s"], *cells(r)] for r in o["open"]]),
            f"Burst: {b['connections']} connections opened at once, one search each, over "
            f"{b['wall_s']} s: {b['served']} served (p99 {b['served_p99_ms']} ms), {b['refused']} "
            f"refused (p99 {b['refused_p99_ms']} ms), {b['connection_errors']} connection errors, "
            f"{b['connect_timeouts']} connect timeouts, {b['response_timeouts']} response "
            f"timeouts, other statuses {b['other_statuses'] or 'none'}.", ""]


def draw(path: Path, title: str, o: dict[str, Any]) -> Path:
    series = {f"{what} ({loop} loop)": [(r["multiple"], r[f"{what}_per_s"]) for r in o[loop]]
              for loop in ("closed", "open") for what in ("served", "refused")}
    p99 = {f"served p99 ({loop} loop)": [(r["multiple"], r["served_p99_ms"] or 0.0) for r in o[loop]]
           for loop in ("closed", "open")}
    return plots.overload(path, title, series, p99, o["peak_per_s"])
