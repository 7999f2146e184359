"""One store's session (a stack, its memory sampler, its ceiling) and the subcommands' steps."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import ceilings, texts
from benchmarks.harness.memory import MemorySampler
from benchmarks.harness.results import Run
from benchmarks.harness.stack import BenchStack, Target, external
from benchmarks.throughput import bulkload, commands, endurance, freshness, ingest, overload, query


@dataclass
class Session:
    args: argparse.Namespace
    run: Run
    corpus: texts.Corpus
    target: Target
    stack: BenchStack | None
    sampler: MemorySampler | None
    ceiling: dict[str, Any] = field(default_factory=dict)
    loaded: int = 0
    """Documents of the corpus (a prefix) the store holds."""
    loaded_by: str = "nothing"

    @property
    def figures(self) -> dict[str, Any]:
        return self.run.store(self.target.store)

    def mark(self, label: str) -> None:
        if self.sampler is not None:
            self.run.marks.setdefault(self.target.store, []).append((self.sampler.mark(label), label))


def sampled_documents(corpus: texts.Corpus, size: int) -> list[dict[str, Any]]:
    """Up to ``size`` documents spread evenly over the corpus."""
    every = max(1, len(corpus.documents) // max(size, 1))
    return corpus.documents[::every][:size]


def ceiling_sample(corpus: texts.Corpus, size: int) -> ceilings.Sample:
    """Up to ``size`` documents spread evenly over the corpus, so they look like what is ingested,
    as the passage texts the worker embeds for them (the stack's default passage settings)."""
    from benchmarks.relevance import exact
    from query_side.settings import StoreSettings

    docs = sampled_documents(corpus, size)
    prepared = exact.plans(docs, "", StoreSettings().passage_settings())
    return ceilings.Sample([t for p in prepared for t in p.texts], len(docs))


@contextmanager
def session(args: argparse.Namespace, run: Run, corpus: texts.Corpus, store: str) -> Iterator[Session]:
    if args.command_url or args.query_url:
        yield Session(args, run, corpus, external(store, args.command_url, args.query_url), None, None)
        return
    nodes = args.weaviate_nodes if store == "weaviate" else 1
    samples = run.out / f"profile-worker-{store}.txt" if args.profile else None
    stack = BenchStack(store, encoder=args.encoder, weaviate_nodes=nodes, profile=samples)
    target = stack.start()
    run.note("The local stack's PostgreSQL runs durable (fsync, synchronous_commit and full-page "
             "writes on, its defaults), as a server holding real data would; only the test suite "
             "turns them off.")
    if nodes > 1:
        run.note(f"{store}: Weaviate is a cluster of {nodes} nodes on this machine, replication "
                 f"factor {target.weaviate_replication_factor} (every node a full replica); each "
                 "node's RSS is sampled as weaviate/<i> and held to one node's budget.")
    try:
        with MemorySampler(stack.processes, args.sample_interval) as sampler:
            current = Session(args, run, corpus, target, stack, sampler)
            yield current
        current.figures["memory"] = sampler.summary()
        current.figures["weaviate_nodes"] = len(target.weaviate_grpc_ports)
        current.figures["cpu"] = sampler.cpu_by_phase()
        run.rss[store] = sampler.samples
    finally:
        stack.stop()
    if samples is not None:
        current.figures["profile"] = profiled(current, samples)


def profiled(s: Session, samples: Path) -> dict[str, Any]:
    """``--profile``: the worker's CPU by category, and the raw encoder's on the ceiling's texts."""
    from benchmarks.profile import report as profile_report

    s.run.note("--profile: the worker ran under py-spy (its own process, sampling 100 times a "
               "second, so it takes a little of the machine's CPU too); on a shared machine the "
               "breakdown's shares are what to read, not its milliseconds.")
    sample = ceiling_sample(s.corpus, s.args.ceiling_documents)
    ingested = sum(r["documents"] for r in s.figures.get("ingest_workers", [])) or \
        s.figures.get("ingest", {}).get("documents", 0)
    phases = [p for p in s.figures.get("cpu") or [] if p["phase"].startswith("ingest")]
    worker_s = sum(p["seconds"] * cores for p in phases for name, cores in p["cores"].items()
                   if name.split("/")[0] == "worker")
    return profile_report.measure(s.args.encoder, sample.texts, sample.documents, ingested, samples,
                                  s.run.out, worker_s * 1e3 / ingested if worker_s and ingested else None)


def measure_ceiling(s: Session) -> None:
    """The stack's encoder on the same texts, now, while the stack idles (ratios use this)."""
    s.mark("ceiling")
    s.ceiling = ceilings.measure(s.args.encoder, ceiling_sample(s.corpus, s.args.ceiling_documents),
                                 texts.queries(s.args.ceiling_queries, seed=99), with_sts=False)
    s.figures["ceiling"] = s.ceiling


def unseen(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New ids and a run marker in each title: nothing the target already holds or has embedded."""
    run_id = uuid.uuid4().hex[:8]
    return [{**d, "id": str(uuid.uuid4()), "title": f"{d['title']} [{run_id}]"} for d in docs]


def ceiling_again(s: Session, key: str) -> float:
    """The raw encoder's ``documents_per_s`` or ``queries_per_s_batched`` measured again now
    (the machine is shared: its speed drifts within a run)."""
    s.mark(f"ceiling again ({key})")
    encoder = ceilings.load_backend(s.args.encoder)
    if key == "documents_per_s":
        sample = ceiling_sample(s.corpus, s.args.ceiling_documents)
        return round(ceilings.document_rate(encoder, sample.texts, sample.documents), 2)
    rates = ceilings.query_rates(encoder, texts.queries(s.args.ceiling_queries, seed=99), singles=0)
    return rates["queries_per_s_batched"]


def bracketed(before: float, after: float) -> dict[str, float]:
    """A ceiling measured before and after a step: ratios are taken to the mean of the two."""
    return {"before": before, "after": after, "mean": round((before + after) / 2, 2)}


def step_ingest(s: Session) -> None:
    """The corpus through the pipeline; with ``--workers 1,2,3``, once per worker count on the
    same stack (workers join between runs), new documents each time, every run a CPU phase."""
    counts = s.args.workers if s.stack is not None else [1]
    for number, workers in enumerate(counts):
        label = "ingest"
        if counts != [1]:
            s.mark(f"starting workers ({workers})")
            assert s.stack is not None
            s.stack.scale_workers(workers)
            label = f"ingest, {workers} worker{'s' if workers > 1 else ''}"
        result = _ingest(s, label, fresh=number == 0) | {"workers": workers}
        if number == 0:
            s.figures["ingest"] = result
        if counts != [1]:
            s.figures.setdefault("ingest_workers", []).append(result)
    s.loaded, s.loaded_by = len(s.corpus.documents), "ingest through the pipeline"


def _ingest(s: Session, label: str, fresh: bool) -> dict[str, Any]:
    s.mark(label)
    docs = s.corpus.documents if s.stack is not None and fresh else unseen(s.corpus.documents)
    result = ingest.run(s.target, docs, s.ceiling.get("documents_per_s")) | {"phase": label}
    if s.ceiling:
        encoder = bracketed(s.ceiling["documents_per_s"], ceiling_again(s, "documents_per_s"))
        result |= {"encoder_documents_per_s": encoder["mean"], "encoder_bracket": encoder,
                   "ratio_to_encoder": round(result["documents_per_s"] / encoder["mean"], 3)}
    return result


def step_freshness(s: Session) -> None:
    s.mark("freshness")
    measured = s.figures.get("ingest", {}).get("documents_per_s")
    basis = "ingest documents/s" if measured else "raw encoder documents/s"
    capacity = {"basis": f"{basis}, this run",
                "documents_per_s": measured or s.ceiling["documents_per_s"]}
    rate = capacity["documents_per_s"] / 2
    count = max(1, int(rate * s.args.freshness_seconds))
    docs = unseen(texts.build(count, offset=len(s.corpus.documents) + 1000).documents)
    s.figures["freshness"] = freshness.run(s.target, docs, rate, capacity)


def _load_to(s: Session, size: int) -> str:
    """Bring the store to the corpus' first ``size`` documents; says how they got there."""
    if s.stack is None:
        return "external stack: as found"
    if s.loaded >= size:
        return s.loaded_by
    s.mark(f"bulk load to {size}")
    corpus = texts.build(max(s.args.query_sizes))
    all_texts = corpus.texts()
    encoder = ceilings.load_backend(s.args.encoder)
    vectors = bulkload.cached_vectors(encoder, all_texts)
    seconds = bulkload.load(s.target, corpus.documents[s.loaded:size], all_texts[s.loaded:size],
                            vectors[s.loaded:size], encoder.model_id)
    s.run.note(f"{s.target.store}: documents {s.loaded}…{size - 1} were bulk-loaded into the read "
               f"model from vectors embedded once and cached ({seconds:.0f}s to load), not sent "
               "through the command API: embedding 100k paragraphs takes about an hour on 2 cores")
    s.loaded_by = "bulk load from cached vectors" if s.loaded == 0 else f"{s.loaded_by} + bulk load"
    s.loaded = size
    return s.loaded_by


def _store_alone(s: Session) -> dict[str, Any] | None:
    """The store's own search rate (no HTTP, no encoder), from query vectors embedded here."""
    if s.stack is None:
        return None
    encoder = ceilings.load_backend(s.args.encoder)
    vectors = encoder.encode(texts.queries(STORE_QUERIES, seed=5))
    return bulkload.store_rate(s.target, vectors)


STORE_QUERIES = 2000


def step_query(s: Session) -> None:
    pool = query.QueryPool(20_000)
    for size in s.args.query_sizes:
        loaded_by = _load_to(s, size)
        s.mark(f"query {size}")
        alone = _store_alone(s)
        result = query.run(s.target, pool, s.corpus.categories, s.args.concurrency, s.args.duration,
                           s.args.warmup, f"{s.target.store} {size}", s.run.collect,
                           s.sampler.snapshot if s.sampler else None)
        result["loaded_by"] = loaded_by
        result["query_api_processes"] = s.stack.query_api_processes() if s.stack else None
        batched = s.ceiling.get("queries_per_s_batched")
        if batched:
            encoder = bracketed(batched, ceiling_again(s, "queries_per_s_batched"))
            batched = result["encoder_queries_per_s_batched"] = encoder["mean"]
            result["encoder_bracket"] = encoder
        best = result["best"]["distinct"]["qps"]
        result["ratio_to_batched_encoder"] = round(best / batched, 3) if batched else None
        if alone and batched:
            # encoder and store take turns on the same cores: neither can have them all
            bound = 1 / (1 / batched + 1 / alone["searches_per_s"])
            result["store_alone"] = alone | {"bound_with_encoder_per_s": round(bound, 1),
                                             "bound_to_batched_encoder": round(bound / batched, 3),
                                             "ratio_to_bound": round(best / bound, 3)}
        if s.args.burst:  # past the best level: served, refused, and a burst of connections
            s.mark(f"overload {size}")
            result["overload"] = overload.run(
                s.target, pool, s.corpus.categories, result["best"]["distinct"], s.args.duration,
                s.args.warmup, f"{s.target.store} {size}", s.run.collect, s.args.burst,
                tuple(s.args.overload_multiples))
        s.figures.setdefault("query", {})[str(size)] = result


def step_commands(s: Session) -> None:
    s.mark("commands")
    s.figures["commands"] = commands.run(s.target, s.stack, s.args.encoder, s.args.command_concurrency,
                                         s.args.duration, s.args.warmup, s.run.collect,
                                         naive=not s.args.no_naive)


def step_endurance(s: Session) -> None:
    s.mark("endurance")
    rate = s.ceiling["documents_per_s"] * s.args.endurance_write_share
    s.figures["endurance"] = endurance.run(s.target, s.args.minutes, rate, s.args.endurance_clients,
                                           offset=len(s.corpus.documents) + 5000,
                                           collect=s.run.collect)


STEPS: dict[str, list[Callable[[Session], None]]] = {
    "ingest": [step_ingest],
    "freshness": [step_freshness],
    "query": [step_query],
    "commands": [step_commands],
    "all": [step_ingest, step_freshness, step_query, step_commands],
    "endurance": [step_endurance],
}
