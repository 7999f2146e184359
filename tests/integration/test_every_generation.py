"""Operator commands see every live index generation, labelled (``pgvector@g2``), and name a
model as a search names it (issue 31, points 2, 4 and 8).

Generation 1 is the hashing test encoder, generation 2 (ready, not serving) the ONNX int8 model
with shorter passages: a repair of generation 2 by generation 1's settings would find every
document stale, so these also show each generation is compared by its own encoder.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from command_side import deadletters
from embeddings import HashingEncoder
from embeddings.onnx import ONNX_INT8_MODEL
from operations import index, repairs
from operations.backup import backup
from operations.status import collect
from query_side import generations
from sync_worker import maintenance
from sync_worker.projection import GONE
from tests.pipeline import Pipeline, pipeline
from tests.services import Services


@pytest.fixture
def two(services: Services) -> Iterator[Pipeline]:
    """Three documents in generation 1 (serving) and generation 2 (ready)."""
    with pipeline(services, HashingEncoder()) as p:
        for n in range(3):
            p.create(title=f"Comet {n}", body=f"Comet {n} passes the Sun every {70 + n} years.")
        p.sync()
        assert operate(p, index.run, action="build", encoder="onnx", passage_tokens=40) == 0
        yield p


def operate(p: Pipeline, command: Any, **given: Any) -> int:
    """An operator command's handler on the pipeline's runtime, as the CLI parses it."""
    args = argparse.Namespace(
        command="test", action=None, generation=None, encoder=None, passage_tokens=None,
        passage_overlap=None, no_passage_title=False, no_passages=False, force=False,
        articles=1, tolerance=0.0, store=None, apply=False, ids=[], all=False)
    vars(args).update(given)
    return int(command(p.runtime, args))


def test_status_reconcile_reindex_and_dlq_act_on_every_live_generation_labelled(
        two: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    p = two
    report: Any = collect(p.worker_settings)
    assert [(g["number"], g["state"]) for g in report["generations"]] == [(1, "serving"),
                                                                         (2, "ready")]
    assert {name: s["documents"] for name, s in report["stores"].items()} == {
        "pgvector": 3, "pgvector@g2": 3}

    lost = uuid.UUID(p.search("comet")["hits"][0]["id"])
    second = next(g for g in p.runtime.live_generations() if g.number == 2)
    p.runtime.generation_store("pgvector", second).delete([(lost, GONE)])  # by hand
    capsys.readouterr()
    assert operate(p, repairs.reconcile_on) == 1
    shown = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in shown] == [
        ["pgvector", "checked=3", "missing=0", "stale=0"],
        ["pgvector@g2", "checked=2", "missing=1", "stale=0"]]
    assert operate(p, repairs.reconcile_on, generation=2, apply=True) == 0
    assert capsys.readouterr().out.startswith("pgvector@g2 ")
    assert operate(p, repairs.reindex_on, store="pgvector") == 0
    assert "pgvector: reindexed" in (out := capsys.readouterr().out)
    assert "pgvector@g2: reindexed; 0 differences left" in out
    with pytest.raises(maintenance.NotLive, match="generation 3 is not live"):
        operate(p, repairs.reconcile_on, generation=3)

    with p.write_engine.begin() as conn:
        assert deadletters.record_failure(conn, "pgvector@g2", lost, 1, "boom", max_attempts=1)
    capsys.readouterr()
    assert operate(p, repairs.dlq_on, action="list", generation=1) == 0
    assert capsys.readouterr().out.endswith("0 dead letter(s) in pgvector\n")
    assert operate(p, repairs.dlq_on, action="list") == 0
    assert f"pgvector@g2  {lost} v1" in capsys.readouterr().out
    assert operate(p, repairs.dlq_on, action="replay", all=True) == 0
    assert p.outbox(str(lost))[-1].pending_stores == ["pgvector"]  # the queue a worker takes
    p.sync()
    assert p.outbox(str(lost))[-1].pending_stores == []


def test_promote_shows_progress_and_the_model_is_named_alike_everywhere(
        two: Pipeline, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = two
    capsys.readouterr()
    assert operate(p, index.run, action="promote", generation=2, force=True) == 0
    progress = capsys.readouterr().err
    assert "relevance gate: nDCG@10 of g1 and g2 on 2 labelled sets" in progress
    for shown in ("g1: embedding", "g2: headings semantic", "g2: long keyword", "100%"):
        assert shown in progress, progress

    deadline = time.monotonic() + 30
    while (searched := p.search("comet"))["generation"] != 2:  # (the pointer, within a second)
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status: Any = collect(p.worker_settings)
    serving = next(g for g in status["generations"] if g["state"] == "serving")
    manifest = backup(p.worker_settings.database_url, tmp_path / "backup",
                      p.worker_settings.read_database_url)
    assert searched["generation"] == serving["number"] == manifest["index_generation"] == 2
    assert searched["model_id"] == serving["model_id"] == manifest["model_id"] == ONNX_INT8_MODEL
    assert serving["encoder"] == manifest["encoder"] == "onnx"
    assert generations.MODEL_IDS[serving["encoder"]] == serving["model_id"]
