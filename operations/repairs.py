"""CLI handlers for operators: dead letters, reconcile, reindex."""

from __future__ import annotations

import argparse
import uuid

from command_side import audit, deadletters
from sync_worker import maintenance, runtime
from sync_worker.settings import WorkerSettings


def dlq(args: argparse.Namespace) -> int:
    settings = WorkerSettings()
    rt = runtime.build(settings)
    try:
        with rt.write_engine.begin() as conn:
            if args.action == "list":
                letters = deadletters.list_dead(conn, args.store)
                for letter in letters:
                    print(f"{letter.store:<9} {letter.doc_id} v{letter.version:<4} "
                          f"attempts={letter.attempts} at {letter.last_failed_at:%Y-%m-%d %H:%M:%S}"
                          f"\n          {letter.error[:300]}")
                print(f"{len(letters)} dead letter(s)")
                return 0
            ids = [uuid.UUID(i) for i in args.ids] if args.ids else None
            if ids is None and not args.all:
                print("name document ids to replay, or --all")
                return 2
            replayed = deadletters.replay(conn, ids, args.store)
            print(f"replayed {replayed} dead letter(s)")
        audit.maintenance(rt.write_engine, "dlq replay",
                          f"store={args.store or 'all'} replayed={replayed}", ids)
        return 0
    finally:
        rt.close()


def reconcile(args: argparse.Namespace) -> int:
    settings = WorkerSettings()
    rt = runtime.build(settings)
    left_total = 0
    try:
        for store in [args.store] if args.store else settings.sync_stores:
            found, left = maintenance.reconcile(rt, store, apply=args.apply)
            print(f"{store:<9} checked={found.checked} missing={len(found.missing)} "
                  f"stale={len(found.stale)} orphaned={len(found.orphaned)} "
                  f"stray-passages-of={len(found.strays)}"
                  + (f"  → after repair: {left.total} differences" if left is not None else ""))
            left_total += (left.total if left is not None else found.total)
            if store == "weaviate" and len(settings.weaviate_nodes()) > 1:
                left_total += reconcile_nodes(rt)
            if args.apply:
                audit.maintenance(rt.write_engine, "reconcile --apply",
                                  f"store={store} differences={found.total}")
    finally:
        rt.close()
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


def reindex(args: argparse.Namespace) -> int:
    rt = runtime.build(WorkerSettings())
    try:
        left = maintenance.reindex(rt, args.store)
        audit.maintenance(rt.write_engine, "reindex", f"store={args.store} left={left.total}")
    finally:
        rt.close()
    print(f"{args.store}: reindexed; {left.total} differences left")
    return 0 if left.total == 0 else 1


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
