"""The bench's optional dependencies, installed from their lock on first use.

The services run on ``requirements.lock`` alone; what only a benchmark needs is an extra with a
lock of its own beside it (``requirements-bench.lock``: the plots; ``requirements-peer.lock``:
the LangChain peer), installed into this environment with ``uv`` the first time a bench asks for
it, or named with the command to run where it cannot be. Imports nothing heavy, so the CLI can
call it before it imports a bench module.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ("bench", ROOT / "requirements-bench.lock", ("matplotlib",))
"""Every ``semsearch bench`` report's plots."""
PEER = ("peer", ROOT / "requirements-peer.lock", ("langchain_core.indexing",
                                                 "langchain_classic.indexes", "langchain_postgres"))
"""``semsearch bench peer``: LangChain's indexing API on langchain-postgres."""


def missing(modules: Sequence[str]) -> list[str]:
    found = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            found.append(name)
    return found


def ensure(group: tuple[str, Path, Sequence[str]]) -> None:
    """Install ``group`` (name, lock, modules it provides) unless its modules import already."""
    name, lock, modules = group
    if not missing(modules):
        return
    uv = shutil.which("uv")
    how = f"uv pip install --no-deps --python {sys.executable} -r {lock.name}"
    if uv is None or not lock.exists():
        raise SystemExit(f"this bench needs the optional `{name}` dependencies: in a checkout, run {how}")
    print(f"bench: installing the optional `{name}` dependencies from {lock.name} into "
          f"{sys.prefix} (once)…", flush=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--no-deps", "--python", sys.executable,
                    "-r", str(lock)], check=True)
    importlib.invalidate_caches()
