"""``semsearch bench relevance`` end to end on tiny sets: a real stack per store and passage
setting (hashing encoder), the output folder's shape and figures in range. Quality targets are
not asserted here: the hashing encoder is a stand-in."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import cli

STS_LINES = ("main\tx\t2012\t1\t4.0\tA man plays a guitar.\tA man is playing a guitar.",
             "main\tx\t2012\t2\t0.5\tA cat sleeps.\tThe stock market fell.",
             "main\tx\t2012\t3\t2.5\tA dog runs.\tA dog is running in a park.")


def tiny(tmp_path: Path, store: str, passages: str) -> list[str]:
    sts = tmp_path / "sts-test.csv"
    sts.write_text("\n".join(STS_LINES) + "\n")
    return ["relevance", "--store", store, "--passages", passages, "--encoder", "hashing",
            "--sts", "hashing", "--sts-file", str(sts), "--heading-articles", "2",
            "--heading-queries", "8", "--long-articles", "2", "--long-queries", "2",
            "--ann-documents", "150", "--ann-queries", "8", "--clients", "2",
            "--out", str(tmp_path / "run")]


def check_run(out: Path, store: str, settings: list[str]) -> dict:  # type: ignore[type-arg]
    data = json.loads((out / "results.json").read_text())
    assert set(data["runs"][store]) == set(settings)
    for setting in settings:
        found = data["runs"][store][setting]
        assert "error" not in found, found
        for name in ("headings", "long"):
            for mode in ("semantic", "keyword", "hybrid"):
                measured = found["relevance"][name][mode]
                assert measured["queries"] == data["sets"][name]["queries"] > 0
                assert all(0 <= measured[m] <= 1 for m in ("ndcg", "recall", "mrr")), measured
        ingest = found["ingest"]
        assert ingest["documents"] == data["sets"]["headings"]["documents"] + 2
        assert ingest["passages_per_s"] > 0 and ingest["ratio_to_encoder"] > 0
        assert ingest["encoder_bracket"]["before"] > 0 and ingest["encoder_bracket"]["after"] > 0
    on = data["runs"][store]["on"]
    assert on["passages_per_document"]["long"]["mean"] > 1  # whole articles: many passages
    assert on["ingest"]["passages_embedded"] > on["ingest"]["documents"]
    ann = on["ann"]
    assert ann["documents"] == 150 and ann["passages"] > 150 and 0 < ann["recall_at_10"] <= 1
    assert ann["max_score_gap"] < 1e-3  # the bench cut and hashed passages as the worker did
    assert data["sts"]["hashing"] > 0
    text = (out / "report.md").read_text()
    assert "## Checks" in text and "## Set: long" in text and "## ANN recall@10" in text
    assert (out / "relevance-ndcg.png").stat().st_size > 1000
    return data


def test_bench_relevance_on_pgvector_with_and_without_passages(tmp_path: Path) -> None:
    assert cli.main(tiny(tmp_path, "pgvector", "on,off")) == 0
    data = check_run(tmp_path / "run", "pgvector", ["on", "off"])
    off = data["runs"]["pgvector"]["off"]
    assert off["passages_per_document"]["long"] == {"mean": 1.0, "max": 1, "total": 2}
    assert "ann" not in off


def test_bench_relevance_on_weaviate(tmp_path: Path, weaviate) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(tiny(tmp_path, "weaviate", "on")) == 0
    check_run(tmp_path / "run", "weaviate", ["on"])
