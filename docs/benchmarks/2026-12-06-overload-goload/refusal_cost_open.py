"""What one refusal costs when searches arrive spread out (open loop) rather than back to back
(closed loop): one uvicorn process (httptools) serving the query app with its admission line
held full, driven by the Go load generator; CPU per refusal of the server and of the client.

Run from the repository root:
    AUTH=off .venv/bin/python docs/benchmarks/2026-12-06-overload-goload/refusal_cost_open.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import goload
from query_side.api import create_app
from query_side.settings import QuerySettings

BODY = json.dumps({"query": "a distinct search %SEQ%"})
PORT = 18932


def full_app() -> Any:
    """The query app with its line held full (no lifespan: nothing behind the door is ready)."""
    app = create_app(QuerySettings(search_queue=0))
    app.state.admission.in_flight = app.state.admission.limit
    return app


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(mode: str, rate: float = 0.0, seconds: float = 6.0) -> dict[str, Any]:
    env = dict(os.environ, AUTH="off", PYTHONPATH=f"{Path(__file__).resolve().parent}:{os.getcwd()}")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "refusal_cost_open:full_app",
                               "--factory", "--port", str(PORT), "--lifespan", "off",
                               "--log-level", "warning", "--no-access-log", "--http", "httptools"],
                              env=env)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        spec = {"url": f"http://127.0.0.1:{PORT}", "requests": [["POST", "/v1/search", BODY]],
                "template": True, "duration": seconds, "warmup": 0, "mode": mode, "rate": rate,
                "concurrency": 64, "max_connections": 256, "timeout": 30}
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "spec.json").write_text(json.dumps(spec))
            before = cpu_s(server.pid)
            subprocess.run([str(goload.ensure_binary()), f"{folder}/spec.json", f"{folder}/out.json"],
                           check=True)
            spent = cpu_s(server.pid) - before
            out = json.loads((Path(folder) / "out.json").read_text())
    finally:
        server.terminate()
        server.wait()
    n = len(out["status"])
    assert set(out["status"]) == {503}, set(out["status"])
    return {"mode": mode, "refused_per_s": round(n / out["wall_s"]),
            "server_us": round(spent / n * 1e6), "client_us": round(out["cpu_s"] / n * 1e6)}


if __name__ == "__main__":
    for rate in (500.0, 2500.0):
        print(measure("rate", rate))
    print(measure("closed"))
