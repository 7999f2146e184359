"""``semsearch demo``: the whole stack, real paragraphs through the command API, real searches."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
from tqdm import tqdm

from operations import corpus
from operations.stack.local import LocalStack, StackConfig, pick_ports

BATCH = 100
ARTICLES = ["Moon", "Sun", "Sea"]
"""Imported whole, one document each (60–70 KB, 90–100 passages): every part is searchable."""
WHOLE = {"tags_any": ["whole-article"]}
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("how did the moon form", {}),
    ("the causes of inflation and unemployment", {}),
    ("ancient trade routes across the sea", {}),
    ("how did the moon form", {"category": ["Moon", "Sun"]}),
    ("rules of behaviour and morality", {"tags_any": ["lead"]}),
    ("music instruments", {"attributes": {"paragraph": {"lt": 5}}}),
    ("why are there two high tides a day", WHOLE),
    ("how hot is the core of the sun", WHOLE),
]


def import_documents(client: httpx.Client, count: int) -> list[str]:
    """Bulk-import ``count`` paragraphs with a progress bar; returns one token per batch."""
    tokens = []
    docs = itertools.chain((corpus.article(name) for name in ARTICLES), corpus.documents(count))
    with tqdm(total=count + len(ARTICLES), desc="importing", unit="doc") as bar:
        while batch := list(itertools.islice(docs, BATCH)):
            reply = client.post("/v1/documents/bulk", json={"documents": batch})
            reply.raise_for_status()
            tokens.append(reply.json()["token"])
            bar.update(len(batch))
    return tokens


def wait_searchable(client: httpx.Client, tokens: list[str]) -> float:
    """Read-your-writes: a search carrying each batch's token returns once it is searchable."""
    started = time.monotonic()
    with tqdm(total=len(tokens), desc="indexing ", unit="batch") as bar:
        for token in tokens:
            while True:
                reply = client.post("/v1/search", json={
                    "query": "x", "limit": 1, "token": token, "wait_ms": 10_000})
                if reply.status_code != 409:
                    reply.raise_for_status()
                    break
            bar.update(1)
    deadline = time.monotonic() + 120  # then let every store catch up, so the preferred one serves
    while time.monotonic() < deadline:
        stores = client.get("/readyz").json()["stores"]
        if all(s["behind"] == 0 for s in stores.values()):
            break
        time.sleep(0.2)
    return time.monotonic() - started


def show(client: httpx.Client, query: str, filters: dict[str, Any]) -> None:
    reply = client.post("/v1/search", json={"query": query, "filters": filters, "limit": 5})
    reply.raise_for_status()
    body = reply.json()
    where = f"  filters={filters}" if filters else ""
    print(f"\n> {query!r}{where}   [{body['store']}, {body['took_ms']:.0f} ms]")
    for rank, hit in enumerate(body["hits"], 1):
        print(f"  {rank}. {hit['score']:.3f}  {hit['title'][:70]}")
        best = hit["passages"][0] if hit["passages"] else None
        where = f" [chars {best['start']}–{best['end']}]" if best and best["start"] > 0 else ""
        print(f"     {hit['snippet'][:110]}{where}")


def run_demo(count: int, store: str, keep_running: bool) -> int:
    config = StackConfig(store=store)  # type: ignore[arg-type]
    stack = LocalStack(pick_ports(config) if not keep_running else config)
    print("starting PostgreSQL, Redis, Weaviate (if available), relay, worker and both APIs…")
    stack.start()
    try:
        for note in stack.notes:
            print(note)
        with httpx.Client(base_url=stack.command_url, timeout=120) as commands, \
                httpx.Client(base_url=stack.query_url, timeout=120) as queries:
            started = time.monotonic()
            tokens = import_documents(commands, count)
            waited = wait_searchable(queries, tokens)
            elapsed = time.monotonic() - started
            total = count + len(ARTICLES)
            print(f"{total} documents ({count} paragraphs, {len(ARTICLES)} whole articles) written "
                  f"and searchable in {elapsed:.1f}s ({total / elapsed:.0f} docs/s; "
                  f"{waited:.1f}s waiting for the index)")
            for query, filters in QUERIES:
                show(queries, query, filters)
        if keep_running:
            print(f"\nstack still up: {stack.command_url} {stack.query_url}; Ctrl-C stops it")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0
