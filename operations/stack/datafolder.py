"""The data folder of a local stack: where it lives, who holds it, how to reach what runs on it.

``semsearch up`` keeps PostgreSQL, Redis and Weaviate in ``$XDG_DATA_HOME/semsearch``
(``~/.local/share/semsearch``) unless told otherwise. One stack at a time holds a folder: an
exclusive ``flock`` on ``<folder>/lock`` (released by the kernel when the holder dies, however it
dies), and ``<folder>/stack.json`` says who holds it (pid, ports, the settings its processes
were given), so that a second ``up`` can name the holder, and the operator commands (status,
reconcile, backup, …) can find the running stack without being told its URLs.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

LOCK = "lock"
STACK = "stack.json"


class FolderInUse(RuntimeError):
    """Another stack holds the data folder."""


class NoStack(RuntimeError):
    """No stack runs on the data folder and no database URL is given: an operator command
    refuses rather than reach for a built-in default address."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "semsearch"


def holder(folder: Path) -> dict[str, object]:
    """What the stack holding (or last holding) ``folder`` wrote about itself; {} if nothing."""
    try:
        found = json.loads((folder / STACK).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def lock(folder: Path) -> IO[str]:
    """Hold ``folder`` for this process until the returned file is closed (or the process dies).

    Raises :class:`FolderInUse`, naming the folder and the holder's pid, if another holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK, "a+")  # noqa: SIM115 (held open for the stack's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid = holder(folder).get("pid", "unknown")
        raise FolderInUse(
            f"the data folder {folder} is in use by another semsearch stack (pid {pid}); stop "
            "that one first, or give this one another folder with --data-dir"
        ) from None
    record(folder, {"pid": os.getpid(), "started_at": time.time(), "state": "starting"})
    return handle


def record(folder: Path, info: dict[str, object]) -> None:
    """Write ``stack.json`` (whole, never half: written aside, then renamed)."""
    aside = folder / f".{STACK}.tmp"
    aside.write_text(json.dumps(info, indent=2))
    aside.replace(folder / STACK)


def release(folder: Path, handle: IO[str]) -> None:
    (folder / STACK).unlink(missing_ok=True)
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def in_use(folder: Path) -> bool:
    """Some process holds ``folder`` now."""
    if not (folder / LOCK).exists():
        return False
    with open(folder / LOCK) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def running_env(folder: Path) -> dict[str, str]:
    """The settings of the stack running on ``folder`` (DATABASE_URL, …); {} if none runs."""
    if not in_use(folder):
        return {}
    env = holder(folder).get("env", {})
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


def operator_env(folder: Path, given: Mapping[str, str]) -> dict[str, str]:
    """The settings an operator command (status, reconcile, dlq, audit, index, backup, …) must
    add to its environment ``given``: none but READ_DATABASE_URL (the write database's, as
    ``up`` does) when ``given`` names DATABASE_URL; else those of the stack running on
    ``folder``. Raises :class:`NoStack`, naming the folder, when neither: an operator command
    never falls back on a built-in default URL (another database may listen there)."""
    if given.get("DATABASE_URL"):
        return {} if given.get("READ_DATABASE_URL") else {
            "READ_DATABASE_URL": given["DATABASE_URL"]}
    env = running_env(folder)
    if not env.get("DATABASE_URL"):
        why = "" if folder.is_dir() else " (no such folder)"
        raise NoStack(f"no stack runs on {folder}{why} and DATABASE_URL is not set: start "
                      "one with `semsearch up --data-dir …`, or set DATABASE_URL")
    return env
