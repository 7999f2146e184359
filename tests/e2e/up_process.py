"""`semsearch up` as a real process on a data folder, for the tests of data that outlives the
stack: start it, stop it, SIGKILL every process of it, run an operator command against it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from operations.stack.datafolder import holder
from operations.stack.process import free_port, log_tail, wait_until

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = ("DATABASE_URL", "READ_DATABASE_URL", "REDIS_URL", "WEAVIATE_URL", "SYNC_STORES",
           "STORE")


@dataclass
class Up:
    proc: subprocess.Popen[str]
    folder: Path | None
    command_url: str
    query_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the session's service URLs: `up` starts its own."""
    return {**{k: v for k, v in os.environ.items() if k not in OUTSIDE}, **extra}


def start(folder: Path | None, logs: Path, *flags: str, store: str = "auto",
          cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 300,
          recorded: bool = True) -> Up:
    """`semsearch up` on ``folder`` (None: no --data-dir), ready to serve; ``recorded``: wait
    for its stack.json too (releases before the data folder wrote none)."""
    command_port, query_port = free_port(), free_port()
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"up-{time.time_ns()}.log"
    argv = [sys.executable, "-m", "semsearch.cli", "up", "--store", store, "--command-port",
            str(command_port), "--query-port", str(query_port), *flags]
    if folder is not None:
        argv += ["--data-dir", str(folder)]
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env or clean_env(), stdout=out,
                                stderr=subprocess.STDOUT, text=True)
    up = Up(proc, folder, f"http://127.0.0.1:{command_port}", f"http://127.0.0.1:{query_port}",
            log)
    try:
        for url in (up.command_url, up.query_url):
            wait_until(lambda u=url: httpx.get(f"{u}/readyz").status_code == 200,  # type: ignore[misc]
                       timeout, "semsearch up", log, alive=lambda: proc.poll() is None)
        if folder is not None and recorded:  # stack.json names the children once `up` has seen them ready
            wait_until(lambda: holder(folder).get("state") == "running", 30, "stack.json", log)
    except BaseException:
        stop(up)
        raise
    return up


def stop(up: Up) -> int | None:
    """SIGTERM (`up` stops what it started), then SIGKILL whatever is left; `up`'s exit code."""
    if up.proc.poll() is not None:
        return up.proc.returncode
    left = psutil.Process(up.proc.pid).children(recursive=True)
    up.proc.send_signal(signal.SIGTERM)
    try:
        up.proc.wait(90)
    except subprocess.TimeoutExpired:
        up.proc.kill()
        up.proc.wait(10)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return up.proc.returncode


def kill_everything(up: Up) -> list[int]:
    """SIGKILL `up` and every process of its stack at once, as a power cut would (on the process
    level): PostgreSQL, Redis, Weaviate, both APIs, relay, worker. Returns the pids killed."""
    assert up.folder is not None
    recorded = json.loads((up.folder / "stack.json").read_text())
    tree = psutil.Process(up.proc.pid).children(recursive=True)
    pids = {p.pid for p in tree}
    named = {*recorded["children"].values(), *recorded["services"].values()}
    assert named <= pids, (named, pids)
    assert {"postgres", "redis", "relay-1", "worker-1", "command-api", "query-api"} <= \
        set(recorded["children"]) | set(recorded["services"])
    up.proc.kill()  # first, so that it does not stop the rest gracefully
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    up.proc.wait(10)
    gone, alive = psutil.wait_procs(tree, timeout=15)
    assert alive == [], alive
    return sorted(pids)


def operator(command: str, *args: str, folder: Path, timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
    """An operator command (status, reconcile, backup, restore, …) as a new process; it finds
    the running stack through the data folder."""
    return subprocess.run(
        [sys.executable, "-m", "semsearch.cli", command, *args, "--data-dir", str(folder)],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def stack_env(folder: Path) -> dict[str, str]:
    env: dict[str, str] = json.loads((folder / "stack.json").read_text())["env"]
    return env


def wait_drained(folder: Path, timeout: float, log: Path | None = None) -> str:
    """Poll `semsearch status` until no change is pending; returns the last output."""
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = operator("status", folder=folder).stdout
        if shown.startswith("outbox: 0 changes pending"):
            return shown
        time.sleep(2)
    raise TimeoutError(f"still pending after {timeout:.0f}s:\n{shown}{log_tail(log)}")
