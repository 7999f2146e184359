"""CLI handlers for operators: dead letters, reconcile, reindex; each acts on every live
index generation's stores (or on one generation's, ``--generation``), labelled."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable

from command_side import audit, deadletters
from sync_worker import maintenance, runtime
from sync_worker.settings import WorkerSettings


def acting_on(rt: runtime.Runtime, args: argparse.Namespace, building: bool = False) -> list[str]:
    """The stores an operator command acts on, labelled as the read-model bookkeeping names them
    (``weaviate``, ``weaviate@g2``): ``--store`` (else every configured store) of every live
    index generation, or of ``--generation`` alone. A generation still building is left to its
    backfill (``index build``) unless ``building``."""
    live = rt.live_generations()
    if args.generation is not None:
        live = [g for g in live if g.number == args.generation]
        if not live:
            raise maintenance.NotLive(f"index generation {args.generation} is not live "
                                      "(`semsearch index status`)")
    for g in live:
        if g.state == "building" and not building:
            print(f"g{g.number}: building, left to its backfill (`semsearch index build`)")
    families = [args.store] if args.store else rt.settings.sync_stores
    return [g.store(f) for g in live if building or g.state != "building" for f in families]


def operator_command(act: Callable[[runtime.Runtime, argparse.Namespace], int]) -> Callable[
        [argparse.Namespace], int]:
    """``act`` with the worker's runtime, built from the settings and closed after; a store
    that is not live ends it with one line and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        rt = runtime.build(WorkerSettings())
        try:
            return act(rt, args)
        except maintenance.NotLive as exc:
            print(f"semsearch {args.command}: {exc}", file=sys.stderr)
            return 2
        finally:
            rt.close()

    return run


def dlq_on(rt: runtime.Runtime, args: argparse.Namespace) -> int:
    names = acting_on(rt, args, building=True)
    with rt.write_engine.begin() as conn:
        if args.action == "list":
            letters = [d for d in deadletters.list_dead(conn) if d.store in names]
            for letter in letters:
                print(f"{letter.store:<12} {letter.doc_id} v{letter.version:<4} "
                      f"attempts={letter.attempts} at {letter.last_failed_at:%Y-%m-%d %H:%M:%S}"
                      f"\n             {letter.error[:300]}")
            print(f"{len(letters)} dead letter(s) in {', '.join(names)}")
            return 0
        ids = [uuid.UUID(i) for i in args.ids] if args.ids else None
        if ids is None and not args.all:
            print("name document ids to replay, or --all")
            return 2
        replayed = {name: deadletters.replay(conn, ids, name) for name in names}
        print("replayed " + ", ".join(f"{n} from {name}" for name, n in replayed.items()))
    audit.maintenance(rt.write_engine, "dlq replay", " ".join(
        f"store={name} replayed={n}" for name, n in replayed.items()), ids)
    return 0


def reconcile_on(rt: runtime.Runtime, args: argparse.Namespace) -> int:
    left_total = 0
    for store in acting_on(rt, args):
        found, left = maintenance.reconcile(rt, store, apply=args.apply)
        print(f"{store:<12} checked={found.checked} missing={len(found.missing)} "
              f"stale={len(found.stale)} orphaned={len(found.orphaned)} "
              f"stray-passages-of={len(found.strays)}"
              + (f"  → after repair: {left.total} differences" if left is not None else ""))
        left_total += (left.total if left is not None else found.total)
        if store == "weaviate" and len(rt.settings.weaviate_nodes()) > 1:
            left_total += reconcile_nodes(rt)
        if args.apply:
            audit.maintenance(rt.write_engine, "reconcile --apply",
                              f"store={store} differences={found.total}")
    return 0 if left_total == 0 else 1


def reconcile_nodes(rt: runtime.Runtime) -> int:
    """Each Weaviate node on its own (sync_worker/reconcile_nodes.py); its differences."""
    from query_side.stores.base import StoreUnavailable
    from sync_worker.reconcile_nodes import compare_nodes

    try:
        encoder, passages = rt.built_with()
        nodes = compare_nodes(rt.write_engine, rt.settings, encoder.model_id, passages)
    except StoreUnavailable as exc:
        print(f"  a node does not answer, so the nodes are not compared: {exc}")
        return 1
    total = 0
    for url, found in nodes.items():
        print(f"  node {url} checked={found.checked} missing={len(found.missing)} "
              f"stale={len(found.stale)} orphaned={len(found.orphaned)} "
              f"stray-passages-of={len(found.strays)}")
        total += found.total
    return total


def reindex_on(rt: runtime.Runtime, args: argparse.Namespace) -> int:
    left_total = 0
    for store in acting_on(rt, args):
        left = maintenance.reindex(rt, store)
        audit.maintenance(rt.write_engine, "reindex", f"store={store} left={left.total}")
        print(f"{store}: reindexed; {left.total} differences left")
        left_total += left.total
    return 0 if left_total == 0 else 1


dlq = operator_command(dlq_on)
reconcile = operator_command(reconcile_on)
reindex = operator_command(reindex_on)


def audit_log(args: argparse.Namespace) -> int:
    """``semsearch audit``: the audit trail, newest first, filtered."""
    import sqlalchemy as sa

    from command_side import audit as trail
    from command_side.settings import CommandSettings

    engine = sa.create_engine(CommandSettings().database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = trail.find(conn, key=args.key, document=args.document, since=args.since,
                              until=args.until, limit=args.limit)
    finally:
        engine.dispose()
    for row in rows:
        docs = ",".join(f"{d}@v{v}" for d, v in zip(row.doc_ids, row.versions, strict=False)) \
            or ",".join(str(d) for d in row.doc_ids) or "-"
        print(f"{row.at:%Y-%m-%d %H:%M:%S.%f}  {row.key_name:<16} {row.method:<6} {row.route:<28} "
              f"{row.status:>3} {row.outcome:<8} {docs}"
              + (f"  key={row.idempotency_key}" if row.idempotency_key else "")
              + (f"  request={row.request_id}" if row.request_id else "")
              + (f"  ({row.detail})" if row.detail else ""))
    print(f"{len(rows)} row(s)")
    return 0
