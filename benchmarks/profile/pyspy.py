"""``--profile``: the sync worker runs under py-spy (a sampling profiler, launched as the worker's
parent, so no attach rights are needed); its samples, mapped to categories by
:mod:`benchmarks.profile.rules`, become the report's "Worker CPU breakdown", next to the same
breakdown of the raw encoder on the run's ceiling texts (:mod:`benchmarks.profile.encoder`).

py-spy samples every thread that is running (not waiting) ``RATE`` times a second without
pausing the worker (``--nonblocking``); a sample is 1/RATE s of a thread on a core. Padding has no
frame of its own: its share is estimated as the forward pass's share times the padded share of
the token positions the encoder's batches hold (its batch size, longest texts first).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from benchmarks.profile import rules
from operations.stack.process import Managed

PY_SPY = "py-spy==0.4.3"
"""The optional ``profile`` group (pyproject.toml), installed into this environment on first use."""

RATE = 100
"""Samples per second and thread."""

Stack = tuple[rules.Frame, ...]


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found:
        return found
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit(f"--profile needs py-spy: pip install '{PY_SPY}'")
    print(f"bench: installing {PY_SPY} into {sys.prefix} (once)…", flush=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", sys.executable, PY_SPY], check=True)
    return str(Path(sys.executable).parent / "py-spy")


def launcher(output: Path) -> list[str]:
    """The command a profiled process runs under: its samples go to ``output`` when it ends."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return [py_spy(), "record", "--rate", str(RATE), "--nonblocking", "--format", "raw",
            "--output", str(output), "--"]


def profiled(launched: int) -> int | None:
    """The process py-spy runs (its one child), or None once it is gone."""
    try:
        children = psutil.Process(launched).children()
    except psutil.Error:
        return None
    return children[0].pid if children else None


def finish(managed: Managed, output: Path, timeout: float = 120.0) -> None:
    """Stop the profiled process (SIGTERM: the worker finishes its job), then wait until py-spy,
    seeing it gone, has written ``output``."""
    if (child := profiled(managed.pid)) is not None:
        os.kill(child, signal.SIGTERM)
    if managed.proc is not None:
        managed.proc.wait(timeout)
    if not output.exists():
        raise RuntimeError(f"py-spy wrote no profile to {output}")


def read_stacks(output: Path) -> Counter[Stack]:
    """py-spy's raw format: ``outer;…;inner count`` per line (folded stacks)."""
    stacks: Counter[Stack] = Counter()
    for line in output.read_text().splitlines():
        text, _, count = line.rpartition(" ")
        if count.isdigit():  # (a thread with no Python frame has an empty stack)
            stacks[tuple(rules.frame(f) for f in text.split(";") if f)] += int(count)
    return stacks


def breakdown(stacks: Counter[Stack], documents: int, padding: float = 0.0,
              left_out: Callable[[Stack], bool] = rules.left_out,
              cpu_ms_per_document: float | None = None) -> dict[str, Any]:
    """Share of the samples per category (those ``left_out`` aside), the forward pass split into
    real tokens and ``padding`` (the padded share of its token positions); milliseconds per
    document are the shares of ``cpu_ms_per_document`` (the process's measured CPU time), or
    without it of the sampled time. py-spy counts a thread that waits for a core as running, so
    on a busy machine sampled time exceeds CPU time: the shares are the figures to read."""
    by_category: Counter[str] = Counter()
    skipped = 0
    for stack, count in stacks.items():
        if left_out(stack):
            skipped += count
        else:
            by_category[rules.category(stack)] += count
    kept = sum(by_category.values())
    if padding and by_category[rules.FORWARD]:
        padded = round(by_category[rules.FORWARD] * padding)
        by_category[rules.FORWARD] -= padded
        by_category[rules.PADDING] = padded
    sampled = kept * 1000 / RATE / documents if documents else None
    total = cpu_ms_per_document or sampled
    return {"samples": kept, "samples_left_out": skipped, "rate_per_s": RATE,
            "documents": documents, "padding_fraction": round(padding, 4),
            "sampled_ms_per_document": round(sampled, 2) if sampled else None,
            "cpu_ms_per_document": round(total, 2) if total else None,
            "cpu_measured": cpu_ms_per_document is not None,
            "categories": {name: {"share": round(count / kept, 4) if kept else 0.0,
                                  "ms_per_document": round(count / kept * total, 2) if total else None}
                           for name, count in by_category.most_common()}}


def padding_fraction(texts: list[str], batch_size: int) -> float:
    """Padded share of the token positions when ``texts`` go ``batch_size`` at a time, longest
    first, each batch padded to its longest text (as both encoders batch)."""
    from tokenizers import Tokenizer

    from embeddings.onnx import MAX_SEQ_LENGTH
    from embeddings.packaged import packaged_model_path

    tokenizer = Tokenizer.from_file(f"{packaged_model_path()}/tokenizer.json")
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tokenizer.no_padding()
    lengths = sorted((len(e.ids) for e in tokenizer.encode_batch(texts)), reverse=True)
    batches = [lengths[i:i + batch_size] for i in range(0, len(lengths), max(1, batch_size))]
    positions = sum(b[0] * len(b) for b in batches)
    return (positions - sum(lengths)) / positions if positions else 0.0
