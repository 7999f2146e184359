"""``semsearch bench relevance``: ranking quality per store, mode and passage setting, in one run.

For each store and passage setting a fresh local stack takes the labelled sets
(:mod:`operations.quality.labelled`) through the command API, with the raw encoder timed on the same
passage texts just before and just after; then every query is searched in every mode within its
set (a tag filter), and scored (:mod:`benchmarks.relevance.evaluate`). With passages on, the stack is then
filled to ``--ann-documents`` and its semantic top 10 compared with exact search
(:mod:`benchmarks.relevance.exact`). The STS Benchmark scores the encoder backends alone.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.stack import DEFAULT_BACKEND, ENCODER_SETTING

HELP = "nDCG@10, Recall@10, MRR@10 per mode, store and passage setting; ANN recall; STS"


@dataclass(frozen=True)
class Setting:
    env: dict[str, str]
    """The stack's environment (worker and query API)."""
    fields: dict[str, bool]
    """The same as StoreSettings fields, to cut passages here as the worker does."""


SETTINGS = {
    "on": Setting({"PASSAGES": "true"}, {"passages": True}),
    "off": Setting({"PASSAGES": "false"}, {"passages": False}),
    "notitle": Setting({"PASSAGES": "true", "PASSAGE_TITLE": "false"},
                       {"passages": True, "passage_title": False}),
}
"""``off``: one vector per document, cut at the model's window (the read model before passages);
``notitle``: passages embedded without the document's title."""


def _names(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        if unknown := [n for n in names if n not in allowed]:
            raise argparse.ArgumentTypeError(f"unknown {unknown}: choose from {', '.join(allowed)}")
        return names
    return parse


def arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from benchmarks.harness.argtypes import size

    p.add_argument("--store", choices=["pgvector", "weaviate", "both"], default="both")
    p.add_argument("--passages", type=_names(tuple(SETTINGS)), default=["on", "off"],
                   help="passage settings, each on a fresh stack: on, off (PASSAGES=false), "
                        "notitle (PASSAGE_TITLE=false)")
    p.add_argument("--no-title", action="store_true", help="add the notitle setting")
    p.add_argument("--modes", type=_names(("semantic", "keyword", "hybrid")),
                   default=["semantic", "keyword", "hybrid"])
    p.add_argument("--sets", type=_names(("headings", "long")), default=["headings", "long"])
    p.add_argument("--encoder", choices=list(ENCODER_SETTING), default=DEFAULT_BACKEND,
                   help="the stack's encoder (default: the stack's default); hashing: tests only")
    p.add_argument("--compare-encoders", type=_names(tuple(ENCODER_SETTING)), default=[],
                   help="other encoders run with passages on, each on its own stack (setting "
                        "on@<encoder>), their nDCG@10 compared with --encoder's on every set, "
                        "mode and store (e.g. --encoder onnx --compare-encoders torch)")
    p.add_argument("--sts", type=_names(("torch", "onnx", "hashing")), default=["torch", "onnx"],
                   help="encoder backends scored on the STS Benchmark ('' for none)")
    p.add_argument("--sts-file", type=Path, help="STS Benchmark test split (default: the shared copy)")
    p.add_argument("--heading-articles", type=int, default=0, help="articles in the headings set (0: all)")
    p.add_argument("--heading-queries", type=int, default=0, help="heading queries sampled (0: all)")
    p.add_argument("--long-articles", type=int, default=0, help="articles in the long set (0: all)")
    p.add_argument("--long-queries", type=int, default=3, help="long-set queries per article")
    p.add_argument("--ann-documents", type=size, default=10_000,
                   help="documents the store holds for the ANN recall check (0: skip it)")
    p.add_argument("--ann-queries", type=int, default=200)
    p.add_argument("--ceiling-passages", type=int, default=0,
                   help="passage texts the raw encoder is timed on, spread over all (0: all)")
    p.add_argument("--clients", type=int, default=4, help="concurrent search clients")
    p.add_argument("--out", type=Path, help="output folder (default bench-results/<timestamp>/)")
    return p


def spread(items: list[Any], count: int) -> list[Any]:
    """Up to ``count`` items evenly spaced over ``items`` (all when ``count`` is 0)."""
    if not count or count >= len(items):
        return items
    every = len(items) / count
    return [items[int(i * every)] for i in range(count)]


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from benchmarks.harness import ceilings
    from benchmarks.harness.results import meta
    from benchmarks.harness.stack import BenchStack
    from benchmarks.relevance import report as relevance_report
    from operations.quality.labelled import LabelledSet, headings, long
    from sync_worker.priority import lower_priority
    from sync_worker.settings import WorkerSettings

    # The raw encoder runs here at the worker's CPU priority, so that on a shared machine both
    # meet the other load alike (the worker is niced: embedding is background work).
    lower_priority(WorkerSettings().worker_nice)
    out = args.out or Path("bench-results") / time.strftime("%Y%m%d-%H%M%S")
    settings = args.passages + (["notitle"] if args.no_title and "notitle" not in args.passages else [])
    builders = {"headings": lambda: headings(args.heading_articles, args.heading_queries),
                "long": lambda: long(args.long_articles, args.long_queries)}
    sets: list[LabelledSet] = [builders[name]() for name in args.sets]
    data: dict[str, Any] = {"meta": meta(argv), "encoder": args.encoder, "settings": settings,
                            "sets": {s.name: describe(s) for s in sets}, "runs": {},
                            "notes": relevance_report.notes(args)}
    encoders = {args.encoder: ceilings.load_backend(args.encoder)}
    data["sts"] = sts_scores(args, encoders[args.encoder])
    runs = [(setting, args.encoder) for setting in settings] + [
        (f"on@{other}", other) for other in args.compare_encoders if other != args.encoder]
    failed = 0
    for store in ["pgvector", "weaviate"] if args.store == "both" else [args.store]:
        for setting, backend in runs:
            print(f"== {store}, passages {setting}: starting a stack (encoder {backend})…",
                  flush=True)
            if backend not in encoders:
                encoders[backend] = ceilings.load_backend(backend)
            try:
                stack = BenchStack(store, encoder=backend,
                                   extra_env=SETTINGS[setting.split("@")[0]].env)
                with stack as target:
                    found = one_stack(args, stack, target, setting, sets, encoders[backend])
            except Exception as exc:  # one stack failing must not lose the others' figures
                failed += 1
                found = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                print(f"!! {store}, passages {setting}: {found['error']}", flush=True)
            data["runs"].setdefault(store, {})[setting] = found
    path = relevance_report.write(out, data)
    print(f"\nreport: {path}")
    for check in data["checks"]:
        mark = {True: "PASS", False: "FAIL", None: "  – "}[check["pass"]]
        print(f"  {mark}  {check['what']}: {check['value']} (target {check['target']})")
    return 1 if failed else 0


def describe(labelled: Any) -> dict[str, Any]:
    relevant = [len(q.relevant) for q in labelled.queries]
    return {"documents": len(labelled.documents), "queries": len(labelled.queries),
            "relevant_per_query": round(sum(relevant) / max(1, len(relevant)), 2),
            "note": labelled.note}


def sts_scores(args: argparse.Namespace, loaded: Any) -> dict[str, Any]:
    from benchmarks.harness import ceilings, sts

    path = args.sts_file or sts.DEFAULT_STS_TEST
    if not args.sts:
        return {}
    if not path.exists():
        return {"error": f"no STS Benchmark file at {path}"}
    pairs = sts.read_pairs(path)
    found: dict[str, Any] = {"file": str(path), "pairs": len(pairs.gold)}
    for backend in args.sts:
        print(f"STS Benchmark: {backend} on {len(pairs.gold)} pairs…", flush=True)
        encoder = loaded if backend == args.encoder else ceilings.load_backend(backend)
        found[backend] = round(sts.spearman(encoder, pairs), 4)
    return found


def one_stack(args: argparse.Namespace, stack: Any, target: Any, setting: str, sets: list[Any],
              encoder: Any) -> dict[str, Any]:
    from benchmarks.relevance import evaluate as relevance
    from benchmarks.relevance import exact
    from query_side.settings import StoreSettings

    passage_settings = StoreSettings(**SETTINGS[setting.split("@")[0]].fields).passage_settings()  # type: ignore[arg-type]
    docs = [d for s in sets for d in s.documents]
    prepared = exact.plans(docs, encoder.model_id, passage_settings)
    found: dict[str, Any] = {"passage_settings": passage_settings.key, "passages_per_document": {}}
    start = 0
    for s in sets:
        counts = [len(p.hashes) for p in prepared[start:start + len(s.documents)]]
        start += len(s.documents)
        found["passages_per_document"][s.name] = {
            "mean": round(sum(counts) / max(1, len(counts)), 2), "max": max(counts, default=0),
            "total": sum(counts)}
    found["ingest"] = ingest_step(args, stack, target, docs, prepared, encoder)
    found["relevance"] = {s.name: relevance.evaluate(target, s, args.modes, args.clients) for s in sets}
    if setting == "on" and args.ann_documents > 0:
        found["ann"] = ann_step(args, target, docs, encoder, passage_settings)
    return found


def ingest_step(args: argparse.Namespace, stack: Any, target: Any, docs: list[dict[str, Any]],
                prepared: list[Any], encoder: Any) -> dict[str, Any]:
    """Documents/s and passages/s until searchable, and the raw encoder on the same passage texts:
    in one call just before and just after, and in short samples taken throughout the ingest
    with the worker paused (:class:`~benchmarks.harness.ceilings.Interleaved`). The ratio is to the
    samples taken throughout (the pauses left out of the pipeline's seconds); the ratio to the
    mean of before and after is reported beside it."""
    from benchmarks.harness import ceilings
    from benchmarks.relevance import exact
    from benchmarks.throughput import ingest
    from benchmarks.throughput.steps import bracketed

    texts = exact.unique_texts(prepared)
    sample = spread(sorted(texts, key=len), args.ceiling_passages) if args.ceiling_passages else texts
    before = round(ceilings.document_rate(encoder, sample), 2)
    with ceilings.Interleaved(stack, encoder, sample) as during:
        started = time.monotonic()
        result = ingest.run(target, docs, None)
        paused = during.paused_within(started, time.monotonic())
    bracket = bracketed(before, round(ceilings.document_rate(encoder, sample), 2))
    seconds = result["seconds"] - paused
    rate = len(texts) / seconds
    throughout = during.rate or bracket["mean"]
    return {"documents": len(docs), "passages": sum(len(p.hashes) for p in prepared),
            "passages_embedded": len(texts), "seconds": round(seconds, 2),
            "worker_paused_seconds": round(paused, 2),
            "documents_per_s": round(len(docs) / seconds, 2), "passages_per_s": round(rate, 2),
            "encoder_passages_per_s": throughout, "encoder_bracket": bracket,
            "encoder_throughout": {"samples": during.rates(), "passages_per_s": during.rate},
            "encoder_sample": len(sample), "ratio_to_encoder": round(rate / throughout, 3),
            "ratio_to_bracket": round(rate / bracket["mean"], 3), "curve": result["curve"]}


def ann_step(args: argparse.Namespace, target: Any, docs: list[dict[str, Any]], encoder: Any,
             passage_settings: Any) -> dict[str, Any]:
    """Fill the store to ``--ann-documents`` with corpus paragraphs and windows, then compare."""
    from benchmarks.harness import texts
    from benchmarks.relevance import exact
    from benchmarks.throughput import ingest
    from operations.quality.labelled import tag

    missing = args.ann_documents - len(docs)
    extra = [{**d, "tags": [tag("ann")]} for d in texts.build(missing).documents] if missing > 0 else []
    if extra:
        print(f"ANN: filling the store with {len(extra)} more documents…", flush=True)
        ingest.run(target, extra, None)
    queries = texts.queries(args.ann_queries, seed=11)
    return exact.run(target, docs + extra, queries, encoder, passage_settings, args.clients)
