"""``semsearch bench peer``: semsearch against LangChain's indexing API, in one run, on the same
texts, model and PostgreSQL.

A pgvector stack starts (``--encoder``, the stack's default unless told, as a new user gets it); the peer
(:mod:`benchmarks.peer.langchain`: ``index()`` with ``SQLRecordManager`` over langchain-postgres'
``PGVector``, sentence-transformers torch fp32) gets a database of its own on the stack's
PostgreSQL. The corpus is ingested in ``--rounds`` slices: each slice by semsearch (through the
command API until searchable) and by the peer (``index()``) in turn, who goes first alternating,
then the raw encoder of each timed on a sample of the slice's texts as each embeds them
(semsearch: the documents' passages; the peer: title + body, one text per document), so that
every figure meets the same drift of a shared machine. Then ``--changed`` of the documents are
revised and sent again (semsearch: PUTs until searchable; the peer: ``index()`` over every
document, incremental cleanup), and filtered searches alternate between the two. The LangChain packages are
the optional ``peer`` group, installed into this environment on first use from
``requirements-peer.lock``.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from benchmarks import extras
from benchmarks.harness import ceilings, texts
from benchmarks.harness.results import meta
from benchmarks.harness.stack import DEFAULT_BACKEND, ENCODER_SETTING, BenchStack, Target
from benchmarks.peer import report as peer_report
from benchmarks.throughput import ingest
from benchmarks.throughput.steps import ceiling_sample, sampled_documents
from embeddings import Encoder, embedded_text

HELP = "semsearch's ingest, incremental updates and filtered search against LangChain's index()"
LIMIT = 10


def arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from benchmarks.harness.argtypes import size

    p.add_argument("--documents", type=size, default=1_000, help="corpus size (1000, 10k…)")
    p.add_argument("--encoder", choices=list(ENCODER_SETTING), default=DEFAULT_BACKEND,
                   help="semsearch's encoder (default: the stack's default); the peer embeds "
                        "with torch fp32 (hashing: tests only, both sides)")
    p.add_argument("--changed", type=float, default=0.1, help="share of documents revised")
    p.add_argument("--searches", type=int, default=200, help="filtered searches timed on each")
    p.add_argument("--rounds", type=int, default=5,
                   help="slices of the corpus, each ingested by both in turn (who goes first "
                        "alternates) and then timed on the raw encoders: the machine's speed "
                        "drifts within a run, and each slice meets both in the same conditions")
    p.add_argument("--ceiling-share", type=float, default=0.5,
                   help="share of each slice's documents the raw encoders are timed on")
    p.add_argument("--out", type=Path, help="output folder (default bench-results/<timestamp>-peer/)")
    return p


def revised(docs: list[dict[str, Any]], share: float) -> tuple[list[dict[str, Any]], list[int]]:
    """The documents with every ``1/share``-th one's body changed (so each re-embeds)."""
    if share <= 0:
        return list(docs), []
    changed = list(range(0, len(docs), max(1, round(1 / share))))
    out = list(docs)
    for i in changed:
        out[i] = {**docs[i], "body": f"{docs[i]['body']} (Revised.)"}
    return out, changed


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


def search_semsearch(client: httpx.Client, query: str, category: str) -> tuple[float, float]:
    """Seconds for one filtered search through the query API, and the seconds it says it took."""
    started = time.perf_counter()
    reply = client.post("/v1/search", json={"query": query, "limit": LIMIT,
                                            "filters": {"category": [category]}})
    seconds = time.perf_counter() - started
    reply.raise_for_status()
    found = reply.json()
    if any(hit["category"] != category for hit in found["hits"]):
        raise AssertionError("semsearch's filtered search returned another category")
    return seconds, found["took_ms"] / 1e3


def main(args: argparse.Namespace, argv: list[str]) -> int:
    extras.ensure(extras.PEER)
    from benchmarks.peer.langchain import Peer

    out = args.out or Path("bench-results") / (time.strftime("%Y%m%d-%H%M%S") + "-peer")
    corpus = texts.build(args.documents)
    data: dict[str, Any] = {"meta": meta(argv), "corpus": corpus.note, "notes": list(NOTES)}
    peer_backend = "hashing" if args.encoder == "hashing" else "torch"
    encoders = {"semsearch": ceilings.load_backend(args.encoder)}
    encoders["peer"] = (encoders["semsearch"] if peer_backend == args.encoder
                        else ceilings.load_backend(peer_backend))
    data["semsearch_setup"] = f"pgvector, {ENCODER_SETTING[args.encoder]}"
    data["peer_setup"] = f"index() + SQLRecordManager + PGVector, {ENCODER_SETTING[peer_backend]}"
    print(f"== pgvector: starting a stack (encoder {args.encoder})…", flush=True)
    stack = BenchStack("pgvector", encoder=args.encoder)
    target = stack.start()
    try:
        postgres = stack.local.postgres  # None where DATABASE_URL named a server: its read database
        url = postgres.create_database("langchain_peer") if postgres else target.read_database_url
        peer = Peer.open(url or "", encoders["peer"])
        _ingest(args, data, target, peer, corpus, encoders)
        _incremental(args, data, target, peer, corpus)
        _search(args, data, target, peer, corpus)
    finally:
        stack.stop()
    path = peer_report.write(out, data)
    print(f"\nreport: {path}")
    for check in data["checks"]:
        mark = {True: "PASS", False: "FAIL", None: "  – "}[check["pass"]]
        print(f"  {mark}  {check['what']}: {check['value']} (target {check['target']})")
    return 0


NOTES = [
    "Ingest in rounds: each slice of the corpus is ingested by semsearch and by the peer in turn "
    "(who goes first alternates), then the raw encoders are timed on a sample of the same slice; "
    "documents/s are the totals over the rounds. One stack, one PostgreSQL (the peer in a "
    "database of its own); the machine is shared with whatever else ran (load average in meta).",
    "The peer's embeddings: a LangChain Embeddings class calling sentence-transformers on the "
    "packaged model, as HuggingFaceEmbeddings does (langchain-huggingface cannot be installed "
    "beside semsearch's pinned huggingface-hub 2.x with langchain-core 1.x).",
    "PGVector as created by default: no ANN index (exact scan with the JSONB filter).",
    "Searches: the same distinct queries on both, one at a time, alternating who goes first; "
    "semsearch's over HTTP to its query API (one keep-alive client), the peer's in this process.",
]


def _ingest(args: argparse.Namespace, data: dict[str, Any], target: Target, peer: Any,
            corpus: texts.Corpus, encoders: dict[str, Encoder]) -> None:
    docs = corpus.documents
    rounds = max(1, min(args.rounds, len(docs)))
    step = -(-len(docs) // rounds)
    spent = {"semsearch": 0.0, "peer": 0.0}
    raw = {"semsearch": [0, 0.0, 0], "peer": [0, 0.0, 0]}
    """documents, seconds, texts"""
    per_round: dict[str, list[float]] = {"semsearch": [], "peer": [], "raw semsearch": [], "raw peer": []}
    indexed: dict[str, int] = {}
    for r, start in enumerate(range(0, len(docs), step)):
        part = docs[start:start + step]
        print(f"round {r + 1}/{rounds}: documents {start}…{start + len(part) - 1}", flush=True)
        for side in ("semsearch", "peer") if r % 2 == 0 else ("peer", "semsearch"):
            if side == "semsearch":
                seconds = ingest.run(target, part, None)["seconds"]
            else:
                found = peer.index(part, "ingest: peer      ")
                seconds = found.pop("seconds")
                indexed = {k: indexed.get(k, 0) + v for k, v in found.items() if k.startswith("num_")}
            spent[side] += seconds
            per_round[side].append(peer_report.rate(len(part), seconds))
        slice_corpus = texts.Corpus(part, "")
        sampled = sampled_documents(slice_corpus, max(1, round(len(part) * args.ceiling_share)))
        sample = {"semsearch": ceiling_sample(slice_corpus, len(sampled)).texts,
                  "peer": [embedded_text(d["title"], d["body"]) for d in sampled]}
        for side, encoder in encoders.items():
            seconds, _ = ceilings.encode_cost(encoder, sample[side])
            raw[side][0] += len(sampled)
            raw[side][1] += seconds
            raw[side][2] += len(sample[side])
            per_round[f"raw {side}"].append(peer_report.rate(len(sampled), seconds))
    data["ingest"] = {side: {"documents": len(docs), "seconds": round(spent[side], 2),
                             "documents_per_s": peer_report.rate(len(docs), spent[side]),
                             "rounds": per_round[side]} for side in spent}
    data["ingest"]["peer"] |= indexed
    data["raw_encoder"] = {side: {"documents": int(n), "texts_embedded": int(count),
                                  "seconds": round(seconds, 2),
                                  "documents_per_s": peer_report.rate(int(n), seconds),
                                  "rounds": per_round[f"raw {side}"]}
                           for side, (n, seconds, count) in raw.items()}
    data["raw_encoder"]["semsearch"]["texts"] = (
        f"semsearch's raw encoder ({args.encoder}): the passages its worker embeds")
    data["raw_encoder"]["peer"]["texts"] = "the peer's raw encoder: title + body, one text per document"


def _incremental(args: argparse.Namespace, data: dict[str, Any], target: Target, peer: Any,
                 corpus: texts.Corpus) -> None:
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


def _search(args: argparse.Namespace, data: dict[str, Any], target: Target, peer: Any,
            corpus: texts.Corpus) -> None:
    present = sorted({d["category"] for d in corpus.documents})
    rng = random.Random(3)
    queries = texts.queries(args.searches + WARM, seed=11)
    categories = [rng.choice(present) for _ in queries]
    timed: dict[str, list[tuple[float, float]]] = {"semsearch": [], "peer": []}
    with httpx.Client(base_url=target.query_url, timeout=60) as client:
        for n, (query, category) in enumerate(tqdm(list(zip(queries, categories, strict=True)),
                                                   desc="search: both     ", unit="q")):
            for side in ("semsearch", "peer") if n % 2 == 0 else ("peer", "semsearch"):
                seconds = (search_semsearch(client, query, category) if side == "semsearch"
                           else peer.search(query, category, LIMIT))
                if n >= WARM:
                    timed[side].append(seconds)
    data["search"] = {
        "semsearch": {**peer_report.latency([t for t, _ in timed["semsearch"]]),
                      "inside_p50_ms": peer_report.latency([i for _, i in timed["semsearch"]])["p50_ms"],
                      "inside": "the query API's own took_ms",
                      "how": "POST /v1/search with a category filter, limit 10"},
        "peer": {**peer_report.latency([t for t, _ in timed["peer"]]),
                 "inside_p50_ms": peer_report.latency([i for _, i in timed["peer"]])["p50_ms"],
                 "inside": "embedding the query (embed_query)",
                 "how": "embed_query, then PGVector.similarity_search_by_vector(k=10, "
                        "filter={'category': {'$eq': …}}): what similarity_search does"}}

WARM = 10
"""Searches on each side before the timed ones (not counted)."""
