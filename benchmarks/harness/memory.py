"""Resident memory of every process of the stack, sampled in a thread while a benchmark runs,
and the CPU each took in each phase.

The four semsearch processes are sampled alone (their RSS is what the budgets mean); a service
(PostgreSQL, Redis, Weaviate) is its main process plus its children, summed, which counts pages
they share once per process: an upper bound.

CPU is read at each phase mark: per process (cores used over the phase), the whole machine's
busy cores, what was busy outside the stack (the bench process, its load generators and
anything else on the machine), and the time the host ran someone else while this machine's
CPUs had work (steal): on a shared 2-core machine that tells a slow phase from a phase that
was not given the cores.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

import psutil

WEAVIATE_NODE_MB = 2048
"""A Weaviate node's peak holding the largest benchmark set: the query benchmark's 100,000
bulk-loaded documents (one passage each) plus the 10,000 ingested (~1.5 passages each), about
115,000 vectors of 384 dimensions and 110,000 document objects, every node a full replica.
Basis: ``bench sizing`` (docs/benchmarks/2026-12-06-sizing) measured ~110 MB for an empty
node and 6.7-7.3 KB per passage at rest (two runs; HNSW graph and vectors), so ~0.9 GB at
rest, as the 10k+100k runs ended (0.7-1.0 GB); while writing, unflushed memtables and Go's heap
headroom add ~25-27 KB per passage just written, and those runs peaked at 1,307-1,830 MB.
2,048 MB is that peak with about 10% to spare; a larger corpus needs a larger budget
(docs/scaling.md)."""
BUDGETS_MB = {"command-api": 150, "relay": 150, "worker": 1024, "query-api": 1024,
              "weaviate": WEAVIATE_NODE_MB}
"""What each process may hold at its peak, with the model loaded where it has one; for a
Weaviate node, with everything a benchmark set puts into it (``WEAVIATE_NODE_MB``)."""


def budget_mb(name: str) -> int | None:
    """The budget of a process: ``query-api/2`` (a worker process of the query API) has the
    query API's; every node of a Weaviate cluster (``weaviate``, ``weaviate/2``,
    ``weaviate-2``) has a node's."""
    base = name.split("/")[0]
    return BUDGETS_MB.get("weaviate" if base.startswith("weaviate") else base)


SERVICES = ("postgres", "redis", "weaviate")
MB = 1024 * 1024


def is_service(name: str) -> bool:
    """PostgreSQL, Redis or a Weaviate node: sampled with its children, and growing with the
    data written into it (so never held to a flat line)."""
    return name.split("/")[0] in SERVICES or name.startswith("weaviate")


def children_map() -> dict[int, list[int]]:
    """Each process's direct children, from one scan of the process table (psutil's
    ``children()`` scans it again for every call: four times per sample, a few % of a core)."""
    out: dict[int, list[int]] = defaultdict(list)
    for process in psutil.process_iter(["ppid"]):
        out[process.info["ppid"]].append(process.pid)
    return out


def _summed(pid: int, children: dict[int, list[int]] | None,
            read: Callable[[psutil.Process], float]) -> float:
    """``read`` of ``pid`` plus (given ``children``) its descendants; NaN if ``pid`` is gone."""
    try:
        total = read(psutil.Process(pid))
    except psutil.Error:
        return float("nan")
    family = children or {}
    below = list(family.get(pid, []))
    while below:
        child = below.pop()
        below.extend(family.get(child, []))
        try:
            total += read(psutil.Process(child))
        except psutil.Error:  # a child that ended meanwhile
            pass
    return total


def cpu_s(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """User + system CPU seconds of ``pid`` (and, given ``children``, its descendants) so far,
    with those of the children it has reaped: a PostgreSQL backend that ends between two
    readings would otherwise take its seconds with it (a phase read negative that way)."""
    return _summed(pid, children, _own_and_reaped_s)


def _own_and_reaped_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class MachineTimes(NamedTuple):
    busy: float
    """CPU seconds this machine's cores ran its own work (all cores), so far"""
    stolen: float
    """CPU seconds its cores wanted to run but the host gave to another guest, so far"""


def machine_s() -> MachineTimes:
    times = psutil.cpu_times()
    stolen = getattr(times, "steal", 0.0)
    # Linux counts guest time inside user and nice already; steal is not this machine's work
    not_own = (times.idle + getattr(times, "iowait", 0.0) + stolen + getattr(times, "guest", 0.0)
               + getattr(times, "guest_nice", 0.0))
    return MachineTimes(sum(times) - not_own, stolen)


def rss_mb(pid: int, children: dict[int, list[int]] | None = None) -> float:
    return _summed(pid, children, lambda p: p.memory_info().rss / MB)


class MemorySampler:
    """``with MemorySampler(stack.processes): ...``; the pids are re-read as processes restart."""

    def __init__(self, processes: Callable[[], dict[str, int]], interval: float = 0.5) -> None:
        self.processes = processes
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.t0 = time.monotonic()
        self._cpu_marks: list[tuple[float, str, dict[str, tuple[int, float]], MachineTimes]] = []

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic() - self.t0
            processes, children = self.processes(), children_map()
            for name, pid in processes.items():
                value = rss_mb(pid, children if is_service(name) else None)
                if value == value:  # not NaN: the process was there
                    self.samples.setdefault(name, []).append((round(now, 2), round(value, 1)))
            self._stop.wait(self.interval)

    def snapshot(self) -> CpuSnapshot:
        """Now, CPU seconds so far of each process (pid, seconds), and the machine's."""
        processes, children = self.processes(), children_map()
        per_process = {name: (pid, cpu_s(pid, children if is_service(name) else None))
                       for name, pid in processes.items()}
        return time.monotonic(), per_process, machine_s()

    def mark(self, label: str = "") -> float:
        """Seconds since sampling began (to tell phases apart on the RSS plot); a new CPU phase."""
        now, per_process, busy = self.snapshot()
        self._cpu_marks.append((now, label, per_process, busy))
        return round(now - self.t0, 2)

    def cpu_by_phase(self) -> list[dict[str, Any]]:
        """Cores each process used in each phase (between marks), the machine's busy cores, and
        the busy cores outside the stack. A process restarted within a phase is left out."""
        out = []
        for (t0, label, before, busy0), (t1, _, after, busy1) in zip(
                self._cpu_marks, self._cpu_marks[1:], strict=False):
            if (used := cores_between((t0, before, busy0), (t1, after, busy1))) is not None:
                out.append({"phase": label, **used})
        return out

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        self.mark("start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.mark("end")
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> dict[str, Any]:
        """Per process: peak, first and last RSS, the budget, and the growth over the run's
        second half (MB per minute, from a least-squares line: flat is ~0)."""
        out: dict[str, Any] = {}
        for name, series in self.samples.items():
            values = [v for _, v in series]
            half = series[len(series) // 2:]
            out[name] = {"peak_mb": max(values), "first_mb": values[0], "last_mb": values[-1],
                         "budget_mb": (budget := budget_mb(name)),
                         "within_budget": None if budget is None else max(values) <= budget,
                         "growth_mb_per_min_2nd_half": round(_slope(half) * 60, 1)}
        return out


CpuSnapshot = tuple[float, dict[str, tuple[int, float]], MachineTimes]
"""(monotonic time, {process: (pid, CPU seconds)}, the machine's busy and stolen seconds)"""


def cores_between(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, Any] | None:
    """Cores each process used between two snapshots (a process restarted meanwhile is left
    out), the machine's busy cores, the busy cores outside the stack and the cores the host
    stole; None for no time."""
    (t0, first, machine0), (t1, last, machine1) = before, after
    wall = t1 - t0
    if wall <= 0:
        return None
    cores = {name: round((last[name][1] - cpu0) / wall, 3) for name, (pid, cpu0) in first.items()
             if name in last and last[name][0] == pid and cpu0 == cpu0}
    busy = (machine1.busy - machine0.busy) / wall
    return {"seconds": round(wall, 1), "cores": cores, "machine_busy": round(busy, 3),
            "outside_stack": round(max(0.0, busy - sum(cores.values())), 3),
            "stolen": round((machine1.stolen - machine0.stolen) / wall, 3)}


def _slope(series: list[tuple[float, float]]) -> float:
    if len(series) < 3:
        return 0.0
    ts = [t for t, _ in series]
    vs = [v for _, v in series]
    mt, mv = sum(ts) / len(ts), sum(vs) / len(vs)
    var = sum((t - mt) ** 2 for t in ts)
    return round(sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / var, 3) if var else 0.0
