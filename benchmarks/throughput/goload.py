"""The Go build of the load generator (``benchmarks/throughput/goload/``): built with the machine's Go the
first time it is needed, into ``${XDG_CACHE_HOME:-~/.cache}/semsearch/goload-<digest>/`` (the
digest of its source, so an edit builds anew), the same way the Weaviate binary is cached.

It reads the spec and writes the output of :mod:`benchmarks.throughput.loadgen` (same modes, statuses and
fields) for less CPU per request: the load generator shares the cores with the system it
measures here, and what it spends is taken from the server. How much less depends on how many
requests are ready at once: 0.24 against 0.32 cores at ~2,300 open-loop requests/s, 13 µs per
request with 64 connections back to back (docs/benchmarks/README.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).parent / "goload"


def digest() -> str:
    h = hashlib.sha256()
    for name in ("go.mod", "main.go"):
        h.update(name.encode() + b"\0" + (SOURCE / name).read_bytes())
    return h.hexdigest()[:16]


def cached_binary() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semsearch"
    return cache / f"goload-{digest()}" / "goload"


def ensure_binary() -> Path | None:
    """The built load generator, built now if missing; None if Go is not installed. A build
    that fails raises (with Go's output): a broken source must not pass for a missing Go."""
    target = cached_binary()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        print("building the Go load generator (first time only)...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as tmp:
            env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
            built = subprocess.run([go, "build", "-o", str(Path(tmp) / "goload"), "."], cwd=SOURCE,
                                   env=env, capture_output=True, text=True)
            if built.returncode != 0:
                raise RuntimeError(f"building {SOURCE} failed:\n{built.stdout}{built.stderr}")
            os.replace(Path(tmp) / "goload", target)  # never a half-written binary
    return target
