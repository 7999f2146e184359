"""The system under test: a fresh local stack for one store, or one already running elsewhere.

A local stack is :class:`~operations.stack.local.LocalStack`'s services (PostgreSQL, Redis and,
for Weaviate, a weaviate-server) with the four processes spawned here, so that each gets its
own settings: every change goes to exactly the store being measured (``SYNC_STORES``), the query
API serves from it (``STORE``), and the relay and worker expose Prometheus metrics on their own
ports. The worker can be paused (SIGSTOP) to measure the command side alone; more workers can
join it (``worker/2``, ``worker/3``, …) to measure ingest by worker count. With
``weaviate_nodes`` above 1, Weaviate is a replicated cluster of that many nodes (replication
factor N), each node sampled on its own as ``weaviate/<i>`` (node ``semsearch-node<i>``).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil

from benchmarks.profile import pyspy
from embeddings.encoder import DEFAULT_ENCODER
from operations.stack.local import LocalStack, StackConfig, answers, pick_ports
from operations.stack.process import free_port, wait_until

ENCODER_SETTING = {"torch": "sentence-transformers", "onnx": "onnx", "onnx-fp32": "onnx-fp32",
                   "hashing": "hashing"}
"""Benchmark backend name → the ``ENCODER`` setting of the worker and query API."""
DEFAULT_BACKEND = next(name for name, setting in ENCODER_SETTING.items()
                       if setting == DEFAULT_ENCODER)
"""The backend of the stack's default encoder: what a user who sets nothing gets."""


@dataclass
class Target:
    store: str
    command_url: str
    query_url: str
    read_database_url: str | None = None
    weaviate_url: str | None = None
    """Every node's URL, comma-separated (``WEAVIATE_URL``)."""
    weaviate_grpc_ports: list[int] = field(default_factory=list)
    """Each node's gRPC port, in the order of ``weaviate_url``."""
    weaviate_replication_factor: int = 1
    worker_metrics_url: str | None = None
    notes: list[str] = field(default_factory=list)


BENCH_LIMITS = {"RATE_LIMIT_ADMIN": "1000000000", "RATE_LIMIT_READ": "1000000000"}
"""Rate limits stay on (each request pays for its check, as in production) but are never hit:
the load generator is one client."""


class BenchStack:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, store: str, encoder: str = "torch", extra_env: dict[str, str] | None = None,
                 home: Path | None = None, weaviate_nodes: int = 1, profile: Path | None = None) -> None:
        self.store = store
        self.profile = profile
        """Where the worker's py-spy samples go (``--profile``): it runs under py-spy then."""
        self.encoder = encoder
        config = StackConfig(store="pgvector" if store == "pgvector" else "weaviate",
                             encoder=ENCODER_SETTING[encoder], require_weaviate=store == "weaviate",
                             data_dir=home, extra_env={**BENCH_LIMITS, **(extra_env or {})},
                             weaviate_nodes=weaviate_nodes)
        self.local = LocalStack(pick_ports(config))
        self.ports = {"relay": free_port(), "worker": free_port()}
        self.paused = False
        self._query_workers: tuple[int, list[int]] = (0, [])
        """(query API pid, its worker pids), looked up again only when one is gone"""

    def start(self) -> Target:
        try:
            env = self.local.start_services()
            port = str(self.local.config.command_port)
            for name, args in (("relay", ["relay"]), ("worker", ["worker"]),
                               ("command-api", ["command-api", "--port", port])):
                metrics = {"METRICS_PORT": str(self.ports[name])} if name in self.ports else {}
                wrap = pyspy.launcher(self.profile) if self.profile and name == "worker" else None
                self.local.spawn(name, *args, env={"SYNC_STORES": self.store, **metrics},
                                 launcher=wrap)
            self.start_query_api()
            wait_until(partial(answers, self.worker_metrics_url), 300, "worker (model loaded)",
                       self.log("worker"), self.local.children["worker"].alive)
        except BaseException:
            self.local.stop()
            raise
        grpc = [int(p) for p in env.get("WEAVIATE_GRPC_PORT", "").split(",") if p.strip()]
        return Target(self.store, self.local.command_url, self.local.query_url,
                      env["READ_DATABASE_URL"], env.get("WEAVIATE_URL"), grpc,
                      int(env.get("WEAVIATE_REPLICATION_FACTOR", "1")),
                      self.worker_metrics_url, list(self.local.notes))

    def workers(self) -> list[str]:
        """The sync workers' names: ``worker``, then ``worker/2``, ``worker/3``, …"""
        return [name for name in self.local.children if name.split("/")[0] == "worker"]

    def scale_workers(self, total: int) -> None:
        """Run ``total`` sync workers side by side (never fewer than now): start the missing
        ones, each with its own metrics port, and wait until each has loaded its model."""
        for number in range(len(self.workers()) + 1, total + 1):
            name = f"worker/{number}"
            self.ports[name] = free_port()
            self.local.spawn(name, "worker", env={"SYNC_STORES": self.store,
                                                  "METRICS_PORT": str(self.ports[name])})
        for name in self.workers():
            wait_until(partial(answers, f"http://127.0.0.1:{self.ports[name]}/metrics"), 300,
                       f"{name} (model loaded)", self.log(name), self.local.children[name].alive)

    @property
    def worker_metrics_url(self) -> str:
        """Served once the worker has loaded its model and is about to take jobs."""
        return f"http://127.0.0.1:{self.ports['worker']}/metrics"

    def start_query_api(self) -> None:
        self.local.spawn("query-api", "query-api", "--port", str(self.local.config.query_port),
                         env={"STORE": self.store})
        for name, url in (("command-api", self.local.command_url), ("query-api", self.local.query_url)):
            wait_until(partial(answers, f"{url}/readyz"), 300, name,
                       self.local.home / "logs" / f"{name}.log", self.local.children[name].alive)

    def restart_query_api(self) -> None:
        """A fresh query API process (an empty query cache, a fresh memory baseline)."""
        self.local.children["query-api"].stop()
        self.start_query_api()

    def processes(self) -> dict[str, int]:
        """Process ids to sample for memory: the four processes and each service's main process
        (a Weaviate cluster's nodes each as ``weaviate/<i>``)."""
        pids = {name: child.pid for name, child in self.local.children.items() if child.alive()}
        if self.profile and "worker" in pids:  # the worker itself; py-spy above it on its own
            pids["py-spy"] = pids.pop("worker")
            if (worker := pyspy.profiled(self.local.children["worker"].pid)) is not None:
                pids["worker"] = worker
        if "query-api" in pids:  # its worker processes, when it runs several
            api = pids["query-api"]
            known, workers = self._query_workers
            if known != api or not workers or not all(map(psutil.pid_exists, workers)):
                workers = worker_processes(api)
                self._query_workers = (api, workers)
            for number, pid in enumerate(workers, 1):
                pids[f"query-api/{number}"] = pid
        for name in ("postgres", "redis", "weaviate"):
            service = getattr(self.local, name, None)
            process = getattr(service, "process", None)
            if process is not None and process.alive():
                pids[name] = process.pid
        for number, node in enumerate(getattr(self.local.weaviate, "nodes", [])):
            if node.process is not None and node.process.alive():
                pids[f"weaviate/{number}"] = node.process.pid
        return pids

    def query_api_processes(self) -> int:
        """Processes serving queries: the query API's workers, or its one process."""
        names = self.processes()
        return sum(name.startswith("query-api/") for name in names) or int("query-api" in names)

    def _signal_worker(self, sig: signal.Signals) -> None:
        for name in self.workers():
            if (worker := self.local.children[name]).alive():
                os.killpg(worker.pid, sig)

    def pause_worker(self) -> None:
        self._signal_worker(signal.SIGSTOP)
        self.paused = True

    def resume_worker(self) -> None:
        self._signal_worker(signal.SIGCONT)
        self.paused = False

    def log(self, name: str) -> Path:
        return self.local.home / "logs" / f"{name}.log"

    def stop(self) -> None:
        if self.paused:
            self.resume_worker()
        try:
            if self.profile and (worker := self.local.children.get("worker")) and worker.alive():
                pyspy.finish(worker, self.profile)
        finally:
            self.local.stop()

    def __enter__(self) -> Target:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker_processes(pid: int) -> list[int]:
    """The worker processes a uvicorn supervisor spawned (not multiprocessing's resource tracker)."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return []
    out = []
    for child in children:
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                out.append(child.pid)
        except psutil.Error:
            pass
    return sorted(out)


def external(store: str, command_url: str, query_url: str) -> Target:
    """A stack started elsewhere: measured through its HTTP APIs only."""
    return Target(store, command_url.rstrip("/"), query_url.rstrip("/"),
                  notes=["external stack: no memory sampling, no worker pause, no bulk loading"])
