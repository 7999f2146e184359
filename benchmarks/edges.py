"""``semsearch bench edges``: what keys and rate limits cost, as a ratio of throughput.

Two stacks on pgvector with the hashing encoder (so that the HTTP path, not the model, is what
is measured), one after the other: open (AUTH=off, no rate limits) and guarded (AUTH=on, every
request with a key, rate limits on but out of reach). On each: creates at ``--concurrency``
clients, then one repeated search (served from the result cache: the cheapest request, where an
added cost shows most) at twice that. Prints and writes the figures and the guarded/open ratios
of throughput and of the API process's CPU per request (on a shared machine the second is the
steadier: other tenants move throughput more than they move CPU per request).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.commands import create_requests
from benchmarks.load import run_load
from benchmarks.memory import children_map, cpu_s
from benchmarks.stack import BenchStack

ADMIN, READER = "bench-admin-0123456789", "bench-reader-0123456789"
MODES: dict[str, tuple[dict[str, str], dict[str, str], dict[str, str]]] = {
    "open": ({"AUTH": "off", "RATE_LIMIT_ADMIN": "0", "RATE_LIMIT_READ": "0"}, {}, {}),
    "guarded": ({"AUTH": "on", "ADMIN_KEYS": f"bench:{ADMIN}", "READ_KEYS": f"ui:{READER}"},
                {"X-API-Key": ADMIN}, {"Authorization": f"Bearer {READER}"}),
}
SEARCH = [("POST", "/v1/search", json.dumps({"query": "how did the moon form", "limit": 5}))]


def measure(mode: str, duration: float, warmup: float, concurrency: int) -> dict[str, Any]:
    """Throughput, and the API process's CPU per request (less at the mercy of other tenants of
    a shared machine than throughput is)."""
    env, admin, reader = MODES[mode]
    stack = BenchStack("pgvector", encoder="hashing", extra_env=env)
    target = stack.start()
    found: dict[str, Any] = {}
    try:
        for load, api, url, requests, clients, headers, template in (
                ("creates", "command-api", target.command_url, create_requests(), concurrency,
                 admin, True),
                ("searches", "query-api", target.query_url, SEARCH, 2 * concurrency, reader, False)):
            pid = stack.local.children[api].pid
            before = cpu_s(pid, children_map())
            result = run_load(f"{mode}: {load}", url, requests, duration, concurrency=clients,
                              warmup=warmup, template=template, headers=headers)
            spent = cpu_s(pid, children_map()) - before  # (the warm-up's requests included)
            found[load] = {**result.summary(), "api_cpu_ms_per_request": round(
                1e3 * spent / max(1, result.ok.sum() * (warmup + duration) / duration), 3)}
    finally:
        stack.stop()
    return found


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="semsearch bench edges", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--order", default="open,guarded",
                   help="which stack first (run both orders: the first stack of a run differs)")
    p.add_argument("--out", type=Path, default=Path("bench-results") / time.strftime(
        "%Y%m%d-%H%M%S-edges.json"))
    args = p.parse_args(argv)
    found: dict[str, Any] = {mode: measure(mode, args.duration, args.warmup, args.concurrency)
                             for mode in args.order.split(",")}
    found["ratio"] = {load: round(found["guarded"][load]["qps"] / found["open"][load]["qps"], 3)
                      for load in ("creates", "searches")}
    found["cpu_ratio"] = {load: round(found["guarded"][load]["api_cpu_ms_per_request"]
                                      / found["open"][load]["api_cpu_ms_per_request"], 3)
                          for load in ("creates", "searches")}
    for load in ("creates", "searches"):
        o, g = found["open"][load], found["guarded"][load]
        print(f"{load:<9} open {o['qps']:>8}/s {o['api_cpu_ms_per_request']} ms CPU   guarded "
              f"{g['qps']:>8}/s {g['api_cpu_ms_per_request']} ms CPU   throughput ratio "
              f"{found['ratio'][load]}, API CPU per request ratio {found['cpu_ratio'][load]} "
              f"(errors {o['errors']}/{g['errors']})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=2))
    print(f"written: {args.out}")
    return 0
