"""``semsearch bench relevance`` without a stack: the measures, the labelled sets, exact search,
the checks and the report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import cli
from benchmarks.relevance import evaluate as relevance
from benchmarks.relevance import exact
from benchmarks.relevance import report as relevance_report
from benchmarks.relevance import run as relevance_run
from embeddings import embedded_text
from embeddings.passages import MODEL_WINDOW, PassageSettings, model_tokenizer, word_offsets
from operations import corpus
from operations.quality import labelled, metrics
from sync_worker.projection import Prepared


def test_ndcg_with_binary_gains_by_hand() -> None:
    # hits at ranks 1 and 3 of two relevant: (1 + 1/log2 4) / (1 + 1/log2 3)
    assert metrics.ndcg(["a", "x", "b"], {"a", "b"}) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert metrics.ndcg(["x", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    assert metrics.ndcg(["x", "y"], {"a"}) == 0.0
    assert metrics.ndcg(["a"], set()) == 0.0
    twelve = [f"d{n}" for n in range(12)]  # more relevant than k: the ideal is k hits
    assert metrics.ndcg(twelve, set(twelve)) == pytest.approx(1.0)
    assert metrics.ndcg(["x"] * 10 + ["a"], {"a"}) == 0.0  # rank 11 is past k


def test_recall_and_reciprocal_rank_by_hand() -> None:
    assert metrics.recall(["x", "a", "c"], {"a", "b", "c"}) == pytest.approx(2 / 3)
    assert metrics.recall([f"x{n}" for n in range(10)] + ["a"], {"a"}) == 0.0
    assert metrics.reciprocal_rank(["x", "y", "a", "b"], {"a", "b"}) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["a"], {"a"}) == 1.0
    assert metrics.reciprocal_rank([f"x{n}" for n in range(10)] + ["a"], {"a"}) == 0.0


def test_means_over_queries() -> None:
    per_query = [metrics.scores(["a", "x"], {"a"}), metrics.scores(["x", "a"], {"a"})]
    mean = relevance.mean_scores(per_query)
    assert mean == {"ndcg": round((1 + 1 / math.log2(3)) / 2, 4), "recall": 1.0, "mrr": 0.75,
                    "queries": 2}
    assert relevance.mean_scores([])["queries"] == 0


def test_ann_recall_counts_ties_at_the_cut_and_small_stores() -> None:
    exact_scores = {"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.1}
    assert relevance.ann_recall(["a", "c"], exact_scores, k=2) == 1.0  # c ties b, the 2nd best
    assert relevance.ann_recall(["a", "d"], exact_scores, k=2) == 0.5
    assert relevance.ann_recall(["a", "a"], exact_scores, k=2) == 0.5  # a repeat counts once
    assert relevance.ann_recall(["b", "a"], {"a": 1.0, "b": 0.5}) == 1.0  # fewer than k held
    assert relevance.ann_recall(["zz"], {"a": 1.0}) == 0.0


def test_exact_scores_take_each_documents_best_passage() -> None:
    vectors = {"p1": np.array([1.0, 0.0]), "p2": np.array([0.0, 2.0]), "p3": np.array([1.0, 1.0]),
               "p4": np.array([-1.0, 0.0])}
    docs = [Prepared([], ["t"], ["p1"]), Prepared([], ["t"] * 3, ["p4", "p2", "p3"])]
    found = exact.exact_scores(np.array([[1.0, 0.0], [0.0, 3.0]]), docs, vectors)
    assert found.shape == (2, 2)
    assert found[0] == pytest.approx([1.0, math.sqrt(0.5)])  # doc 2's best: p3, not p4
    assert found[1] == pytest.approx([0.0, 1.0])


def test_headings_are_titled_with_the_article_only() -> None:
    found = labelled.headings(article_limit=3)
    names = set(labelled.articles(3))
    assert {d["title"] for d in found.documents} == names
    assert all(d["tags"] == ["set:headings"] for d in found.documents)
    by_id = {d["id"]: d for d in found.documents}
    paragraphs = {p.text: p for group in labelled.articles(3).values() for p in group}
    for query in found.queries:
        article, section = query.text.split(": ", 1)
        assert article in names and section
        for doc_id in query.relevant:
            assert by_id[doc_id]["title"] == article and section not in by_id[doc_id]["title"]
            assert paragraphs[by_id[doc_id]["body"]].section == section
    # every paragraph under a heading is relevant to it
    assert sum(len(q.relevant) for q in found.queries) == len(found.documents)
    again = labelled.headings(article_limit=3, query_limit=5)
    assert len(again.queries) == 5 and set(again.queries) <= set(found.queries)
    assert again.documents == found.documents  # same ids on every run


def test_long_set_queries_lie_past_the_models_window() -> None:
    found = labelled.long(article_limit=3, per_article=3)
    assert len(found.documents) == 3 and len(found.queries) == 9
    tokens = model_tokenizer()
    bodies = {d["id"]: d for d in found.documents}
    for query in found.queries:
        (doc_id,) = query.relevant
        doc = bodies[doc_id]
        assert len(query.text.split()) >= labelled.QUERY_MIN_WORDS
        at = doc["body"].index(query.text)
        before = tokens(embedded_text(doc["title"], doc["body"][:at]))
        assert len(before) >= MODEL_WINDOW, query.text
    assert labelled.long(article_limit=3, per_article=3).queries == found.queries


def test_window_end_and_joined_by_hand() -> None:
    # "T\n\none two three four": the third token ends with "two", at body offset 7
    assert labelled.window_end("T", "one two three four", tokens=3, offsets=word_offsets) == 7
    assert labelled.window_end("T", "one two", tokens=3, offsets=word_offsets) == len("one two")
    paragraphs = labelled.articles(1)
    first = next(iter(paragraphs.values()))
    body = corpus.joined(first, len(first[0].text) + 3 + len(first[1].text))
    assert body == f"{first[0].text}\n\n{first[1].text}"


def test_passage_plans_match_the_worker_and_unique_texts_drop_repeats() -> None:
    docs = [{"title": " Moon ", "body": "Short body."}, {"title": "Moon", "body": "Short body."}]
    plans = exact.plans(docs, "model", PassageSettings())
    assert plans[0].hashes == plans[1].hashes and plans[0].texts == ["Moon\n\nShort body."]
    assert exact.unique_texts(plans) == ["Moon\n\nShort body."]
    long = [{"title": "Moon", "body": " ".join(["The Moon orbits the Earth."] * 200)}]
    assert len(exact.plans(long, "model", PassageSettings())[0].hashes) > 1
    assert len(exact.plans(long, "model", PassageSettings(enabled=False))[0].hashes) == 1


def test_relevance_arguments() -> None:
    args = cli.parser().parse_args(["relevance", "--store", "pgvector", "--passages", "off",
                                    "--ann-documents", "2k", "--sts", ""])
    assert args.passages == ["off"] and args.ann_documents == 2000 and args.sts == []
    assert args.modes == ["semantic", "keyword", "hybrid"] and args.sets == ["headings", "long"]
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["relevance", "--passages", "sometimes"])
    assert relevance_run.spread(list(range(10)), 3) == [0, 3, 6]
    assert relevance_run.spread([1, 2], 0) == [1, 2]
    assert relevance_run.SETTINGS["off"].env == {"PASSAGES": "false"}


def _figures(ndcg: dict[str, float], long_recall: float) -> dict[str, object]:
    heads = {mode: {"ndcg": v, "recall": v, "mrr": v, "queries": 4} for mode, v in ndcg.items()}
    long = {"semantic": {"ndcg": 0.9, "recall": long_recall, "mrr": 0.85, "queries": 3}}
    return {"relevance": {"headings": heads, "long": long},
            "passages_per_document": {"long": {"mean": 30.0, "max": 40, "total": 90}},
            "ingest": {"documents": 10, "passages_embedded": 90, "seconds": 2.0, "documents_per_s": 5.0,
                       "passages_per_s": 45.0, "encoder_bracket": {"before": 50, "after": 52, "mean": 51},
                       "encoder_sample": 90, "ratio_to_encoder": 0.882},
            "ann": {"documents": 100, "passages": 300, "queries": 5, "recall_at_10": 0.99,
                    "min_recall_at_10": 0.9, "queries_below_0.9": 0, "max_score_gap": 0.0}}


def test_checks_report_and_plot(tmp_path: Path) -> None:
    data = {"meta": {"command": "semsearch bench relevance"}, "encoder": "onnx",
            "settings": ["on", "off"], "notes": [],
            "sets": {"headings": {"note": "h"}, "long": {"note": "l"}},
            "sts": {"file": "x", "pairs": 3, "torch": 0.8203, "onnx": 0.81},
            "runs": {"pgvector": {"on": _figures({"semantic": 0.5, "keyword": 0.6, "hybrid": 0.62}, 1.0),
                                  "off": _figures({"semantic": 0.4, "keyword": 0.6, "hybrid": 0.5}, 0.3)},
                     "weaviate": {"on": _figures({"semantic": 0.505, "keyword": 0.65, "hybrid": 0.6}, 0.9),
                                  "off": {"error": "RuntimeError: boom"}}}}
    path = relevance_report.write(tmp_path, data)
    verdict = {c["what"].split(" (")[0]: c["pass"] for c in data["checks"]}
    assert verdict["pgvector: long set semantic Recall@10, passages on"] is True
    assert verdict["pgvector: long set semantic Recall@10, passages off"] is None
    assert verdict["weaviate: long set semantic Recall@10, passages on"] is False
    assert verdict["pgvector: headings hybrid nDCG@10"] is True
    assert verdict["weaviate: headings hybrid nDCG@10"] is False
    assert verdict["stores agree: headings semantic nDCG@10 gap"] is True
    assert verdict["stores agree: headings keyword nDCG@10 gap"] is False
    assert verdict["STS Benchmark Spearman, torch"] is True
    assert verdict["STS Benchmark Spearman, onnx"] is False
    assert verdict["pgvector: ingest passages/s / raw encoder, passages on"] is True
    assert verdict["weaviate, passages off: the run"] is False
    text = path.read_text()
    assert "## Set: headings" in text and "| pgvector | off | hybrid | 0.5 |" in text
    assert "![relevance-ndcg](relevance-ndcg.png)" in text
    assert (tmp_path / "relevance-ndcg.png").stat().st_size > 1000
    assert (tmp_path / "results.json").exists()
