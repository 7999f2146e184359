"""``bench peer``'s arithmetic and report, without a stack or LangChain."""

from __future__ import annotations

from typing import Any

from benchmarks.peer import report as peer_report
from benchmarks.peer import run as peer


def figures(semsearch: float, peer_rate: float, raw: float) -> dict[str, Any]:
    def bracket(rate: float, texts: int) -> dict[str, Any]:
        return {"documents": 50, "texts_embedded": texts, "documents_per_s": rate,
                "rounds": [rate - 1, rate + 1], "texts": "texts"}

    def speed(rate: float) -> dict[str, Any]:
        return {"documents": 100, "seconds": round(100 / rate, 2), "documents_per_s": rate}

    search = {"searches": 5, "p50_ms": 10.0, "p99_ms": 20.0, "mean_ms": 11.0, "how": "how"}
    return {"meta": {"started": "now", "command": "semsearch bench peer", "machine": {}},
            "corpus": "100 documents", "notes": ["a note"], "semsearch_setup": "pgvector, torch",
            "peer_setup": "index()", "ingest": {"semsearch": speed(semsearch), "peer": speed(peer_rate)},
            "raw_encoder": {"semsearch": bracket(raw, 88), "peer": bracket(raw, 50)},
            "incremental": {"changed": 10, "semsearch": {**speed(4.0), "changed": 10, "how": "PUT"},
                            "peer": {**speed(2.0), "changed": 10, "how": "index()"}},
            "search": {"semsearch": search, "peer": {**search, "p50_ms": 30.0}}}


def test_ratios_and_checks_pass_at_the_targets_and_fail_below() -> None:
    data = figures(semsearch=30.0, peer_rate=20.0, raw=32.0)
    r = peer_report.ratios(data)
    assert r == {"semsearch_over_peer": 1.5, "semsearch_over_raw_encoder": 0.938,
                 "peer_over_raw_encoder": 0.625, "incremental_semsearch_over_peer": 2.0,
                 "search_p50_peer_over_semsearch": 3.0}
    assert [c["pass"] for c in peer_report.checks(r)] == [True, True]
    slow = peer_report.ratios(figures(semsearch=18.8, peer_rate=22.4, raw=22.9))
    assert slow["semsearch_over_peer"] == 0.839
    assert [c["pass"] for c in peer_report.checks(slow)] == [False, False]


def test_a_missing_figure_is_reported_as_unmeasured_not_as_a_failure() -> None:
    data = figures(semsearch=30.0, peer_rate=20.0, raw=32.0)
    data["raw_encoder"]["semsearch"]["documents_per_s"] = None
    checks = peer_report.checks(peer_report.ratios(data))
    assert [c["pass"] for c in checks] == [True, None]


def test_the_report_shows_both_sides_and_the_checks() -> None:
    data = figures(semsearch=30.0, peer_rate=20.0, raw=32.0)
    data["ratios"] = peer_report.ratios(data)
    data["checks"] = peer_report.checks(data["ratios"])
    text = peer_report.markdown(data, "peer.png")
    assert "| semsearch documents/s / the peer's | 1.5 | ≥ 1.5 | PASS |" in text
    assert "semsearch / peer: **1.5**" in text and "semsearch / peer: **2.0**" in text
    assert "## Incremental: 10 of 100 documents changed" in text and "![" in text
    assert "| 30.0 (30.0 – 30.0) | 32.0 (31.0 – 33.0) | 0.938 |" in text  # rounds' spread
    assert "Texts embedded per document: semsearch 1.76, peer 1.0." in text


def test_every_tenth_document_is_revised_and_only_its_body_changes() -> None:
    docs = [{"id": str(n), "title": f"t{n}", "body": f"b{n}"} for n in range(25)]
    out, changed = peer.revised(docs, 0.1)
    assert changed == [0, 10, 20]
    assert [d for d in out if d not in docs] == [out[0], out[10], out[20]]
    assert out[10]["title"] == "t10" and out[10]["body"] != "b10" and out[10]["id"] == "10"
    assert peer.revised(docs, 0.0)[1] == []


def test_latency_percentiles_are_in_milliseconds() -> None:
    found = peer_report.latency([0.001] * 98 + [0.5, 0.5])
    assert found["searches"] == 100 and found["p50_ms"] == 1.0 and found["p99_ms"] == 500.0
