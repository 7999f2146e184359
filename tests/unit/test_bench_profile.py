"""``--profile``: py-spy's folded stacks → CPU categories, on synthetic frames (no I/O but tmp files)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.profile import pyspy, rules
from benchmarks.profile import report as profile_report

JOB = ["_run_module_as_main (<frozen runpy>:198)", "main (semsearch/cli.py:367)",
       "run (sync_worker/worker.py:45)", "BaseWorker.work (rq/worker/base.py:673)",
       "Job.perform (rq/job.py:1478)", "project_changes (sync_worker/jobs.py:77)",
       "project (sync_worker/projection.py:192)"]
POOL = ["Thread._bootstrap (threading.py:1002)", "_worker (concurrent/futures/thread.py:83)",
        "_WorkItem.run (concurrent/futures/thread.py:58)"]


def stack(*frames: str) -> tuple[rules.Frame, ...]:
    return tuple(rules.frame(f) for f in frames)


@pytest.mark.parametrize(("frames", "expected"), [
    ([*POOL, "OnnxEncoder._forward_chunk.<locals>.<lambda> (embeddings/onnx.py:229)",
      "OnnxEncoder._forward (embeddings/onnx.py:204)",
      "Session.run (onnxruntime/capi/onnxruntime_inference_collection.py:406)"], rules.FORWARD),
    ([*POOL, "OnnxEncoder._forward (embeddings/onnx.py:203)",
      "OnnxEncoder.tokenize (embeddings/onnx.py:196)"], rules.TOKENIZATION),
    ([*POOL, "OnnxEncoder._forward (embeddings/onnx.py:205)", "mean_pool (embeddings/onnx.py:140)"],
     "pooling / normalisation"),
    ([*JOB, "SentenceTransformer.encode (sentence_transformers/SentenceTransformer.py:600)",
      "Module._call_impl (torch/nn/modules/module.py:1750)",
      "Pooling.forward (sentence_transformers/models/Pooling.py:150)"], "pooling / normalisation"),
    ([*JOB, "SentenceTransformer.encode (sentence_transformers/SentenceTransformer.py:600)",
      "Module._call_impl (torch/nn/modules/module.py:1750)",
      "Pooling.forward (sentence_transformers/sentence_transformer/modules/pooling.py:146)"],
     "pooling / normalisation"),
    ([*JOB, "SentenceTransformer.encode (sentence_transformers/SentenceTransformer.py:600)",
      "Module._call_impl (torch/nn/modules/module.py:1750)",
      "Linear.forward (torch/nn/modules/linear.py:125)"], rules.FORWARD),
    ([*JOB, "SentenceTransformer.encode (sentence_transformers/SentenceTransformer.py:580)",
      "SentenceTransformer.tokenize (sentence_transformers/SentenceTransformer.py:1000)",
      "PreTrainedTokenizerFast._batch_encode_plus (transformers/tokenization_utils_fast.py:500)"],
     rules.TOKENIZATION),
    ([*JOB, "prepare (sync_worker/projection.py:95)", "passages (embeddings/passages.py:145)",
      "split (embeddings/passages.py:120)", "model_tokenizer.<locals>.offsets (embeddings/passages.py:80)"],
     "passage splitting"),
    ([*JOB, "prepare (sync_worker/projection.py:97)", "content_hash (embeddings/text.py:19)"], "hashing"),
    ([*JOB, "_record (sync_worker/projection.py:140)", "document_hash (embeddings/passages.py:163)"],
     "hashing"),
    ([*JOB, "vectors_for (sync_worker/projection.py:66)",
      "cached_embeddings (query_side/readmodel.py:180)", "Cursor.execute (psycopg/cursor.py:97)"],
     "embedding cache"),
    ([*JOB, "read_rows (sync_worker/projection.py:54)",
      "Connection.execute (sqlalchemy/engine/base.py:1400)", "Cursor.execute (psycopg/cursor.py:97)"],
     "PostgreSQL reads"),
    ([*JOB, "_write_group (sync_worker/projection.py:210)",
      "PgvectorStore.upsert (query_side/stores/pgvector/store.py:80)",
      "Cursor.executemany (psycopg/cursor.py:120)"], "store writes"),
    ([*JOB, "_write_group (sync_worker/projection.py:210)",
      "PgvectorStore.upsert (query_side/stores/pgvector/store.py:80)", "dumps (json/__init__.py:231)",
      "JSONEncoder.encode (json/encoder.py:200)"], "serialization"),
    ([*JOB, "_write_group (sync_worker/projection.py:212)", "mark_applied (query_side/readmodel.py:150)",
      "Connection.execute (sqlalchemy/engine/base.py:1400)"], "PostgreSQL bookkeeping writes"),
    (JOB[:4] + ["BaseWorker.dequeue_job_and_maintain_ttl (rq/worker/base.py:800)",
                "Redis.execute_command (redis/client.py:600)"], "RQ / Redis"),
    (JOB[:5] + ["Job.restore (rq/job.py:900)", "loads (rq/serializers.py:40)"], "serialization"),
    ([*JOB, "_record (sync_worker/projection.py:141)"], "worker code (other)"),
    ([*JOB, "_write_group (sync_worker/projection.py:200)", "Engine.begin (sqlalchemy/engine/base.py:3200)",
      "Connection.connect (psycopg/connection.py:100)"], "PostgreSQL (other calls: connect, commit)"),
    ([*POOL, "Future.set_result (concurrent/futures/_base.py:549)", "Condition.notify (threading.py:382)"],
     "thread pool hand-off"),
    (["Thread._bootstrap (threading.py:1002)", "select (selectors.py:415)"], rules.OTHER),
    ([], rules.NATIVE),
])
def test_the_innermost_recognised_frame_names_the_category(frames: list[str], expected: str) -> None:
    assert rules.category(stack(*frames)) == expected


def test_frames_parse_with_and_without_a_line_and_with_parentheses_in_the_name() -> None:
    assert rules.frame("encode (embeddings/onnx.py:201)") == rules.Frame("encode", "embeddings/onnx.py")
    assert rules.frame("<module> (<frozen runpy>)") == rules.Frame("<module>", "<frozen runpy>")
    assert rules.frame("f (g) (x/y.py:3)") == rules.Frame("f (g)", "x/y.py")
    assert rules.frame("garbage") == rules.Frame("garbage", "")


def test_the_main_thread_outside_rqs_work_loop_is_left_out() -> None:
    load = stack(*JOB[:3], "OnnxEncoder.load (embeddings/onnx.py:180)")
    imports = stack("<module> (<frozen site>)", "_find_and_load (<frozen importlib._bootstrap>:1176)")
    assert rules.outside_work(load) and rules.outside_work(imports) and rules.outside_work(())
    assert not rules.outside_work(stack(*JOB, "read_rows (sync_worker/projection.py:54)"))
    assert not rules.outside_work(stack(*POOL, "mean_pool (embeddings/onnx.py:140)"))


def test_a_thread_woken_from_a_wait_is_left_out_not_counted_as_work() -> None:
    select = stack("Thread._bootstrap (threading.py:1002)", "BaseServer.serve_forever (socketserver.py:233)",
                   "_PollLikeSelector.select (selectors.py:415)")
    joined = stack(*POOL[:1], "Future.result (concurrent/futures/_base.py:451)",
                   "Condition.wait (threading.py:327)")
    assert rules.waiting(select) and rules.waiting(joined) and rules.left_out(select)
    assert not rules.waiting(stack(*POOL, "Future.set_result (concurrent/futures/_base.py:549)",
                                   "Condition.notify (threading.py:382)"))
    assert not rules.left_out(stack(*JOB, "content_hash (embeddings/text.py:19)"))


def test_breakdown_shares_sum_to_one_and_padding_is_carved_out_of_the_forward_pass(tmp_path: Path) -> None:
    raw = tmp_path / "samples.txt"
    forward = ";".join([*POOL, "OnnxEncoder._forward (embeddings/onnx.py:204)",
                        "Session.run (onnxruntime/capi/onnxruntime_inference_collection.py:406)"])
    hashing = ";".join([*JOB, "content_hash (embeddings/text.py:19)"])
    startup = ";".join([*JOB[:3], "OnnxEncoder.load (embeddings/onnx.py:180)"])
    raw.write_text(f"{forward} 60\n{hashing} 20\n{startup} 500\n{forward} 20\n 7\n")
    stacks = pyspy.read_stacks(raw)
    assert sum(stacks.values()) == 607 and stacks[()] == 7
    found = pyspy.breakdown(stacks, documents=4, padding=0.25, cpu_ms_per_document=50.0)
    assert found["samples"] == 100 and found["samples_left_out"] == 507
    shares = {name: c["share"] for name, c in found["categories"].items()}
    assert shares == {rules.FORWARD: 0.6, rules.PADDING: 0.2, "hashing": 0.2}
    assert found["categories"]["hashing"]["ms_per_document"] == 10.0
    assert found["sampled_ms_per_document"] == 100 * 10 / 4 and found["cpu_measured"]
    unmeasured = pyspy.breakdown(Counter({stack(*JOB, "content_hash (embeddings/text.py:19)"): 8}), 2)
    assert unmeasured["cpu_ms_per_document"] == 40.0 and not unmeasured["cpu_measured"]


def test_padding_fraction_counts_the_positions_a_batch_pads() -> None:
    short, long = "moon", "the moon formed from the debris of a giant impact long ago"
    assert pyspy.padding_fraction([short, long], batch_size=1) == 0.0
    two = pyspy.padding_fraction([short, long], batch_size=2)
    assert 0.3 < two < 0.5  # the short text (3 tokens with [CLS] and [SEP]) padded to the long one
    assert pyspy.padding_fraction([long, long], batch_size=2) == 0.0


def test_the_report_section_lists_both_breakdowns_and_the_difference(tmp_path: Path) -> None:
    worker = {"samples": 100, "samples_left_out": 5, "documents": 4, "padding_fraction": 0.0,
              "sampled_ms_per_document": 250.0, "cpu_ms_per_document": 50.0, "cpu_measured": True,
              "categories": {rules.FORWARD: {"share": 0.8, "ms_per_document": 40.0},
                             "hashing": {"share": 0.2, "ms_per_document": 10.0}}}
    encoder = {**worker, "cpu_ms_per_document": 38.0,
               "categories": {rules.FORWARD: {"share": 1.0, "ms_per_document": 38.0}}}
    found = {"encoder_backend": "onnx", "batch_size": 1, "worker": worker, "encoder": encoder}
    text = "\n".join(profile_report.section("pgvector", found))
    assert "### Worker CPU breakdown (pgvector)" in text
    assert f"| {rules.FORWARD} | 80.0 | 40.0 | 100.0 | 38.0 | 2.0 |" in text
    assert "| hashing | 20.0 | 10.0 | 0.0 | 0.0 | 10.0 |" in text
    assert "| store writes | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |" in text  # every category, at 0 if unseen
    assert "| all | 100.0 | 50.0 | 100.0 | 38.0 | 12.0 |" in text
    assert profile_report.draw(tmp_path / "p.png", "pgvector", found).stat().st_size > 1000
