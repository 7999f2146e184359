"""Issue 31, point 5: the operator commands' messages and audit rows say what happened."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from embeddings.encoder import HashingEncoder
from operations import index
from operations.stack import datafolder
from semsearch import cli
from tests.pipeline import Pipeline, pipeline
from tests.services import Services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hashed(services: Services) -> Iterator[Pipeline]:
    with pipeline(services, HashingEncoder()) as p:
        yield p


def act(p: Pipeline, action: str, generation: int | None = None) -> int:
    args = argparse.Namespace(action=action, generation=generation, encoder="hashing",
                              passage_tokens=None, passage_overlap=None, no_passage_title=False,
                              no_passages=False, force=False, articles=1, tolerance=0.0)
    return index.run(p.runtime, args)


def audit_rows(p: Pipeline) -> list[tuple[str, str]]:
    with p.write_engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
            "SELECT route, detail FROM audit_log WHERE route LIKE 'index %' ORDER BY id"))]


@pytest.mark.parametrize("action", ["promote", "drop"])
def test_index_asks_for_the_generation_it_needs(
        action: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(action=action, generation=None)
    assert index.run(None, args) == 2  # type: ignore[arg-type]  (refused before any database)
    assert capsys.readouterr().err == (f"semsearch index {action}: name the generation: "
                                       f"`semsearch index {action} N`\n")


def test_index_drops_a_generation_once_and_audits_it_once(
        hashed: Pipeline, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    p = hashed
    monkeypatch.setattr(index, "DRAIN_S", 0.0)
    assert act(p, "build") == 0
    assert act(p, "drop", 2) == 0
    assert capsys.readouterr().out.endswith("g2: dropped\nserving: g1 (hashing-test-encoder)\n")
    assert act(p, "drop", 2) == 0
    assert capsys.readouterr().out == "g2: already dropped; nothing to do\n"
    rows = audit_rows(p)
    assert [route for route, _ in rows] == ["index build", "index drop"]  # once, not twice
    assert rows[1][1] == "g2 serving=g1"  # no "previous=gNone"


def test_a_reader_that_leaves_early_ends_the_command_quietly() -> None:
    """`semsearch status | head`: no BrokenPipeError traceback, whatever the command."""
    head = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    long_output = ("import sys; from semsearch import cli\n"
                   "def lines(args):\n    for n in range(100_000): print('line', n)\n    return 0\n"
                   "cli.cmd_agreement = lines\nsys.exit(cli.main(['agreement']))")
    done = subprocess.run([sys.executable, "-c", long_output], cwd=ROOT, stdout=head.stdin,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    head.wait(10)
    assert (done.stderr, done.returncode) == ("", 141)


def test_audit_limit_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["audit", "--help"])
    assert re.search(r"--limit LIMIT +at most this many rows", capsys.readouterr().out)


def test_restore_onto_a_held_folder_suggests_only_what_restore_takes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handle = datafolder.lock(tmp_path / "data")
    try:
        (tmp_path / "backup").mkdir()
        (tmp_path / "backup" / "manifest.json").write_text("{}")
        (tmp_path / "backup" / "write.dump").write_text("")
        assert cli.main(["restore", str(tmp_path / "backup"), "--data-dir",
                         str(tmp_path / "data")]) == 1
    finally:
        datafolder.release(tmp_path / "data", handle)
    err = capsys.readouterr().err
    assert "is in use by another semsearch stack" in err and "--temporary" not in err
