"""Issue 31, point 7: every line of every log our processes write parses as JSON (relays,
workers, both APIs, the query API's uvicorn workers too), through a write, a search, a refused
request and a stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e import up_process
from tests.e2e.up_process import clean_env, wait_drained

PROCESSES = ("relay-1", "worker-1", "command-api", "query-api")


def not_json(log: Path) -> list[str]:
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            json.loads(line)
        except ValueError:
            bad.append(line)
    return bad


def test_every_log_line_of_every_process_is_json(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    up = up_process.start(folder, tmp_path / "logs", store="pgvector",
                          env=clean_env(QUERY_API_WORKERS="2"))
    try:
        written = httpx.post(f"{up.command_url}/v1/documents",
                             json={"title": "logs", "body": "every line is JSON"}, timeout=30)
        assert written.status_code == 201
        wait_drained(folder, 120, up.log)
        assert httpx.post(f"{up.query_url}/v1/search", json={"query": "JSON lines"},
                          timeout=30).status_code == 200
        assert httpx.post(f"{up.query_url}/v1/search", content=b"{", timeout=30).status_code == 422
        assert httpx.get(f"{up.command_url}/nowhere", timeout=30).status_code == 404
    finally:
        up_process.stop(up)
    logs = {name: folder / "logs" / f"{name}.log" for name in PROCESSES}
    assert all(log.stat().st_size > 0 for log in logs.values()), logs
    assert {name: not_json(log) for name, log in logs.items()} == {n: [] for n in PROCESSES}


def test_warnings_and_uncaught_exceptions_are_json_lines_too() -> None:
    """What no run of the stack shows reliably: a warning, a thread's crash and the process's
    own crash (a worker whose Redis went first at a stop ended in a bare traceback)."""
    crash = ("import threading, warnings\n"
             "from common.logs import setup\n"
             "setup('worker')\n"
             "warnings.warn('deprecated, say')\n"
             "t = threading.Thread(target=lambda: 1 / 0); t.start(); t.join()\n"
             "raise ConnectionError('Redis went first')\n")
    done = subprocess.run([sys.executable, "-c", crash], cwd=up_process.ROOT,
                          capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["level"], line["msg"].splitlines()[0]) for line in lines] == [
        ("warning", "<string>:4: UserWarning: deprecated, say"),
        ("error", "uncaught ZeroDivisionError in thread Thread-1 (<lambda>): division by zero"),
        ("critical", "uncaught ConnectionError: Redis went first")]
    assert done.returncode == 1 and "Traceback" in lines[2]["error"]
