"""``semsearch bench peer``: semsearch against LangChain's indexing API, in one run, on the same
texts, model and PostgreSQL.

A pgvector stack starts (``--encoder``, torch fp32 by default, as a new user gets it); the peer
(:mod:`benchmarks.peer_langchain`: ``index()`` with ``SQLRecordManager`` over langchain-postgres'
``PGVector``, sentence-transformers torch fp32) gets a database of its own on the stack's
PostgreSQL. In turn: the raw encoder of each on the texts it embeds (semsearch: the documents'
passages; the peer: title + body, one text per document), semsearch's ingest through the command
API until searchable, the peer's ``index()``, the raw encoders again; then ``--changed`` of the
documents revised and sent again (semsearch: PUTs until searchable; the peer: ``index()`` over
every document, incremental cleanup); then filtered searches on each. The LangChain packages are
the optional ``peer`` group, installed into this environment on first use from
``requirements-peer.lock``.
"""

from __future__ import annotations

import argparse
import importlib
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from benchmarks import ceilings, ingest, peer_report, texts
from benchmarks.results import meta
from benchmarks.stack import ENCODER_SETTING, BenchStack, Target
from benchmarks.steps import ceiling_sample, sampled_documents
from embeddings import Encoder, embedded_text

HELP = "semsearch's ingest, incremental updates and filtered search against LangChain's index()"
LOCK = Path(__file__).resolve().parents[1] / "requirements-peer.lock"
PEER_MODULES = ("langchain_core.indexing", "langchain_classic.indexes", "langchain_postgres")
LIMIT = 10


def arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from benchmarks.cli import size

    p.add_argument("--documents", type=size, default=1_000, help="corpus size (1000, 10k…)")
    p.add_argument("--encoder", choices=list(ENCODER_SETTING), default="torch",
                   help="semsearch's encoder; the peer embeds with torch fp32 (hashing: tests "
                        "only, both sides)")
    p.add_argument("--changed", type=float, default=0.1, help="share of documents revised")
    p.add_argument("--searches", type=int, default=200, help="filtered searches timed on each")
    p.add_argument("--ceiling-documents", type=int, default=500,
                   help="documents (spread over the corpus) the raw encoders are timed on")
    p.add_argument("--out", type=Path, help="output folder (default bench-results/<timestamp>-peer/)")
    return p


def ensure_installed() -> None:
    """Install the ``peer`` group from its lock into this environment if it is not there."""
    try:
        for name in PEER_MODULES:
            importlib.import_module(name)
        return
    except ImportError:
        pass
    uv = shutil.which("uv")
    how = f"uv pip install --no-deps --python {sys.executable} -r requirements-peer.lock"
    if uv is None or not LOCK.exists():
        raise SystemExit(f"bench peer needs the optional `peer` dependencies: in a checkout, run {how}")
    print(f"bench peer: installing the optional `peer` dependencies (LangChain) from {LOCK.name} "
          f"into {sys.prefix} (once)…", flush=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--no-deps", "--python", sys.executable,
                    "-r", str(LOCK)], check=True)
    importlib.invalidate_caches()


def revised(docs: list[dict[str, Any]], share: float) -> tuple[list[dict[str, Any]], list[int]]:
    """The documents with every ``1/share``-th one's body changed (so each re-embeds)."""
    if share <= 0:
        return list(docs), []
    changed = list(range(0, len(docs), max(1, round(1 / share))))
    out = list(docs)
    for i in changed:
        out[i] = {**docs[i], "body": f"{docs[i]['body']} (Revised.)"}
    return out, changed


def raw_rates(encoders: dict[str, Encoder], sample: dict[str, list[str]], documents: int) -> dict[str, float]:
    return {name: round(ceilings.document_rate(encoders[name], sample[name], documents), 2)
            for name in encoders}


def put_until_searchable(target: Target, docs: list[dict[str, Any]]) -> float:
    """PUT each document (one request each, as a client sends its edits), then wait until every
    one is searchable; the seconds from the first PUT."""
    tokens = []
    with httpx.Client(base_url=target.command_url, timeout=120) as commands, \
            httpx.Client(base_url=target.query_url, timeout=120) as queries:
        started = time.perf_counter()
        for doc in tqdm(docs, desc="update: semsearch", unit="doc"):
            reply = commands.put(f"/v1/documents/{doc['id']}",
                                 json={k: v for k, v in doc.items() if k != "id"})
            reply.raise_for_status()
            tokens.append(reply.json()["token"])
        for token in tokens:
            ingest.wait_token(queries, token)
        return time.perf_counter() - started


def search_semsearch(target: Target, queries: list[str], categories: list[str]) -> list[float]:
    latencies = []
    with httpx.Client(base_url=target.query_url, timeout=60) as client:
        for query, category in tqdm(list(zip(queries, categories, strict=True)),
                                    desc="search: semsearch", unit="q"):
            started = time.perf_counter()
            reply = client.post("/v1/search", json={"query": query, "limit": LIMIT,
                                                    "filters": {"category": [category]}})
            latencies.append(time.perf_counter() - started)
            reply.raise_for_status()
            if any(hit["category"] != category for hit in reply.json()["hits"]):
                raise AssertionError("semsearch's filtered search returned another category")
    return latencies


def main(args: argparse.Namespace, argv: list[str]) -> int:
    ensure_installed()
    from benchmarks.peer_langchain import Peer

    out = args.out or Path("bench-results") / (time.strftime("%Y%m%d-%H%M%S") + "-peer")
    corpus = texts.build(args.documents)
    data: dict[str, Any] = {"meta": meta(argv), "corpus": corpus.note, "notes": []}
    semsearch_encoder = ceilings.load_backend(args.encoder)
    peer_backend = "hashing" if args.encoder == "hashing" else "torch"
    peer_encoder = (semsearch_encoder if peer_backend == args.encoder
                    else ceilings.load_backend(peer_backend))
    encoders = {"semsearch": semsearch_encoder, "peer": peer_encoder}
    sampled = sampled_documents(corpus, args.ceiling_documents)
    sample = {"semsearch": ceiling_sample(corpus, args.ceiling_documents).texts,
              "peer": [embedded_text(d["title"], d["body"]) for d in sampled]}
    data["semsearch_setup"] = f"pgvector, {ENCODER_SETTING[args.encoder]}"
    data["peer_setup"] = f"index() + SQLRecordManager + PGVector, {ENCODER_SETTING[peer_backend]}"
    print(f"== pgvector: starting a stack (encoder {args.encoder})…", flush=True)
    stack = BenchStack("pgvector", encoder=args.encoder)
    target = stack.start()
    try:
        _measure(args, data, stack, target, corpus, encoders, sample, len(sampled), Peer)
    finally:
        stack.stop()
    path = peer_report.write(out, data)
    print(f"\nreport: {path}")
    for check in data["checks"]:
        mark = {True: "PASS", False: "FAIL", None: "  – "}[check["pass"]]
        print(f"  {mark}  {check['what']}: {check['value']} (target {check['target']})")
    return 0


def _measure(args: argparse.Namespace, data: dict[str, Any], stack: BenchStack, target: Target,
             corpus: texts.Corpus, encoders: dict[str, Encoder], sample: dict[str, list[str]],
             sampled: int, peer_class: Any) -> None:
    postgres = stack.local.postgres
    url = (postgres.create_database("langchain_peer") if postgres is not None
           else target.read_database_url)
    peer = peer_class.open(url, encoders["peer"])
    print(f"raw encoders on {sampled} documents' texts…", flush=True)
    before = raw_rates(encoders, sample, sampled)
    semsearch = ingest.run(target, corpus.documents, None)
    semsearch.pop("curve")
    indexed = peer.index(corpus.documents, "ingest: peer      ")
    indexed["documents_per_s"] = peer_report.rate(len(corpus.documents), indexed["seconds"])
    after = raw_rates(encoders, sample, sampled)
    data["ingest"] = {"semsearch": semsearch, "peer": indexed}
    data["raw_encoder"] = {name: {"before": before[name], "after": after[name],
                                  "mean": round((before[name] + after[name]) / 2, 2)}
                           for name in encoders}
    data["raw_encoder"]["semsearch"]["texts"] = (
        f"semsearch's raw encoder ({args.encoder}): the passages its worker embeds for "
        f"{sampled} documents ({len(sample['semsearch'])} texts)")
    data["raw_encoder"]["peer"]["texts"] = (
        f"the peer's raw encoder: title + body, one text per document ({sampled})")
    docs, changed = revised(corpus.documents, args.changed)
    seconds = put_until_searchable(target, [docs[i] for i in changed])
    again = peer.index(docs, "update: peer      ")
    data["incremental"] = {"changed": len(changed), "semsearch": {
        "changed": len(changed), "seconds": round(seconds, 2),
        "documents_per_s": peer_report.rate(len(changed), seconds),
        "how": "a PUT per changed document, then each one's token waited on"}, "peer": {
        **again, "changed": again["num_added"],
        "documents_per_s": peer_report.rate(again["num_added"], again["seconds"]),
        "how": f"index() over all {len(docs)} documents, cleanup='incremental'"}}
    _search(args, data, target, peer, corpus)
    data["notes"] += [
        "Ingest order: the raw encoders, semsearch's ingest, the peer's index(), the raw encoders "
        "again (ratios to their mean); one stack, one PostgreSQL (the peer in a database of its "
        "own), the machine shared with whatever else ran (load average in meta).",
        "The peer's embeddings: a LangChain Embeddings class calling sentence-transformers on the "
        "packaged model, as HuggingFaceEmbeddings does (langchain-huggingface cannot be installed "
        "beside semsearch's pinned huggingface-hub 2.x with langchain-core 1.x).",
        "PGVector as created by default: no ANN index (exact scan with the JSONB filter).",
        "semsearch's searches go over HTTP to its query API (one keep-alive client); the peer's "
        "run in this process (no HTTP). Each side's searches are the same distinct queries, each "
        "with one category filter."]


def _search(args: argparse.Namespace, data: dict[str, Any], target: Target, peer: Any,
            corpus: texts.Corpus) -> None:
    present = sorted({d["category"] for d in corpus.documents})
    rng = random.Random(3)
    queries = texts.queries(args.searches + 10, seed=11)
    categories = [rng.choice(present) for _ in queries]
    warm, timed = slice(0, 10), slice(10, None)
    search_semsearch(target, queries[warm], categories[warm])
    peer.search(queries[warm], categories[warm], LIMIT)
    data["search"] = {
        "semsearch": {**peer_report.latency(search_semsearch(target, queries[timed], categories[timed])),
                      "how": "POST /v1/search with a category filter, limit 10"},
        "peer": {**peer_report.latency(peer.search(queries[timed], categories[timed], LIMIT)),
                 "how": "PGVector.similarity_search(k=10, filter={'category': {'$eq': …}})"}}
