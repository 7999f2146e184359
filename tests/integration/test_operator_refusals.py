"""Issue 31, point 1: every operator command runs on a running stack's folder or on the URLs
given, or refuses in one line naming the folder; never on a built-in default address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from operations.stack import datafolder
from operations.stack.datafolder import NoStack, operator_env
from semsearch import cli

ROOT = Path(__file__).resolve().parents[2]
URLS = ("DATABASE_URL", "READ_DATABASE_URL", "REDIS_URL", "WEAVIATE_URL")
COMMANDS = (["status"], ["status", "--json"], ["reconcile"], ["dlq", "list"], ["audit"],
            ["index", "status"], ["reindex", "--store", "pgvector"], ["backup", "BACKUP"],
            ["migrate"])


def stopped_stack(folder: Path) -> Path:
    """A folder a stack ran on and left: its stack.json names a database, nothing holds it."""
    handle = datafolder.lock(folder)
    datafolder.record(folder, {"pid": 1, "state": "running", "env": {
        "DATABASE_URL": "postgresql+psycopg://semsearch@127.0.0.1:5432/semsearch"}})
    handle.close()  # (released as a killed stack's lock is; stack.json stays behind)
    return folder


def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an operator command reached for a database: {args} {kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(psycopg.Connection, "connect", refuse)
    monkeypatch.setattr(sqlalchemy, "create_engine", refuse)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("where", ["missing", "stopped"])
def test_operator_command_without_stack_or_url_refuses(
        command: list[str], where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in URLS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "nope" if where == "missing" else stopped_stack(tmp_path / "data")
    no_connections(monkeypatch)
    argv = [str(tmp_path / "b") if part == "BACKUP" else part for part in command]
    assert cli.main([*argv, "--data-dir", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and f"no stack runs on {folder} " in err, err
    assert not (tmp_path / "b").exists()


def test_refusal_is_one_line_fast_and_without_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in URLS}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "semsearch.cli", "status", "--data-dir",
                           str(tmp_path / "nope")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert time.monotonic() - started < 5
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"semsearch status: no stack runs on {tmp_path / 'nope'} (no such "
                           "folder) and DATABASE_URL is not set: start one with `semsearch up "
                           "--data-dir …`, or set DATABASE_URL\n")


def test_resolver_takes_given_urls_then_a_running_stack_else_refuses(tmp_path: Path) -> None:
    given = "postgresql+psycopg://u@db.example:6543/w"
    assert operator_env(tmp_path, {"DATABASE_URL": given}) == {"READ_DATABASE_URL": given}
    assert operator_env(tmp_path, {"DATABASE_URL": given, "READ_DATABASE_URL": "r"}) == {}
    with pytest.raises(NoStack, match=rf"no stack runs on {tmp_path / 'x'} \(no such folder\)"):
        operator_env(tmp_path / "x", {"READ_DATABASE_URL": "r", "REDIS_URL": "redis://h"})
    handle = datafolder.lock(tmp_path)
    try:
        datafolder.record(tmp_path, {"env": {"DATABASE_URL": given, "STORE": "pgvector"}})
        assert operator_env(tmp_path, {}) == {"DATABASE_URL": given, "STORE": "pgvector"}
    finally:
        datafolder.release(tmp_path, handle)
    with pytest.raises(NoStack, match=rf"no stack runs on {tmp_path} and DATABASE_URL is not"):
        operator_env(tmp_path, {})
