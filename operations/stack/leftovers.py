"""What a stack left behind on its data folder, and ending it at the next start.

Every child a stack starts is written down in ``<folder>/children.json`` as it starts: its name,
pid, start time (field 22 of ``/proc/<pid>/stat``, in clock ticks since boot) and command line.
Children die with their supervisor (``PR_SET_PDEATHSIG``, :mod:`operations.stack.process`), but
whatever escaped that (a grandchild, a kernel without it) is ended by the next start on the
folder: a recorded child still alive with the same start time and command line, and every
process still in its process group, gets SIGTERM, then SIGKILL after a short grace. A pid whose
start time or command line differs is another process that reused the pid: left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

LEDGER = "children.json"
END_GRACE = 3.0
"""Seconds a leftover gets after SIGTERM before SIGKILL."""
PROC = Path("/proc")


@dataclass(frozen=True)
class Stamp:
    """Who a pid is: together, pid, start time and command line name one process for good."""

    pid: int
    start: int
    cmdline: str


def stamp(pid: int) -> Stamp | None:
    """The running process ``pid`` as it is now; None if there is none (or it is a zombie)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 onwards
    if fields[0] == "Z":
        return None
    return Stamp(pid, int(fields[19]), cmdline.replace(b"\0", b" ").decode(errors="replace").strip())


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (field 5 of their stat)."""
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


class Ledger:
    """``children.json`` of one data folder: name → the stamp of the child started under it."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LEDGER

    def entries(self) -> dict[str, Stamp]:
        try:
            found = json.loads(self.path.read_text())
            return {name: Stamp(**entry) for name, entry in found.items()}
        except (OSError, ValueError, TypeError):
            return {}

    def add(self, name: str, pid: int) -> None:
        found = stamp(pid)
        if found is None:
            return
        entries = {**self.entries(), name: found}
        aside = self.path.with_name(f".{LEDGER}.tmp")
        aside.write_text(json.dumps({n: asdict(s) for n, s in entries.items()}, indent=2))
        aside.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def leftover_groups(entries: dict[str, Stamp]) -> dict[str, int]:
    """name → process group to end: the recorded child is still itself, or it is gone and its
    group lives on (a pid that is some process's group id is never handed out again meanwhile,
    so the members are still ours). A pid now held by another process: left alone."""
    groups = {}
    for name, recorded in entries.items():
        now = stamp(recorded.pid)
        if now == recorded or (now is None and group_members(recorded.pid)):
            groups[name] = recorded.pid
    return groups


def end_leftovers(ledger: Ledger, grace: float = END_GRACE) -> list[str]:
    """End what the last stack on the folder left running; the names of what was ended."""
    groups = leftover_groups(ledger.entries())
    _signal_groups(groups.values(), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(map(group_members, groups.values())):
        time.sleep(0.05)
    _signal_groups(groups.values(), signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(map(group_members, groups.values())):
        time.sleep(0.05)
    ledger.clear()
    return sorted(groups)


def _signal_groups(pgids: Iterable[int], signum: signal.Signals) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)


def remove_stale_lock(lock: Path, owner_mark: str) -> bool:
    """Delete ``lock`` (a file whose first line is its owner's pid, as PostgreSQL writes) when
    that owner is gone: no such process, or one whose command line lacks ``owner_mark``."""
    try:
        pid = int(lock.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    owner = stamp(pid)
    if owner is not None and owner_mark in owner.cmdline:
        return False
    lock.unlink(missing_ok=True)
    return True
