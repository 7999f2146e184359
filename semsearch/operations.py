"""CLI handlers for operators: dead letters, reconcile, reindex."""

from __future__ import annotations

import argparse
import uuid

from command_side import deadletters
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
            print(f"replayed {deadletters.replay(conn, ids, args.store)} dead letter(s)")
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
    finally:
        rt.close()
    return 0 if left_total == 0 else 1


def reindex(args: argparse.Namespace) -> int:
    rt = runtime.build(WorkerSettings())
    try:
        left = maintenance.reindex(rt, args.store)
    finally:
        rt.close()
    print(f"{args.store}: reindexed; {left.total} differences left")
    return 0 if left.total == 0 else 1
