"""``semsearch bench edges``: what keys and rate limits cost, as ratios measured in one run.

Three stacks on pgvector with the hashing encoder (so that the HTTP path, not the model, is what
is measured), all up at once, their workers paused: ``open`` and ``open-again`` (AUTH=off, no
rate limits) and ``guarded`` (AUTH=on, every request with a key, the default rate limits, out of
reach). The load alternates between them in short rounds, each round in another (seeded random)
order, so that the machine's drift (other tenants of a shared machine move throughput by tens of
percent within a minute) falls on every stack alike: creates at ``--concurrency`` clients, then one repeated
search (served from the result cache: the cheapest request, where an added cost shows most) at
twice that. Ratios are medians over rounds of one round's figures; ``open-again / open`` is the
A/A ratio: what two identical stacks differ by in this run, the floor under which a cost cannot be
told from noise.

Also timed in this process, by CPU time rather than wall time: one trivial FastAPI route called
through its ASGI app without the guard, with it open and guarded (the key read and checked, the
rate limit taken on a real Redis). What the guard adds per request, as a share of the API's CPU
per request in the stacks, depends far less on the machine's load than throughput does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.harness.memory import children_map, cpu_s
from benchmarks.harness.stack import BenchStack
from benchmarks.throughput.commands import create_requests
from benchmarks.throughput.load import run_load

ADMIN, READER = "bench-admin-0123456789", "bench-reader-0123456789"
OPEN = {"AUTH": "off", "RATE_LIMIT_ADMIN": "0", "RATE_LIMIT_READ": "0"}
MODES: dict[str, tuple[dict[str, str], dict[str, str], dict[str, str]]] = {
    "open": (OPEN, {}, {}),
    "open-again": (OPEN, {}, {}),
    "guarded": ({"AUTH": "on", "ADMIN_KEYS": f"bench:{ADMIN}", "READ_KEYS": f"ui:{READER}",
                 "RATE_LIMIT_ADMIN": "60000", "RATE_LIMIT_READ": "120000"},  # the defaults
                {"X-API-Key": ADMIN}, {"Authorization": f"Bearer {READER}"}),
}
SEARCH = [("POST", "/v1/search", json.dumps({"query": "how did the moon form", "limit": 5}))]
LOADS = ("creates", "searches")


def one_round(stack: BenchStack, mode: str, load: str, duration: float,
              concurrency: int) -> dict[str, float]:
    """One round of ``load`` on ``stack``: requests/s and the API processes' CPU per request."""
    _, admin, reader = MODES[mode]
    target = stack.local
    if load == "creates":
        api, url, requests, clients, headers = ("command-api", target.command_url,
                                                create_requests(), concurrency, admin)
    else:
        api, url, requests, clients, headers = ("query-api", target.query_url, SEARCH,
                                                2 * concurrency, reader)
    pid = target.children[api].pid
    before = cpu_s(pid, children_map())
    result = run_load(f"{mode}: {load}", url, requests, duration, concurrency=clients,
                      template=load == "creates", headers=headers)
    spent = cpu_s(pid, children_map()) - before
    ok = int(result.ok.sum())
    return {"qps": ok / result.wall_s, "api_cpu_ms": 1e3 * spent / max(1, ok),
            "errors": int((~result.ok).sum())}


async def _route_cpu_s(auth: Any, limits: Any, headers: list[tuple[bytes, bytes]],
                      requests: int, guarded: bool) -> float:
    """Process CPU seconds for ``requests`` calls of one FastAPI route through its ASGI app (no
    sockets): with the guard (keys and rate limits as ``auth``/``limits`` say) or without."""
    from fastapi import FastAPI

    from common import http
    from common.auth import Keys
    from common.ratelimit import Limiter

    app = FastAPI()
    app.state.keys, app.state.limiter = Keys(auth), Limiter.from_settings(limits)
    extra = http.guard(auth, "read")[0] if guarded else {}

    @app.get("/probe", **extra)
    async def probe() -> dict[str, bool]:
        return {"ok": True}

    http.enforce(app)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/probe", "raw_path": b"/probe", "root_path": "",
             "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 80)}
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    try:
        await app(dict(scope), receive, send)  # (FastAPI builds its middleware stack once)
        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        spent = time.process_time() - started
    finally:
        await app.state.limiter.close()
    if set(sent) != {200}:
        raise RuntimeError(f"the probe route answered {sorted(set(sent))}")
    return spent


def guard_cpu_us(redis_url: str, requests: int = 20_000) -> dict[str, float]:
    """CPU microseconds per request of one trivial route served through FastAPI (ASGI, no
    sockets): without the guard, with it open (AUTH=off, no limits), and guarded (a Bearer key,
    the default rate limits on ``redis_url``). guarded − none is all that keys and rate limits
    add to a request, the framework's dependency handling included."""
    from common.auth import AuthSettings
    from common.ratelimit import RateLimitSettings

    bearer = [(b"authorization", f"Bearer {READER}".encode())]
    on = AuthSettings(auth="on", read_keys=[f"ui:{READER}"])
    off = AuthSettings(auth="off")
    limits = RateLimitSettings(redis_url=redis_url)
    no_limits = RateLimitSettings(redis_url=redis_url, rate_limit_admin=0, rate_limit_read=0)
    variants = {"none": (off, no_limits, [], False), "open": (off, no_limits, [], True),
                "guarded": (on, limits, bearer, True)}
    found: dict[str, float] = {}
    for _ in range(2):  # alternating, the lower of two: the machine's noise only ever adds
        for mode, (auth, lim, headers, guarded) in variants.items():
            us = 1e6 * asyncio.run(_route_cpu_s(auth, lim, headers, requests, guarded)) / requests
            found[mode] = round(min(found.get(mode, us), us), 2)
    return found


def median_ratio(rounds: dict[str, list[dict[str, float]]], a: str, b: str, field: str) -> float:
    return round(statistics.median(x[field] / y[field] for x, y in
                                   zip(rounds[a], rounds[b], strict=True)), 3)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="semsearch bench edges", description=__doc__)
    p.add_argument("--rounds", type=int, default=6, help="rounds per load and stack")
    p.add_argument("--duration", type=float, default=4.0, help="seconds per round")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--start-order", default="guarded,open,open-again",
                   help="which stack starts first (a stack's place may matter: compare orders)")
    p.add_argument("--out", type=Path, default=Path("bench-results") / time.strftime(
        "%Y%m%d-%H%M%S-edges.json"))
    args = p.parse_args(argv)
    started = args.start_order.split(",")
    if sorted(started) != sorted(MODES):
        p.error(f"--start-order: name each of {', '.join(MODES)} once")
    stacks = {mode: BenchStack("pgvector", encoder="hashing", extra_env=MODES[mode][0])
              for mode in started}
    rounds: dict[str, dict[str, list[dict[str, float]]]] = {
        load: {mode: [] for mode in MODES} for load in LOADS}
    try:
        for stack in stacks.values():
            stack.start()
            stack.pause_worker()  # the APIs' path alone: no embedding beside it
        guard_us = guard_cpu_us(stacks["guarded"].local.env["REDIS_URL"])
        order = list(MODES)
        for load in LOADS:
            for mode in order:  # a warm-up round each, not counted
                one_round(stacks[mode], mode, load, 1.0, args.concurrency)
            for r in range(args.rounds):
                for mode in random.Random(r).sample(order, len(order)):  # a new order each round
                    rounds[load][mode].append(
                        one_round(stacks[mode], mode, load, args.duration, args.concurrency))
                print(f"{load} round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{m} {rounds[load][m][-1]['qps']:.0f}/s" for m in order), flush=True)
    finally:
        for stack in stacks.values():
            stack.stop()
    found: dict[str, Any] = {"rounds": rounds, "guard_cpu_us": guard_us, "settings": vars(args)
                             | {"out": str(args.out)}}
    for load in LOADS:
        by_mode = rounds[load]
        api_cpu_us = 1e3 * statistics.median(x["api_cpu_ms"] for x in by_mode["guarded"])
        found[load] = {
            "qps": {m: round(statistics.median(x["qps"] for x in by_mode[m]), 1) for m in MODES},
            "api_cpu_ms_per_request": {m: round(statistics.median(x["api_cpu_ms"] for x in by_mode[m]),
                                                4) for m in MODES},
            "errors": {m: sum(int(x["errors"]) for x in by_mode[m]) for m in MODES},
            "throughput_ratio": median_ratio(by_mode, "guarded", "open", "qps"),
            "throughput_ratio_aa": median_ratio(by_mode, "open-again", "open", "qps"),
            "cpu_ratio": median_ratio(by_mode, "guarded", "open", "api_cpu_ms"),
            "cpu_ratio_aa": median_ratio(by_mode, "open-again", "open", "api_cpu_ms"),
            "guard_share": round((guard_us["guarded"] - guard_us["none"]) / api_cpu_us, 4),
        }
        f = found[load]
        print(f"{load:<9} open {f['qps']['open']}/s, guarded {f['qps']['guarded']}/s: throughput "
              f"ratio {f['throughput_ratio']} (A/A {f['throughput_ratio_aa']}); API CPU per "
              f"request ratio {f['cpu_ratio']} (A/A {f['cpu_ratio_aa']}); keys and limits add "
              f"{guard_us['guarded'] - guard_us['none']:.1f} µs CPU = {100 * f['guard_share']:.2f}%"
              f" of the API's {api_cpu_us:.0f} µs per request; errors {f['errors']}")
    print(f"CPU per request of a trivial route: {guard_us['none']} µs without the guard, "
          f"{guard_us['open']} µs with it open, {guard_us['guarded']} µs guarded")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=2))
    print(f"written: {args.out}")
    return 0
