"""What the hardware can do at best: the raw encoder on the same texts and queries.

Measured in the benchmark's own process while the stack idles, right before the figures they
bound. Documents are encoded in one call (sorted by length, batches of 32: the least padding the
encoder can get); queries in batches of 64 (the query API's largest micro-batch) and one at a time.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.harness import sts
from embeddings import Encoder, SentenceTransformerEncoder
from embeddings.encoder import resolve_device

BACKENDS = ("torch", "onnx")
TRUE = ("1", "true", "True", "yes", "on")
QUERY_BATCH = 64


def load_backend(name: str) -> Encoder:
    match name:
        case "torch":  # on the device the worker would take (DEVICE, as for the stack)
            device = resolve_device(os.environ.get("DEVICE", "auto"))
            return SentenceTransformerEncoder(device=device,
                                              half=os.environ.get("ENCODER_FP16", "") in TRUE)
        case "onnx":
            from embeddings.onnx import OnnxEncoder

            return OnnxEncoder()
        case "onnx-fp32":
            from embeddings.onnx import ONNX_FP32_MODEL, OnnxEncoder

            return OnnxEncoder(ONNX_FP32_MODEL)
        case "hashing":
            from embeddings import HashingEncoder

            return HashingEncoder()
        case _:
            raise ValueError(f"unknown encoder backend {name!r}: use torch, onnx or onnx-fp32")


@dataclass(frozen=True)
class Sample:
    """Passage texts of ``documents`` documents: what the worker embeds for them."""

    texts: list[str]
    documents: int


def encode_cost(encoder: Encoder, texts: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, every thread) to encode ``texts`` in one call,
    after a warm-up."""
    encoder.encode(texts[:8])
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts)
    return time.perf_counter() - wall, time.process_time() - cpu


def document_rate(encoder: Encoder, texts: list[str], documents: int | None = None) -> float:
    """``texts`` (or ``documents``, when the texts are their passages) per second."""
    wall, _ = encode_cost(encoder, texts)
    return (documents or len(texts)) / wall


def query_rates(encoder: Encoder, queries: list[str], singles: int) -> dict[str, float]:
    encoder.encode(queries[:QUERY_BATCH])
    started = time.perf_counter()
    for i in range(0, len(queries), QUERY_BATCH):
        encoder.encode(queries[i:i + QUERY_BATCH])
    batched = len(queries) / (time.perf_counter() - started)
    if not singles:
        return {"queries_per_s_batched": round(batched, 1)}
    latencies = []
    for query in queries[:singles]:
        t = time.perf_counter()
        encoder.encode([query])
        latencies.append(time.perf_counter() - t)
    return {"queries_per_s_batched": round(batched, 1),
            "queries_per_s_single": round(len(latencies) / sum(latencies), 1),
            "query_single_p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 2)}


def measure(backend: str, sample: Sample, queries: list[str], singles: int = 200,
            with_sts: bool = True) -> dict[str, Any]:
    """The ceilings of one encoder backend, plus its STS Benchmark score. Documents: the passage
    texts of ``sample``'s documents in one call; the CPU is this process's, every thread."""
    encoder = load_backend(backend)
    wall, cpu = encode_cost(encoder, sample.texts)
    result: dict[str, Any] = {
        "backend": backend, "model_id": encoder.model_id, "document_sample": sample.documents,
        "document_passages": len(sample.texts),
        "passage_mean_chars": round(float(np.mean([len(t) for t in sample.texts])), 1),
        "documents_per_s": round(sample.documents / wall, 2),
        "passages_per_s": round(len(sample.texts) / wall, 2),
        "cpu_ms_per_document": round(cpu * 1e3 / sample.documents, 2),
        "cores_busy": round(cpu / wall, 2),
        "query_sample": len(queries),
    }
    result |= query_rates(encoder, queries, singles)
    if with_sts and sts.DEFAULT_STS_TEST.exists():
        result["sts_spearman"] = round(sts.spearman(encoder, sts.read_pairs(sts.DEFAULT_STS_TEST)), 4)
    return result


def speedups(ceilings: dict[str, dict[str, Any]]) -> dict[str, float]:
    """ONNX int8 over torch fp32, where both were measured."""
    if "torch" not in ceilings or "onnx" not in ceilings:
        return {}
    torch, onnx = ceilings["torch"], ceilings["onnx"]
    return {key: round(onnx[key] / torch[key], 2) for key in
            ("documents_per_s", "queries_per_s_batched", "queries_per_s_single")}


class Interleaved:
    """The raw encoder timed *during* a pipeline run, in the conditions the pipeline meets.

    ``with Interleaved(stack, encoder, sample) as during: ...``: every ``every`` seconds the
    stack's worker is paused (SIGSTOP), this process encodes the next ``chunk`` texts of
    ``sample`` (cycling), and the worker resumes. On a shared machine whose speed drifts by tens
    of percent within minutes, a ceiling timed only before and after can miss the conditions in
    between; samples taken throughout pair with them. :meth:`paused_within` gives the seconds the
    worker stood still within a span of ``time.monotonic()``, to leave out of the pipeline's time.
    """

    def __init__(self, stack: Any, encoder: Encoder, sample: list[str], every: float = 20.0,
                 chunk: int = 48) -> None:
        self.stack, self.encoder = stack, encoder
        self.sample = random.Random(0).sample(sample, len(sample))  # each chunk a mix of lengths
        self.every, self.chunk = every, chunk
        self.timed: list[tuple[int, float]] = []
        """(texts, seconds) of each sample"""
        self.pauses: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="interleaved-ceiling")

    def _run(self) -> None:
        start = 0
        while not self._stop.wait(self.every):
            texts = [self.sample[(start + i) % len(self.sample)] for i in range(self.chunk)]
            start += self.chunk
            began = time.monotonic()
            self.stack.pause_worker()
            try:
                timed = time.perf_counter()
                self.encoder.encode(texts)
                self.timed.append((len(texts), time.perf_counter() - timed))
            finally:
                self.stack.resume_worker()
                self.pauses.append((began, time.monotonic()))

    def __enter__(self) -> Interleaved:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def paused_within(self, start: float, end: float) -> float:
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.pauses)

    @property
    def rate(self) -> float | None:
        """The mean of the samples' texts per second (None before the first): samples are evenly
        spaced in time, so this is the encoder's mean speed over the span they cover."""
        rates = self.rates()
        return round(sum(rates) / len(rates), 2) if rates else None

    def rates(self) -> list[float]:
        return [round(n / t, 2) for n, t in self.timed]
