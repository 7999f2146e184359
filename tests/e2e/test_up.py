"""`semsearch up`: the whole stack as real processes, and a clean stop leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from operations.stack.datafolder import holder
from operations.stack.process import free_port, wait_until
from tests.e2e.up_process import operator

ROOT = Path(__file__).resolve().parents[2]


def test_up_serves_writes_and_searches_then_stops_cleanly(tmp_path: Path) -> None:
    """Two relays and two workers (``--relays 2 --workers 2``), named in stack.json and shown by
    `semsearch status`."""
    command_port, query_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["QUERY_API_WORKERS"] = "2"  # the query API as two processes behind one port
    proc = subprocess.Popen(
        [sys.executable, "-m", "semsearch.cli", "up", "--store", "pgvector",
         "--command-port", str(command_port), "--query-port", str(query_port),
         "--data-dir", str(tmp_path / "data"), "--workers", "2", "--relays", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{query_port}/readyz").status_code == 200,
                   240, "semsearch up", alive=lambda: proc.poll() is None)
        tree = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        for part in ("postgres", "redis-server", "relay", "worker", "command-api", "query-api"):
            assert part in names
        commands = [p.cmdline()[3:4] for p in tree if p.cmdline()[1:3] == ["-m", "semsearch.cli"]]
        assert commands.count(["worker"]) == 2 and commands.count(["relay"]) == 2
        wait_until(lambda: holder(tmp_path / "data").get("state") == "running", 30, "stack.json")
        recorded = holder(tmp_path / "data")["children"]
        assert isinstance(recorded, dict)
        assert {"relay-1", "relay-2", "worker-1", "worker-2"} <= set(recorded)
        shown = operator("status", folder=tmp_path / "data").stdout
        assert "relay-1" in shown and "worker-2" in shown and "(gone)" not in shown, shown

        written = httpx.post(f"http://127.0.0.1:{command_port}/v1/documents", json={
            "title": "Volcano", "body": "Magma rises through the crust and erupts as lava."}).json()
        found = httpx.post(f"http://127.0.0.1:{query_port}/v1/search", timeout=60, json={
            "query": "molten rock eruption", "token": written["token"], "wait_ms": 30_000}).json()
        assert found["hits"][0]["id"] == written["id"] and found["store"] == "pgvector"

        worker = next(p for p in tree if "worker" in p.cmdline())
        assert set(thread_nice(worker.pid)) == {10}  # every thread, the encoder's included
        assert next(p for p in tree if "command-api" in p.cmdline()).nice() == 0

        api = next(p for p in tree if "query-api" in p.cmdline())
        workers = [p for p in api.children() if any("spawn_main" in a for a in p.cmdline())]
        assert len(workers) == 2
        for n in range(20):  # whichever worker answers a scrape reports every worker's searches
            httpx.post(f"http://127.0.0.1:{query_port}/v1/search", json={"query": f"lava {n}"})
        assert searches_counted(query_port) == 21

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        time.sleep(0.5)
        alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == []
    finally:
        if proc.poll() is None:  # an assertion failed: stop the whole stack, not `up` alone
            stop_tree(proc)
        out = proc.stdout.read() if proc.stdout else ""
        print(out)


def stop_tree(proc: subprocess.Popen[str]) -> None:
    """SIGTERM first (``up`` stops what it started), then SIGKILL whatever is left: a bare kill
    of ``up`` once left its relay, worker and APIs running for the rest of the session."""
    left = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()


def searches_counted(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("semsearch_searches_total{"))


def thread_nice(pid: int) -> list[int]:
    """The nice value of each thread of ``pid`` (Linux keeps one per thread)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        out.append(int(stat[stat.rindex(")") + 2:].split()[16]))  # field 19: nice
    return out


def test_up_keeps_data_by_default_and_refuses_a_second_stack_on_its_folder(tmp_path: Path) -> None:
    """Without a flag the data lives in $XDG_DATA_HOME/semsearch and outlives a stop; a second
    `up` on the same folder refuses, naming the folder and the holder's pid."""
    from tests.e2e import up_process

    env = up_process.clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "semsearch"
    first = up_process.start(None, tmp_path / "logs", store="pgvector", env=env)
    try:
        assert f"data         {folder}   (kept" in first.output()
        second = subprocess.run(
            [sys.executable, "-m", "semsearch.cli", "up", "--store", "pgvector",
             "--command-port", str(free_port()), "--query-port", str(free_port())],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"the data folder {folder} is in use" in second.stderr
        assert f"(pid {first.proc.pid})" in second.stderr
        written = httpx.post(f"{first.command_url}/v1/documents", json={
            "title": "Glacier", "body": "Ice flows slowly downhill under its own weight."}).json()
        httpx.post(f"{first.query_url}/v1/search", timeout=60, json={
            "query": "ice", "token": written["token"], "wait_ms": 30_000}).raise_for_status()
    finally:
        assert up_process.stop(first) == 0
    assert (folder / "postgres" / "pgdata" / "PG_VERSION").exists()
    assert not (folder / "stack.json").exists()

    again = up_process.start(None, tmp_path / "logs", store="pgvector", env=env)
    try:
        found = httpx.post(f"{again.query_url}/v1/search", timeout=60, json={
            "query": "slow ice flowing downhill"}).json()
        assert [hit["id"] for hit in found["hits"]] == [written["id"]]
    finally:
        assert up_process.stop(again) == 0


def test_up_temporary_leaves_nothing_behind(tmp_path: Path) -> None:
    from tests.e2e import up_process

    env = up_process.clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    up = up_process.start(None, tmp_path / "logs", "--temporary", store="pgvector", env=env)
    try:
        banner = next(line for line in up.output().splitlines() if line.startswith("data "))
        home = Path(banner.split()[1])
        assert banner.endswith("(temporary: deleted on stop)") and home.parent == tmp_path / "tmp"
        assert (home / "postgres" / "pgdata" / "PG_VERSION").exists()
    finally:
        assert up_process.stop(up) == 0
    assert not home.exists()
    assert not (tmp_path / "xdg").exists()


def test_a_second_ctrl_c_while_stopping_leaves_nothing_running(tmp_path: Path) -> None:
    """Ctrl-C, and again while the stack stops (as an impatient user does): `up` still stops
    every process it started, PostgreSQL and Redis included, and exits 0."""
    from tests.e2e import up_process

    up = up_process.start(None, tmp_path / "logs", "--temporary", store="pgvector",
                          env=up_process.clean_env(ENCODER="hashing"))
    tree = psutil.Process(up.proc.pid).children(recursive=True)
    try:
        up.proc.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping" in up.output(), 30, "stopping", up.log)
        for _ in range(3):
            up.proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        assert up.proc.wait(120) == 0, up.output()[-3000:]
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert alive == [], (alive, up.output()[-3000:])
    finally:
        up_process.stop(up)
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()
