"""Pure logic: tokens, schemas, filters, the memory store, text hashing, snippets."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from command_side.models import DocumentCreate, DocumentPatch
from command_side.settings import CommandSettings
from common import consistency
from embeddings import HashingEncoder, content_hash, embedded_text
from query_side.models import SearchRequest, snippet
from query_side.stores.base import Filters, Passage, ReadDocument
from query_side.stores.memory import MemoryStore, matches


def record(version: int = 1, **fields: object) -> ReadDocument:
    base = dict(id=uuid.uuid4(), version=version, title="t", body="b", category=None, tags=(),
                attributes={}, published_at=None, content_hash="h",
                passages=(Passage(0, 1, np.ones(4) / 2),))
    return ReadDocument(**(base | fields))  # type: ignore[arg-type]


def test_token_round_trip_and_damage() -> None:
    written = [(uuid.uuid4(), 3), (uuid.uuid4(), 1)]
    assert consistency.decode(consistency.encode(written)) == written
    with pytest.raises(consistency.BadToken):
        consistency.decode("c1.AAAA")
    with pytest.raises(consistency.BadToken):
        consistency.decode("c2.00")
    with pytest.raises(consistency.BadToken):
        consistency.decode("x")


def test_content_hash_depends_on_text_and_model_only() -> None:
    text = embedded_text("Title", "Body")
    assert content_hash(text, "m1") == content_hash(embedded_text(" Title ", "Body\n"), "m1")
    assert content_hash(text, "m1") != content_hash(text, "m2")
    assert content_hash(text, "m1") != content_hash(embedded_text("Title", "Other"), "m1")


def test_hashing_encoder_is_deterministic_and_normalized() -> None:
    encoder = HashingEncoder()
    a, b = encoder.encode(["the moon", "the moon"])
    assert np.allclose(a, b) and np.isclose(np.linalg.norm(a), 1.0)


def test_attribute_values_are_strict() -> None:
    DocumentCreate(title="t", body="b", attributes={"a": 1, "b": 1.5, "c": True, "d": "x"})
    for bad in ({"a": None}, {"a": [1]}, {"a": {"b": 1}}, {"a": "x" * 257}):
        with pytest.raises(ValidationError):
            DocumentCreate(title="t", body="b", attributes=bad)


def test_patch_needs_a_field_and_refuses_null_required() -> None:
    with pytest.raises(ValidationError):
        DocumentPatch()
    with pytest.raises(ValidationError):
        DocumentPatch(body=None)
    assert DocumentPatch(category=None).model_fields_set == {"category"}


def test_settings_parse_store_lists_and_refuse_unknown() -> None:
    assert CommandSettings(sync_stores="pgvector, weaviate").sync_stores == ["pgvector", "weaviate"]
    with pytest.raises(ValidationError):
        CommandSettings(sync_stores="pgvector,milvus")


def test_filter_semantics() -> None:
    r = record(category="a", tags=("x", "y"), attributes={"n": 5, "flag": True, "s": "v"},
               published_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert matches(r, Filters(category=["a", "b"]))
    assert not matches(r, Filters(category=["b"]))
    assert matches(r, Filters(tags_any=["x", "z"])) and not matches(r, Filters(tags_all=["x", "z"]))
    assert matches(r, Filters(published_after=datetime(2020, 1, 1, tzinfo=UTC)))
    assert not matches(r, Filters(published_before=datetime(2020, 1, 1, tzinfo=UTC)))
    assert matches(r, Filters(attributes={"n": {"gte": 5, "lt": 6}}))
    assert not matches(r, Filters(attributes={"flag": {"gte": 0}}))  # a bool is not a number
    assert matches(r, Filters(attributes={"flag": True})) and not matches(r, Filters(attributes={"n": True}))
    with pytest.raises(ValidationError):
        Filters.model_validate({"colour": "red"})


def test_memory_store_guards_versions() -> None:
    store = MemoryStore()
    newer = record(version=2, title="new")
    store.upsert([newer])
    store.upsert([record(version=1, id=newer.id, title="old")])
    assert store.get(newer.id)[0].title == "new"  # type: ignore[index]
    store.delete([(newer.id, 1)])
    assert store.count() == 1
    store.delete([(newer.id, 2)])
    assert store.count() == 0


def test_search_request_validation() -> None:
    SearchRequest(query="x")
    SearchRequest(filters=Filters(category=["a"]))
    with pytest.raises(ValidationError):
        SearchRequest()
    with pytest.raises(ValidationError):
        SearchRequest(query="x", limit=101)


def test_snippet_cuts_at_a_word() -> None:
    text = "word " * 100
    cut = snippet(text, 50)
    assert cut.endswith("…") and len(cut) <= 51 and not cut[:-1].endswith(" ")
    assert snippet("short  text") == "short text"


def test_snippet_of_a_prefix_is_the_snippet_of_the_whole() -> None:
    def whole(body: str, limit: int) -> str:  # the definition: collapse everything, then cut
        text = " ".join(body.split())
        if len(text) <= limit:
            return text
        cut = text.rfind(" ", 0, limit)
        return text[: cut if cut > limit // 2 else limit] + "…"

    rng = random.Random(3)
    pieces = ["a", "word", "longerword", " ", "  ", "\n\n", "\t", " " * 40, "x" * 70]
    for _ in range(2000):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))
        limit = rng.choice([10, 50, 240])
        assert snippet(body, limit) == whole(body, limit), (body, limit)


def test_device_auto_takes_a_gpu_only_where_torch_sees_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from embeddings.encoder import SentenceTransformerEncoder, load_encoder, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="use one of"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"  # asked for: kept, GPU or not
    encoder = load_encoder("sentence-transformers", device="auto", half=True)
    assert isinstance(encoder, SentenceTransformerEncoder)
    assert (encoder._device, encoder._half) == ("cuda", True)
    # the ONNX int8 encoder runs on the CPU only: auto stays there, cuda is refused
    assert resolve_device("auto", "onnx") == "cpu"
    with pytest.raises(ValueError, match="CPU only"):
        resolve_device("cuda", "onnx")


def test_the_default_encoder_is_onnx_fp32_everywhere_and_says_when_a_gpu_sits_idle(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from embeddings import encoder
    from operations.stack.local import StackConfig
    from query_side.settings import QuerySettings
    from sync_worker.settings import WorkerSettings

    monkeypatch.delenv("ENCODER", raising=False)
    kinds = {WorkerSettings().encoder, QuerySettings(auth="off").encoder, StackConfig().encoder}
    assert kinds == {"onnx-fp32"}
    monkeypatch.setenv("ENCODER", "sentence-transformers")  # one setting away, for every process
    kinds = {WorkerSettings().encoder, QuerySettings(auth="off").encoder, StackConfig().encoder}
    assert kinds == {"sentence-transformers"}
    monkeypatch.setattr(encoder, "NVIDIA_DRIVER", str(tmp_path / "absent"))
    with caplog.at_level("WARNING", "embeddings.encoder"):
        assert encoder.resolve_device("auto", "onnx-fp32") == "cpu"
    assert not caplog.records  # no GPU: nothing to say
    (tmp_path / "version").write_text("NVRM version: 550\n")
    monkeypatch.setattr(encoder, "NVIDIA_DRIVER", str(tmp_path / "version"))
    with caplog.at_level("WARNING", "embeddings.encoder"):
        assert encoder.resolve_device("auto", "onnx-fp32") == "cpu"
    assert "ENCODER=sentence-transformers" in caplog.text


def test_device_setting_reaches_the_worker_and_the_query_api_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from query_side.settings import QuerySettings
    from sync_worker.settings import WorkerSettings

    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("ENCODER_FP16", "true")
    for settings in (WorkerSettings(), QuerySettings(auth="off")):
        assert (settings.device, settings.encoder_fp16) == ("cpu", True)
    monkeypatch.setenv("DEVICE", "gpu")
    with pytest.raises(ValidationError):
        WorkerSettings()
