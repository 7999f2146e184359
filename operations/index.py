"""``semsearch index status|build|promote|rollback|drop``: index generations (blue-green).

``build`` registers a generation (``building``), backfills each configured store of it from
PostgreSQL's canonical documents in batches, through the worker's own projection (live writes
reach it meanwhile: the workers apply every change to every live generation, and the version
guard makes a backfill racing a live write harmless), then marks it ``ready``. ``promote`` scores
the serving and the new generation's settings (:mod:`operations.quality.gate`) and refuses
when the new one is lower on any set and mode, unless ``--force`` (audited); the switch is one
transaction on the pointer, then the Weaviate alias follows.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator

import sqlalchemy as sa
from tqdm import tqdm

from command_side import audit
from command_side.schema import documents
from embeddings.passages import PassageSettings
from query_side import generations
from query_side.generations import Generation, GenerationError
from query_side.stores.base import StoreUnavailable
from sync_worker import runtime
from sync_worker.projection import project
from sync_worker.settings import WorkerSettings

BACKFILL_BATCH = 64
"""Documents read, embedded and written per step of a backfill."""
ALIAS_SUFFIX = "Serving"
"""The Weaviate alias ``<collection>Serving`` names the serving generation's collection (and
``<collection>ServingPassage`` its passages)."""
DRAIN_S = 10.0
"""``index drop`` removes a generation's tables and collections no sooner than this after the
pointer last moved: every query API process follows the pointer within a second
(``query_side.serving.POINTER_CACHE_S``), and the searches it began on the old generation before
that answer well within this (served p99 under 1 s at 30x overload); a process lets go of the
generation once its last such search has answered."""


def main(args: argparse.Namespace) -> int:
    rt = runtime.build(WorkerSettings())
    try:
        return run(rt, args)
    finally:
        rt.close()


def run(rt: runtime.Runtime, args: argparse.Namespace) -> int:
    """One ``semsearch index`` action with the worker's runtime ``rt``; the exit status."""
    try:
        if args.action in ("promote", "drop") and args.generation is None:
            raise GenerationError(f"name the generation: `semsearch index {args.action} N`")
        rt.live_generations()  # registers generation 1 on a folder that has none yet
        match args.action:
            case "status":
                return status(rt)
            case "build":
                return build(rt, args)
            case "promote":
                return promote(rt, args)
            case _:
                return switch(rt, args.action, args.generation)
    except GenerationError as exc:
        print(f"semsearch index {args.action}: {exc}", file=sys.stderr)
        return 2


def status(rt: runtime.Runtime) -> int:
    from query_side import readmodel

    with rt.read_engine.connect() as conn:
        serving, previous = generations.pointer(conn)
        for g in generations.listing(conn):
            lags = {} if g.state == "dropped" else {
                name: readmodel.lag(conn, g.store(name))["behind"] for name in rt.settings.sync_stores}
            print(f"g{g.number:<3} {g.state:<9} {g.encoder:<22} {g.model_id:<28} "
                  f"passages={g.passages.key:<16} {g.collection}/{g.table}  behind={lags}")
    print(f"serving: g{serving}" + (f"; rollback to g{previous}" if previous else ""))
    return 0


def passage_settings(rt: runtime.Runtime, args: argparse.Namespace) -> PassageSettings:
    base = rt.settings.passage_settings()
    return PassageSettings(
        tokens=args.passage_tokens or base.tokens,
        overlap=base.overlap if args.passage_overlap is None else args.passage_overlap,
        title=base.title and not args.no_passage_title,
        enabled=base.enabled and not args.no_passages)


def build(rt: runtime.Runtime, args: argparse.Namespace) -> int:
    with rt.read_engine.begin() as conn:
        generation = generations.register(conn, args.encoder or rt.settings.encoder,
                                          passage_settings(rt, args))
    print(f"g{generation.number}: building ({generation.encoder}, passages "
          f"{generation.passages.key}) into {generation.collection} / {generation.table}")
    backfill(rt, generation)
    with rt.read_engine.begin() as conn:
        generations.mark_ready(conn, generation.number)
    audit.maintenance(rt.write_engine, "index build", f"g{generation.number} "
                      f"encoder={generation.encoder} passages={generation.passages.key}")
    print(f"g{generation.number}: ready (`semsearch index promote {generation.number}`)")
    return 0


def live_ids(rt: runtime.Runtime, batch: int) -> Iterator[list[tuple[uuid.UUID, int]]]:
    """(id, version) of the live documents, ``batch`` at a time in id order."""
    after = None
    while True:
        query = sa.select(documents.c.id, documents.c.version).where(
            documents.c.deleted_at.is_(None)).order_by(documents.c.id).limit(batch)
        if after is not None:
            query = query.where(documents.c.id > after)
        with rt.write_engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        yield [(row.id, row.version) for row in rows]
        after = rows[-1].id


def backfill(rt: runtime.Runtime, generation: Generation) -> None:
    with rt.write_engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(documents).where(
            documents.c.deleted_at.is_(None))).scalar_one()
    stores = [rt.generation_store(name, generation) for name in rt.settings.sync_stores]
    peers = [s.name for s in stores]
    encoder = rt.encoder_for(generation.encoder)
    with tqdm(total=total, desc=f"g{generation.number}", unit="doc") as bar:
        for part in live_ids(rt, BACKFILL_BATCH):
            changes = [(doc_id, version, 0) for doc_id, version in part]
            for store in stores:
                project(store, changes, rt.write_engine, rt.read_engine,
                        encoder, peers=peers, passages=generation.passages, ack=False)
            bar.update(len(part))


def promote(rt: runtime.Runtime, args: argparse.Namespace) -> int:
    from embeddings import Encoder
    from operations.quality import gate

    with rt.read_engine.connect() as conn:
        serving, _ = generations.pointer(conn)
        known = {g.number: g for g in generations.listing(conn)}
    if args.generation not in known:
        raise GenerationError(f"no generation {args.generation}")
    old, new = known[serving], known[args.generation]
    generations.switched({g.number: g.state for g in known.values()}, serving, None, "promote",
                         new.number)  # refuses a generation that is not ready before scoring it
    sets = gate.small_sets(args.articles)
    encoders: dict[str, Encoder] = {g.encoder: rt.encoder_for(g.encoder) for g in (old, new)}
    print(f"relevance gate: nDCG@10 of g{old.number} and g{new.number} on {len(sets)} labelled "
          f"sets, {sum(len(s.queries) for s in sets)} queries in {len(gate.MODES)} modes",
          file=sys.stderr, flush=True)
    before = gate.scores(encoders[old.encoder], old.passages, sets, progress=f"g{old.number}")
    after = gate.scores(encoders[new.encoder], new.passages, sets, progress=f"g{new.number}")
    print(f"nDCG@10        g{old.number} ({old.model_id})   g{new.number} ({new.model_id})")
    for key in before:
        print(f"  {key:<18} {before[key]:.4f}   {after[key]:.4f}")
    worse = gate.lower(before, after, args.tolerance)
    detail = f"g{old.number}->g{new.number} " + " ".join(
        f"{k.replace(' ', ':')}={before[k]:.4f}->{after[k]:.4f}" for k in before)
    if worse and not args.force:
        print(f"refused: g{new.number} scores lower on {', '.join(worse)} by more than "
              f"{args.tolerance} (--force overrides)",
              file=sys.stderr)
        return 1
    if worse:
        audit.maintenance(rt.write_engine, "index promote --force", f"lower on {worse}; {detail}")
    return switch(rt, "promote", new.number, detail)


def switch(rt: runtime.Runtime, action: str, number: int | None, detail: str = "") -> int:
    """Promote, roll back or drop: one transaction on the pointer; then the Weaviate alias
    follows, and a dropped generation's stores are removed (after :data:`DRAIN_S` from the
    pointer's last move, if that was more recent)."""
    with rt.read_engine.begin() as conn:
        if action == "drop" and any(g.number == number and g.state == "dropped"
                                    for g in generations.listing(conn)):
            print(f"g{number}: already dropped; nothing to do")
            return 0
        since = generations.seconds_since_switch(conn)  # (before this action moves it)
        serving, previous = generations.apply(conn, action, number)
        known = {g.number: g for g in generations.listing(conn)}
    audit.maintenance(rt.write_engine, f"index {action}", " ".join(filter(None, (
        f"g{number}" if number is not None else "", f"serving=g{serving}",
        f"previous=g{previous}" if previous is not None else "", detail))))
    if action == "drop":
        assert number is not None
        if (wait := DRAIN_S - since) > 0:
            print(f"g{number}: no longer live; its stores are removed in {wait:.1f}s, when "
                  "searches begun on it before the last switch have answered", flush=True)
            time.sleep(wait)
        remove_stores(rt, known[number])
        print(f"g{number}: dropped")
    elif "weaviate" in rt.settings.sync_stores:
        try:
            store = rt.generation_store("weaviate", known[serving])
            store.point_alias(rt.settings.weaviate_collection + ALIAS_SUFFIX)  # type: ignore[attr-defined]
        except StoreUnavailable as exc:  # the switch is done; only direct Weaviate readers lag
            print(f"warning: Weaviate alias not moved ({exc}); the query API follows the "
                  "pointer regardless", file=sys.stderr)
    print(f"serving: g{serving} ({known[serving].model_id})"
          + (f"; rollback to g{previous}" if previous else ""))
    return 0


def remove_stores(rt: runtime.Runtime, generation: Generation) -> None:
    """Delete a dropped generation's tables and collections, at once (``index drop`` first
    waits out :data:`DRAIN_S`)."""
    for name in rt.settings.sync_stores:
        store = rt.generation_store(name, generation)
        store.drop()  # type: ignore[attr-defined]
        rt.stores.pop(store.name, None)
        store.close()
