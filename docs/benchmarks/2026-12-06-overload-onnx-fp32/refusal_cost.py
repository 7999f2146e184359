"""What one refusal at the door costs the query API: CPU per refused search, in process (the ASGI
app alone) and over HTTP (one uvicorn process, httptools or h11, closed-loop keep-alive clients
that never wait). Every search is refused: the admission line is held full.

Run from the repository root, at any commit (the door's before and after):
    AUTH=off .venv/bin/python docs/benchmarks/2026-12-06-overload-onnx-fp32/refusal_cost.py
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from query_side.api import create_app
from query_side.settings import QuerySettings

BODY = json.dumps({"query": "a distinct search %SEQ%"})


def full_app() -> Any:
    """The query app with its line held full (no lifespan: nothing behind the door is ready)."""
    app = create_app(QuerySettings(search_queue=0))
    app.state.admission.in_flight = app.state.admission.limit
    return app


def in_process(n: int = 20_000) -> float:
    app = full_app()
    body = BODY.encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/search", "raw_path": b"/v1/search", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run(count: int) -> None:
        for _ in range(count):
            await app(dict(scope, state={}), receive, send)

    asyncio.run(run(200))
    started = time.process_time()
    asyncio.run(run(n))
    assert set(statuses) == {503}, set(statuses)
    return (time.process_time() - started) / n


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_http(http: str, clients: int = 64, seconds: float = 4.0, port: int = 18931) -> dict[str, float]:
    here = Path(__file__).resolve().parent
    env = dict(os.environ, AUTH="off", PYTHONPATH=f"{here}:{os.getcwd()}")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "refusal_cost:full_app", "--factory",
                               "--port", str(port), "--lifespan", "off", "--log-level", "warning",
                               "--no-access-log", "--http", http], env=env)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        spec = {"url": f"http://127.0.0.1:{port}", "requests": [["POST", "/v1/search", BODY]],
                "template": True, "duration": seconds, "warmup": 0, "mode": "closed",
                "concurrency": clients, "timeout": 30}
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "spec.json").write_text(json.dumps(spec))
            before = cpu_s(server.pid)
            subprocess.run([sys.executable, "-m", "benchmarks.loadgen", f"{folder}/spec.json",
                            f"{folder}/out.json"], check=True)
            spent = cpu_s(server.pid) - before
            out = json.loads((Path(folder) / "out.json").read_text())
    finally:
        server.terminate()
        server.wait()
    n = len(out["status"])
    assert set(out["status"]) == {503}, set(out["status"])
    return {"refused_per_s": round(n / out["wall_s"]), "server_us": round(spent / n * 1e6),
            "client_us": round(out["cpu_s"] / n * 1e6)}


if __name__ == "__main__":
    print(f"in process: {in_process() * 1e6:.1f} µs of CPU per refusal")
    for kind in ("httptools", "h11"):
        print(f"uvicorn --http {kind}, 64 clients: {over_http(kind)}")
