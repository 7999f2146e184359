"""The sync path as real processes, with faults on demand: used by the fault tests and `soak`.

A ``Cluster`` runs the command API, relays and workers as child processes over given
PostgreSQL, Redis and Weaviate servers, can SIGKILL or restart any of them, and can tell when
every store has converged on PostgreSQL (same ids, same versions, same content hashes), and
every Weaviate node on its own replica too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from operations.stack.process import Managed, free_port, wait_until
from sync_worker import runtime
from sync_worker.maintenance import differences
from sync_worker.reconcile import Differences
from sync_worker.reconcile_nodes import compare_nodes
from sync_worker.settings import WorkerSettings


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    procs: dict[str, Managed] = field(default_factory=dict)
    command_port: int = field(default_factory=free_port)
    _rt: runtime.Runtime | None = None

    @property
    def command_url(self) -> str:
        return f"http://127.0.0.1:{self.command_port}"

    def start(self, name: str, *args: str, failpoints: tuple[str, ...] = (),
              wait: bool = True) -> Managed:
        env = {**os.environ, "AUTH": "off", **self.env, "FAILPOINTS": ",".join(failpoints),
               "PYTHONUNBUFFERED": "1"}
        log = self.home / f"{name}.log"
        proc = Managed(name, [sys.executable, "-m", "semsearch.cli", *args], log, env=env).start()
        self.procs[name] = proc
        if wait and args[0] == "worker":
            wait_until(lambda: "ready on" in log.read_text(errors="replace"), 120,
                       name, log, proc.alive)
        if wait and args[0] == "command-api":
            wait_until(lambda: httpx.get(f"{self.command_url}/readyz").status_code == 200, 60,
                       name, log, proc.alive)
        return proc

    def start_command_api(self, failpoints: tuple[str, ...] = ()) -> Managed:
        return self.start("command-api", "command-api", "--port", str(self.command_port),
                          failpoints=failpoints)

    def start_worker(self, name: str = "worker", failpoints: tuple[str, ...] = (),
                     wait: bool = True) -> Managed:
        return self.start(name, "worker", "--name", f"{name}-{os.getpid()}-{time.time_ns()}",
                          failpoints=failpoints, wait=wait)

    def kill(self, name: str) -> None:
        self.procs[name].kill()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        if self._rt is not None:
            self._rt.close()

    def log_messages(self, prefix: str, mark: str) -> list[str]:
        """The messages holding ``mark`` in the logs of the processes named ``prefix``…, which
        accumulate across restarts (each line a JSON record, common/logs.py)."""
        found = []
        for path in sorted(self.home.glob(f"{prefix}*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if mark in line:
                    try:
                        found.append(str(json.loads(line)["msg"]))
                    except (ValueError, KeyError):
                        found.append(line.strip())
        return found

    def runtime(self) -> runtime.Runtime:
        if self._rt is None:
            settings = WorkerSettings.model_validate(
                {k.lower(): v for k, v in self.env.items() if k.lower() in WorkerSettings.model_fields})
            self._rt = runtime.build(settings)
        return self._rt

    def differences(self) -> dict[str, Differences]:
        rt = self.runtime()
        return {name: differences(rt, name) for name in rt.settings.sync_stores}

    def wait_converged(self, timeout: float) -> dict[str, Differences]:
        """Poll until every store equals PostgreSQL or ``timeout`` passes; the last comparison."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                found = self.differences()
                if all(d.total == 0 for d in found.values()) or time.monotonic() > deadline:
                    return found
            except Exception:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def node_differences(self) -> dict[str, Differences]:
        """Weaviate node URL → its own replica's differences from PostgreSQL, now (empty when
        Weaviate is not a store; raises StoreUnavailable while a node does not answer)."""
        rt = self.runtime()
        if "weaviate" not in rt.settings.sync_stores:
            return {}
        encoder, passages = rt.built_with()
        return compare_nodes(rt.write_engine, rt.settings, encoder.model_id, passages)

    def wait_nodes_converged(self, timeout: float, settle: float = 3.0) -> dict[str, Differences]:
        """Poll until every Weaviate node's own replica equals PostgreSQL (async replication
        catches up a node that was down) in two comparisons ``settle`` seconds apart, or
        ``timeout`` passes; the last comparison. Twice, because a node that has just come back
        may answer from another replica until its own is loaded."""
        deadline = time.monotonic() + timeout
        clean = 0
        while True:
            try:
                found = self.node_differences()
                clean = clean + 1 if all(d.total == 0 for d in found.values()) else 0
                if clean >= 2 or time.monotonic() > deadline:
                    return found
            except Exception:
                clean = 0
                if time.monotonic() > deadline:
                    raise
            time.sleep(settle if clean else 1.0)
