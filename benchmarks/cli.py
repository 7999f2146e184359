"""``semsearch bench``: every figure side by side with the hardware's ceilings, in one run.

Subcommands: ``ingest``, ``freshness``, ``query``, ``commands``, ``all`` (the four in turn on one
stack per store), ``ceilings`` (the raw encoders and their STS Benchmark scores only) and
``relevance`` (ranking quality on labelled sets, flags of its own: benchmarks/relevance/run.py) and
``peer`` (semsearch against LangChain's indexing API, flags of its own: benchmarks/peer/run.py) and
``sizing`` (bytes per document, passage and vector per store, index build, outbox and Redis
costs, for docs/scaling.md; flags of its own: benchmarks/sizing/run.py). Each
starts a fresh local stack per store (or measures one given by ``--command-url/--query-url``),
shows progress bars, and writes ``results.json``, ``report.md`` and PNG plots into ``--out``
(default ``bench-results/<timestamp>/``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import ceilings, texts
from benchmarks.harness.argtypes import counts, levels, positive, size, sizes
from benchmarks.harness.results import Run, meta
from benchmarks.harness.stack import DEFAULT_BACKEND
from benchmarks.peer import run as peer
from benchmarks.relevance import run as relevance_run
from benchmarks.throughput import load, report
from benchmarks.throughput.steps import STEPS, measure_ceiling, session

SUBCOMMANDS = {
    "ingest": "documents/s through the command API until searchable, vs the raw encoder",
    "freshness": "commit-to-searchable p50/p95/p99 under steady writes at half capacity",
    "query": "closed-loop query load at several concurrency levels, four workloads, then overload",
    "commands": "command API creates and updates, worker running vs paused, and the naive baseline",
    "all": "ingest, freshness, query and commands on one stack per store",
    "endurance": "steady writes and searches for --minutes: resident memory must stay flat",
    "ceilings": "the raw encoders (torch, ONNX int8): documents/s, queries/s, STS Benchmark",
}


def common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--store", choices=["pgvector", "weaviate", "both"], default="both",
                   help="which store to measure (both: one after the other, each on a fresh stack)")
    p.add_argument("--documents", type=size, default=10_000, help="corpus size for ingest (10k, 100k…)")
    p.add_argument("--query-sizes", type=sizes, help="store sizes for the query load (default: "
                   "--documents; e.g. 10k,100k: sizes beyond what ingest wrote are bulk-loaded)")
    p.add_argument("--encoder", choices=["torch", "onnx", "onnx-fp32", "hashing"],
                   default=DEFAULT_BACKEND, help="the stack's encoder (ENCODER of worker and "
                   "query API; default: the stack's default); hashing: tests only")
    p.add_argument("--workers", type=counts, default=[1],
                   help="ingest: sync worker counts measured in turn on one stack, e.g. 1,2,3 "
                        "(documents/s and each process's cores at each count)")
    p.add_argument("--weaviate-nodes", type=positive, default=1,
                   help="the Weaviate store's stack: a replicated cluster of N nodes (replication "
                        "factor N), each node's memory sampled and held to a node's budget")
    p.add_argument("--ceilings", default="torch,onnx", help="encoder backends to compare up front")
    p.add_argument("--ceiling-documents", type=int, default=1000, help="texts timed for the ceiling")
    p.add_argument("--ceiling-queries", type=int, default=2000)
    p.add_argument("--no-sts", action="store_true", help="skip the STS Benchmark scores")
    p.add_argument("--duration", type=float, default=15.0, help="seconds measured per load phase")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds discarded before each phase")
    p.add_argument("--concurrency", type=levels, default=[1, 8, 32, 64], help="query clients")
    p.add_argument("--overload-multiples", type=levels, default=[1, 3, 10, 30],
                   help="query overload phase: closed-loop clients as multiples of the best level")
    p.add_argument("--burst", type=int, default=2000,
                   help="query overload phase: connections opened at once (0: no overload phase)")
    p.add_argument("--command-concurrency", type=levels, default=[4, 16, 64])
    p.add_argument("--freshness-seconds", type=float, default=60.0, help="length of the steady writes")
    p.add_argument("--no-naive", action="store_true", help="skip the naive embed-in-request baseline")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the endurance run")
    p.add_argument("--endurance-write-share", type=float, default=0.25,
                   help="endurance writes/s as a share of the raw encoder's documents/s")
    p.add_argument("--endurance-clients", type=int, default=4, help="endurance search clients")
    p.add_argument("--sample-interval", type=float, default=0.5, help="RSS sampling period (s)")
    p.add_argument("--profile", action="store_true",
                   help="run the sync worker under py-spy (installed on first use) and report its "
                        "CPU by category (tokenization, forward pass, hashing, writes, …) next to "
                        "the raw encoder's")
    p.add_argument("--loadgen", choices=load.GENERATORS, default=None,
                   help="HTTP load generator: go (default; built on first use, Python if Go is "
                        "missing) or python (more CPU per request, taken from the system measured)")
    p.add_argument("--command-url", help="measure this command API instead of starting a stack")
    p.add_argument("--query-url", help="measure this query API instead of starting a stack")
    p.add_argument("--out", type=Path, help="output folder (default bench-results/<timestamp>/)")
    return p


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="semsearch bench", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = root.add_subparsers(dest="subcommand", required=True)
    for name, help in SUBCOMMANDS.items():
        sub.add_parser(name, parents=[common()], help=help, description=help)
    relevance_run.arguments(sub.add_parser("relevance", help=relevance_run.HELP,
                                           description=relevance_run.__doc__,
                                           formatter_class=argparse.RawDescriptionHelpFormatter))
    peer.arguments(sub.add_parser("peer", help=peer.HELP, description=peer.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter))
    from benchmarks.sizing import run as sizing

    sizing.arguments(sub.add_parser("sizing", help=sizing.HELP, description=sizing.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter))
    return root


def compare_encoders(args: argparse.Namespace, run: Run, corpus: texts.Corpus) -> None:
    from benchmarks.throughput.steps import ceiling_sample

    sample = ceiling_sample(corpus, args.ceiling_documents)
    queries = texts.queries(args.ceiling_queries, seed=99)
    found: dict[str, dict[str, Any]] = {}
    for backend in [b.strip() for b in args.ceilings.split(",") if b.strip()]:
        print(f"ceiling: {backend} on {sample.documents} documents ({len(sample.texts)} passages), "
              f"{len(queries)} queries…", flush=True)
        found[backend] = ceilings.measure(backend, sample, queries, with_sts=not args.no_sts)
    found["speedup"] = ceilings.speedups(found)
    run.data["ceilings"] = found


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    if argv[:1] == ["edges"]:  # a comparison of its own, with its own options
        from benchmarks.throughput import edges

        return edges.main(argv[1:])
    args = parser().parse_args(argv)
    if args.subcommand == "relevance":
        return relevance_run.main(args, argv)
    if args.subcommand == "peer":
        return peer.main(args, argv)
    if args.subcommand == "sizing":
        from benchmarks.sizing import run as sizing

        return sizing.main(args, argv[1:])
    if args.loadgen:
        load.use(args.loadgen)
    args.query_sizes = args.query_sizes or [args.documents]
    out = args.out or Path("bench-results") / time.strftime("%Y%m%d-%H%M%S")
    run = Run(out)
    run.data["meta"] = meta(argv)
    corpus = texts.build(args.documents)
    run.data["corpus"] = corpus.note
    if args.subcommand in ("all", "ceilings") and args.ceilings:
        compare_encoders(args, run, corpus)
    if args.subcommand != "ceilings":
        for store in ["pgvector", "weaviate"] if args.store == "both" else [args.store]:
            print(f"== {store}: starting a stack (encoder {args.encoder})…", flush=True)
            with session(args, run, corpus, store) as current:
                measure_ceiling(current)
                for step in STEPS[args.subcommand]:
                    step(current)
    path = report.write(run)
    print(f"\nreport: {path}")
    for check in run.data["checks"]:
        mark = {True: "PASS", False: "FAIL", None: "  – "}[check["pass"]]
        print(f"  {mark}  {check['what']}: {check['value']} (target {check['target']})")
    return 0
