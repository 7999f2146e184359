"""The raw encoder's CPU breakdown: ``python -m benchmarks.profile.encoder BACKEND TEXTS.json``
encodes the texts (a JSON list) in one call after a warm-up, as the ceiling does, prints the CPU
seconds that took (every thread), and is run under
py-spy by :func:`run`; only the samples of the measured call count (:func:`outside`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.profile import pyspy, rules
from embeddings import Encoder


def measured(encoder: Encoder, texts: list[str]) -> None:
    encoder.encode(texts)


def run(backend: str, texts: list[str], documents: int, out: Path, padding: float) -> dict[str, Any]:
    """Profile the raw ``backend`` on ``texts`` (the passages of ``documents`` documents)."""
    source, output = out / "profile-encoder-texts.json", out / f"profile-encoder-{backend}.txt"
    source.write_text(json.dumps(texts))
    done = subprocess.run([*pyspy.launcher(output), sys.executable, "-m", "benchmarks.profile.encoder",
                           backend, str(source)], check=True, capture_output=True, text=True)
    source.unlink()
    cpu_s = next(float(line.split("=")[1]) for line in done.stdout.splitlines()
                 if line.startswith("cpu_s="))
    return pyspy.breakdown(pyspy.read_stacks(output), documents, padding, left_out=outside,
                           cpu_ms_per_document=cpu_s * 1e3 / documents)


def outside(stack: pyspy.Stack) -> bool:
    """Not the measured call: neither under :func:`measured` nor in the encoder's thread pool
    (where ONNX runs its parallel batches; the 8-text warm-up runs there too, a small part), or
    a thread woken from a wait (:func:`benchmarks.profile.rules.waiting`)."""
    return rules.waiting(stack) or not any(
        f.function == "measured" or f.file.endswith("concurrent/futures/thread.py") for f in stack)


def main(argv: list[str]) -> None:
    from benchmarks.harness.ceilings import load_backend

    backend, source = argv
    texts = json.loads(Path(source).read_text())
    encoder = load_backend(backend)
    encoder.encode(texts[:8])
    started = time.process_time()
    measured(encoder, texts)
    print(f"cpu_s={time.process_time() - started}", flush=True)  # every thread's; run() reads it


if __name__ == "__main__":
    main(sys.argv[1:])
