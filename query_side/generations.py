"""Index generations (blue-green): a read model per (encoder, passage settings), and a pointer.

A generation is one encoder with one set of passage settings, held in its own Weaviate
collection and pgvector table. Generation 1 is what a data folder already has (collection
``Document``, table ``read_documents``): it is registered the first time anyone looks, so an
existing folder needs no migration. A new generation is ``building`` while it is backfilled
from PostgreSQL (live writes reach it too), ``ready`` once full; ``promote`` makes it
``serving`` and the one it replaces ``previous`` (``rollback`` swaps them back); ``drop``
retires any but the serving one. The pointer (``index_pointer``) is one row changed in one
transaction, announced on ``POINTER_CHANNEL``.

Each generation's stores have names of their own for the read-model bookkeeping
(``projection_state``, lag, consistency tokens): ``pgvector`` and ``weaviate`` for generation
1, ``pgvector@g2`` and ``weaviate@g2`` for generation 2, and so on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from embeddings.onnx import ONNX_FP32_MODEL, ONNX_INT8_MODEL
from embeddings.passages import PassageSettings
from query_side.settings import StoreSettings
from query_side.stores.base import VectorStore
from query_side.stores.factory import open_store

LIVE = ("building", "ready", "serving", "previous")
"""States whose stores the worker keeps up to date."""
POINTER_CHANNEL = "semsearch_generation_changed"

MODEL_IDS = {"sentence-transformers": "all-MiniLM-L6-v2", "onnx": ONNX_INT8_MODEL,
             "onnx-fp32": ONNX_FP32_MODEL, "hashing": "hashing-test-encoder"}
"""Encoder kind → the model id its encoder records (embeddings.encoder, embeddings.onnx)."""

DDL = [
    """
    CREATE TABLE IF NOT EXISTS index_generations (
        number integer PRIMARY KEY,
        encoder text NOT NULL,
        model_id text NOT NULL,
        passages jsonb NOT NULL,
        collection text NOT NULL,
        pg_table text NOT NULL,
        state text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        ready_at timestamptz,
        serving_since timestamptz,
        dropped_at timestamptz
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS index_pointer (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        serving integer NOT NULL,
        previous integer,
        changed_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]


class GenerationError(Exception):
    """A generation command that cannot be done as asked (the CLI prints it)."""


@dataclass(frozen=True)
class Generation:
    number: int
    encoder: str
    model_id: str
    passages: PassageSettings
    collection: str
    table: str
    state: str

    def store(self, family: str) -> str:
        return store_name(family, self.number)


def store_name(family: str, number: int) -> str:
    """The bookkeeping name of store ``family`` (pgvector, weaviate) in generation ``number``."""
    return family if number == 1 else f"{family}@g{number}"


def split_store_name(name: str) -> tuple[str, int]:
    family, _, suffix = name.partition("@g")
    return family, int(suffix) if suffix else 1


def names_for(number: int, collection: str, table: str) -> tuple[str, str]:
    """Generation ``number``'s Weaviate collection and pgvector table, from generation 1's."""
    if number == 1:
        return collection, table
    return f"{collection}G{number}", f"{table}_g{number}"


def passages_json(settings: PassageSettings) -> str:
    return json.dumps({"tokens": settings.tokens, "overlap": settings.overlap,
                       "title": settings.title, "enabled": settings.enabled})


def ensure(conn: Connection, encoder: str, passages: PassageSettings, collection: str,
           table: str) -> None:
    """The tables, and generation 1 (the settings' encoder and passages) serving if none is."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(8675310)"))
    for statement in DDL:
        conn.execute(sa.text(statement))
    if conn.execute(sa.text("SELECT 1 FROM index_pointer")).first() is None:
        encoder = _encoder_that_made(conn) or encoder
        _insert(conn, 1, encoder, passages, collection, table, "serving")
        conn.execute(sa.text("INSERT INTO index_pointer (serving) VALUES (1)"))


def _encoder_that_made(conn: Connection) -> str | None:
    """The encoder whose vectors fill a folder made before generations (its embedding cache), so
    that generation 1 records what its stores hold, not a default that changed since; None for a
    new folder."""
    if conn.execute(sa.text("SELECT to_regclass('embedding_cache')")).scalar() is None:
        return None
    model = conn.execute(sa.text("SELECT model_id FROM embedding_cache GROUP BY model_id "
                                 "ORDER BY count(*) DESC LIMIT 1")).scalar()
    return {m: kind for kind, m in MODEL_IDS.items()}.get(model) if model else None


def _insert(conn: Connection, number: int, encoder: str, passages: PassageSettings,
            collection: str, table: str, state: str) -> None:
    conn.execute(sa.text(
        "INSERT INTO index_generations (number, encoder, model_id, passages, collection, "
        "pg_table, state, serving_since) VALUES (:n, :e, :m, CAST(:p AS jsonb), :c, :t, :s, "
        "CASE WHEN :s = 'serving' THEN now() END)"),
        {"n": number, "e": encoder, "m": MODEL_IDS[encoder], "p": passages_json(passages),
         "c": collection, "t": table, "s": state})


def listing(conn: Connection) -> list[Generation]:
    rows = conn.execute(sa.text(
        "SELECT number, encoder, model_id, passages, collection, pg_table, state "
        "FROM index_generations ORDER BY number"))
    return [Generation(r.number, r.encoder, r.model_id, PassageSettings(**r.passages),
                       r.collection, r.pg_table, r.state) for r in rows]


def live(conn: Connection) -> list[Generation]:
    return [g for g in listing(conn) if g.state in LIVE]


def pointer(conn: Connection) -> tuple[int, int | None]:
    """(serving, previous) generation numbers."""
    row = conn.execute(sa.text("SELECT serving, previous FROM index_pointer")).one()
    return int(row.serving), row.previous


def seconds_since_switch(conn: Connection) -> float:
    """Seconds since the pointer last moved (by the database's clock)."""
    return float(conn.execute(sa.text(
        "SELECT extract(epoch FROM now() - changed_at) FROM index_pointer")).scalar_one())


def register(conn: Connection, encoder: str, passages: PassageSettings) -> Generation:
    """A new generation, ``building``, with names derived from generation 1's."""
    conn.execute(sa.text("SELECT 1 FROM index_pointer FOR UPDATE"))  # one number per build
    first = conn.execute(sa.text(
        "SELECT collection, pg_table FROM index_generations WHERE number = 1")).one()
    number = conn.execute(sa.text(
        "SELECT max(number) + 1 FROM index_generations")).scalar_one()
    collection, table = names_for(number, first.collection, first.pg_table)
    _insert(conn, number, encoder, passages, collection, table, "building")
    return next(g for g in listing(conn) if g.number == number)


def mark_ready(conn: Connection, number: int) -> None:
    conn.execute(sa.text("UPDATE index_generations SET state = 'ready', ready_at = now() "
                         "WHERE number = :n AND state = 'building'"), {"n": number})


def switched(states: dict[int, str], serving: int, previous: int | None, action: str,
             number: int | None = None) -> tuple[dict[int, str], int, int | None]:
    """The states and pointer after ``promote`` (to ``number``), ``rollback`` or ``drop``
    (``number``); raises GenerationError when it may not be done. Pure."""
    new = dict(states)
    if action == "rollback":
        if previous is None or states.get(previous) != "previous":
            raise GenerationError("no previous generation to roll back to")
        action, number = "promote", previous
    if number not in states:
        raise GenerationError(f"no generation {number}")
    if action == "drop":
        if number == serving:
            raise GenerationError(f"generation {number} is serving: promote another first")
        new[number] = "dropped"
        return new, serving, None if previous == number else previous
    if number == serving:
        raise GenerationError(f"generation {number} is already serving")
    if states[number] not in ("ready", "previous"):
        raise GenerationError(f"generation {number} is {states[number]}, not ready")
    if previous is not None and new.get(previous) == "previous":
        new[previous] = "ready"
    new[serving], new[number] = "previous", "serving"
    return new, number, serving


def apply(conn: Connection, action: str, number: int | None = None) -> tuple[int, int | None]:
    """Do ``action`` in one transaction, the pointer row locked; returns (serving, previous)."""
    conn.execute(sa.text("SELECT 1 FROM index_pointer FOR UPDATE"))
    serving, previous = pointer(conn)
    states = {g.number: g.state for g in listing(conn)}
    new, serving, previous = switched(states, serving, previous, action, number)
    for n, state in new.items():
        if state != states[n]:
            conn.execute(sa.text(
                "UPDATE index_generations SET state = :s, "
                "serving_since = CASE WHEN :s = 'serving' THEN now() ELSE serving_since END, "
                "dropped_at = CASE WHEN :s = 'dropped' THEN now() ELSE dropped_at END "
                "WHERE number = :n"), {"s": state, "n": n})
    conn.execute(sa.text("UPDATE index_pointer SET serving = :s, previous = :p, changed_at = now()"),
                 {"s": serving, "p": previous})
    conn.execute(sa.text("SELECT pg_notify(:c, :s)"), {"c": POINTER_CHANNEL, "s": str(serving)})
    return serving, previous


def ensure_registered(engine: Engine, settings: StoreSettings) -> None:
    """The generation tables, with generation 1 taken from ``settings`` if none is registered."""
    with engine.begin() as conn:
        ensure(conn, settings.encoder, settings.passage_settings(), settings.weaviate_collection,
               settings.pgvector_table)


def open_generation_store(family: str, generation: Generation, settings: StoreSettings,
                          read_engine: Engine) -> VectorStore:
    """Store ``family`` of ``generation``: its own table or collection, its own store name."""
    scoped = settings.model_copy(update={"pgvector_table": generation.table,
                                         "weaviate_collection": generation.collection})
    store = open_store(family, scoped, read_engine)
    store.name = generation.store(family)
    return store
