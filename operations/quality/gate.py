"""The relevance gate of ``semsearch index promote``: nDCG@10 of two index generations' settings.

Each generation's encoder and passage settings embed a small labelled set (:mod:`operations.quality.labelled`:
the first few articles of the headings and long sets) exactly as the worker would
(``sync_worker.projection.build_records``) into an in-memory store, and every query is searched
there in each mode within its set. Exact search on the same documents for both generations: the
figures differ only by what a generation changes (model, passages), never by ANN noise or a store's
load, and a run costs seconds, not a stack per generation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

from embeddings import Encoder
from embeddings.passages import PassageSettings
from operations.quality import labelled
from operations.quality.metrics import K, ndcg
from query_side.stores.base import Filters, Mode
from query_side.stores.memory import MemoryStore

DEFAULT_ARTICLES = 3
"""Articles per labelled set: tens of documents, a few dozen queries (seconds on a CPU)."""
DEFAULT_TOLERANCE = 0.0
"""nDCG@10 a new generation may lose on a set and mode and still be promoted: none by default.
Sets this small are noisy: measured here (2026-12-06, headings set, semantic mode), ONNX int8
against torch fp32 scored -0.016 at 1 article, -0.007 at 2, +0.015 at 3; the hashing test
encoder -0.39 to -0.51 (semantic) and -0.16 to -0.20 (hybrid). An operator who accepts a small
loss says so with ``--tolerance`` (printed with the verdict), or overrides with ``--force``."""
MODES: tuple[Mode, ...] = ("semantic", "hybrid", "keyword")


def small_sets(articles: int = DEFAULT_ARTICLES) -> list[labelled.LabelledSet]:
    return [labelled.headings(article_limit=articles, query_limit=30),
            labelled.long(article_limit=articles, per_article=3)]


def _rows(sets: Sequence[labelled.LabelledSet]) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=uuid.UUID(d["id"]), version=1, title=d["title"], body=d["body"],
                            category=d.get("category"), tags=d.get("tags", []),
                            attributes=d.get("attributes", {}), published_at=None)
            for s in sets for d in s.documents]


def scores(encoder: Encoder, passages: PassageSettings, sets: Sequence[labelled.LabelledSet],
           modes: Sequence[Mode] = MODES, progress: str | None = None) -> dict[str, float]:
    """``"<set> <mode>"`` → mean nDCG@10 of the set's queries, for one generation's settings.
    ``progress``: shown on stderr (tqdm, as ``index build`` and ``bench`` do) with the documents
    embedded, then each set and mode as its queries are searched; None: silent."""
    from sync_worker.projection import build_records

    rows = _rows(sets)
    with tqdm(total=len(rows) + sum(len(s.queries) for s in sets) * (1 + len(modes)),
              desc=f"{progress}: embedding {len(rows)} documents", unit="step",
              disable=progress is None) as bar:
        store = MemoryStore()
        store.upsert(build_records(rows, encoder, passages))
        bar.update(len(rows))
        out = {}
        for labelled_set in sets:
            bar.set_description(f"{progress}: {labelled_set.name}, embedding queries")
            texts = [q.text for q in labelled_set.queries]
            vectors = encoder.encode(texts)
            bar.update(len(texts))
            for mode in modes:
                bar.set_description(f"{progress}: {labelled_set.name} {mode}, {len(texts)} queries")
                out[f"{labelled_set.name} {mode}"] = _mean_ndcg(store, labelled_set, texts,
                                                                vectors, mode)
                bar.update(len(texts))
    return out


def _mean_ndcg(store: MemoryStore, labelled_set: labelled.LabelledSet, texts: list[str],
               vectors: np.ndarray, mode: Mode) -> float:
    filters = Filters(tags_any=[labelled_set.tag])
    found = [store.search(None if mode == "keyword" else vector, filters, K, mode=mode, text=text)
             for text, vector in zip(texts, vectors, strict=True)]
    return sum(ndcg([str(h.id) for h in hits], q.relevant)
               for hits, q in zip(found, labelled_set.queries, strict=True)) / max(1, len(texts))


def lower(current: dict[str, float], candidate: dict[str, float],
          tolerance: float = 0.0) -> list[str]:
    """The set/mode pairs where ``candidate`` scores below ``current`` (by more than
    ``tolerance``)."""
    return [key for key in current if candidate.get(key, 0.0) < current[key] - tolerance]
