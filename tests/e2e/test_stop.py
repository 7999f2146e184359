"""A stop is bounded and leaves nothing behind (ARCHITECTURE invariant 11): a SIGKILLed `up`
takes every process of its stack with it, the next `up` on its folder starts and holds the data
written before, and SIGTERM stops a three-node stack within 10 s (Docker's default grace), even
when every Weaviate node hangs."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import httpx
import psutil

from operations.stack.datafolder import holder
from operations.stack.leftovers import Ledger
from tests.e2e import up_process
from tests.e2e.up_process import Up, clean_env

STOP_BOUND = 10.0
ENV = {"ENCODER": "hashing", "QUERY_API_WORKERS": "2"}  # two workers: grandchildren of `up`


def on_folder(folder: Path) -> list[psutil.Process]:
    """Processes whose working directory or arguments name ``folder``."""
    found = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            where = f"{process.info['cwd'] or ''} {' '.join(process.info['cmdline'] or [])}"
            if str(folder) in where and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def running(processes: list[psutil.Process], within: float) -> list[psutil.Process]:
    """Those still running after ``within`` seconds (a zombie has ended: only its parent, or
    init once it is orphaned, has yet to collect its exit status)."""
    deadline = time.monotonic() + within
    while True:
        left = []
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    left.append(process)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def hang_weaviate(folder: Path) -> None:
    """SIGSTOP every Weaviate node: each ignores SIGTERM from now on, as a hung server does."""
    nodes = holder(folder)["weaviate_nodes"]
    assert isinstance(nodes, list) and len(nodes) == 3, nodes
    for node in nodes:
        psutil.Process(node["pid"]).suspend()


def start(folder: Path, logs: Path) -> tuple[Up, list[psutil.Process]]:
    up = up_process.start(folder, logs, "--weaviate-nodes", "3", store="weaviate",
                          env=clean_env(**ENV))
    tree = psutil.Process(up.proc.pid).children(recursive=True)
    assert len(tree) >= 10, tree  # postgres, redis, 3 nodes, relay, worker, 2 APIs, 2 workers
    return up, tree


def test_a_killed_up_leaves_nothing_and_the_next_one_serves_its_data_and_stops_in_time(
        tmp_path: Path) -> None:
    folder = tmp_path / "data"
    up, tree = start(folder, tmp_path / "logs")
    try:
        written = httpx.post(f"{up.command_url}/v1/documents", timeout=30, json={
            "title": "Moraine", "body": "Rocks a glacier left behind."}).json()
        children, services = holder(folder)["children"], holder(folder)["services"]
        assert isinstance(children, dict) and isinstance(services, dict)
        pids = {**children, **services}
        ledger = {name: entry.pid for name, entry in Ledger(folder).entries().items()}
        assert {name: ledger.get(name) for name in pids} == pids, ledger  # the next start's list
        up.proc.kill()  # as `docker stop` or systemd do after their grace
        up.proc.wait(10)
        assert running(tree, within=5) == []
        assert on_folder(folder) == []
    finally:
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()

    again, tree = start(folder, tmp_path / "logs")
    try:
        found = httpx.post(f"{again.query_url}/v1/search", timeout=90, json={
            "query": "glacier rocks", "token": written["token"], "wait_ms": 60_000}).json()
        assert [hit["id"] for hit in found["hits"]][:1] == [written["id"]], found
        hang_weaviate(folder)
        began = time.monotonic()
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(30) == 0
        took = time.monotonic() - began
        assert took < STOP_BOUND, f"stopped in {took:.1f}s"
        assert running(tree, within=1) == [] and on_folder(folder) == []
    finally:
        up_process.stop(again)
