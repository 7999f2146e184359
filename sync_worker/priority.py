"""The worker's CPU priority (``WORKER_NICE``): embedding is background work.

Used by ``semsearch worker`` and by the relevance benchmark, which runs the raw encoder at the
worker's priority so that on a shared machine both meet the other load alike."""

from __future__ import annotations

import os
from pathlib import Path


def lower_priority(nice: int) -> None:
    """Nice this process to ``nice`` (never back up: an unprivileged process cannot, and whoever
    started it niced it more). Linux keeps a priority per thread and a new thread inherits its
    creator's, so every thread there now is set (numpy's BLAS pool starts at import)."""
    tasks = Path("/proc/self/task")
    for tid in [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass
