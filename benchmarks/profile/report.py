"""``--profile``'s results: the worker's CPU breakdown after a session, its report section and plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import ceilings, plots
from benchmarks.harness.tables import table
from benchmarks.profile import encoder as profile_encoder
from benchmarks.profile import pyspy, rules


def measure(backend: str, texts: list[str], documents: int, ingested: int, samples: Path,
            out: Path, worker_cpu_ms: float | None) -> dict[str, Any]:
    """The worker's samples (``ingested`` documents went through it, at ``worker_cpu_ms`` of
    measured CPU each) and the raw ``backend`` on ``texts`` (the passages of ``documents``
    documents) under py-spy, both broken down."""
    batch = getattr(ceilings.load_backend(backend), "_batch_size", 1)
    padding = pyspy.padding_fraction(texts, batch)
    return {"encoder_backend": backend, "batch_size": batch,
            "worker": pyspy.breakdown(pyspy.read_stacks(samples), ingested, padding,
                                      cpu_ms_per_document=worker_cpu_ms),
            "encoder": profile_encoder.run(backend, texts, documents, out, padding)}


def section(store: str, found: dict[str, Any]) -> list[str]:
    worker, encoder = found["worker"], found["encoder"]
    rows = [[name, *_cells(worker, name), *_cells(encoder, name), _extra(worker, encoder, name)]
            for name in _names(found)]
    rows.append(["all", 100.0, worker["cpu_ms_per_document"], 100.0, encoder["cpu_ms_per_document"],
                 _round(worker["cpu_ms_per_document"], encoder["cpu_ms_per_document"])])
    how = {True: "measured CPU time", False: "sampled time (no CPU time measured)"}
    return [f"### Worker CPU breakdown ({store})", "",
            f"py-spy sampled the sync worker {pyspy.RATE} times a second per running thread "
            f"({worker['samples']} samples kept; {worker['samples_left_out']} left out: its main thread "
            "outside RQ's work loop, and threads woken from a wait (a selector, a condition) still "
            f"waiting for a core; {worker['documents']} documents ingested), and the raw "
            f"`{found['encoder_backend']}` encoder encoding the ceiling's texts in one call "
            f"({encoder['samples']} samples, {encoder['documents']} documents). Each stack's "
            "innermost recognised frame names its "
            "category (benchmarks/profile/rules.py). Padding has no frame: it is the forward pass's "
            "share times the padded share of the token positions in the encoder's batches "
            f"({worker['padding_fraction']:.1%} in batches of {found['batch_size']}, longest texts "
            "first, on the ceiling's texts; the worker batches each job's texts, so this is an "
            f"estimate). ms/doc: each share of the {how[worker['cpu_measured']]} per document "
            f"(worker: {how[worker['cpu_measured']]} during ingest; raw encoder: "
            f"{how[encoder['cpu_measured']]} of the measured call). py-spy counts a thread waiting "
            "for a core as running (the worker's sampled time was "
            f"{worker['sampled_ms_per_document']} ms/doc): on a shared machine the shares are the "
            "figures to read.", "",
            *table(["category", "worker %", "worker ms/doc", "raw encoder %", "raw encoder ms/doc",
                    "worker − raw ms/doc"], rows)]


def _names(found: dict[str, Any]) -> list[str]:
    """Categories with samples, the worker's largest first, then every other one (at 0)."""
    worker, encoder = found["worker"]["categories"], found["encoder"]["categories"]
    known = [rules.FORWARD, rules.PADDING, *(r.category for r in rules.RULES)]
    return list(dict.fromkeys([*worker, *encoder, *known]))


def _round(a: float | None, b: float | None) -> float | None:
    return round(a - b, 2) if a is not None and b is not None else None


def _extra(worker: dict[str, Any], encoder: dict[str, Any], name: str) -> float | None:
    mine, theirs = (b["categories"].get(name, {}).get("ms_per_document") for b in (worker, encoder))
    return _round(mine or 0.0, theirs or 0.0)


def _cells(breakdown: dict[str, Any], name: str) -> list[Any]:
    found = breakdown["categories"].get(name)
    return [round(found["share"] * 100, 1), found["ms_per_document"]] if found else [0.0, 0.0]


def draw(path: Path, store: str, found: dict[str, Any]) -> Path:
    worker, encoder = found["worker"]["categories"], found["encoder"]["categories"]
    names = _names(found)
    series = {label: [round(b.get(n, {}).get("share", 0.0) * 100, 2) for n in names]
              for label, b in (("sync worker", worker), ("raw encoder", encoder))}
    return plots.shares(path, f"{store}: worker CPU breakdown", names, series)
