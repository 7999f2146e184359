"""Index generations: the pure parts (names, state transitions)."""

from __future__ import annotations

from typing import get_args

import pytest

from embeddings import DEFAULT_MODEL, HashingEncoder
from embeddings.onnx import ONNX_FP32_MODEL, ONNX_INT8_MODEL
from query_side.generations import (
    MODEL_IDS,
    GenerationError,
    names_for,
    split_store_name,
    store_name,
    switched,
)
from query_side.settings import StoreSettings


def test_generation_one_keeps_the_existing_names() -> None:
    assert names_for(1, "Document", "read_documents") == ("Document", "read_documents")
    assert names_for(3, "Document", "read_documents") == ("DocumentG3", "read_documents_g3")
    assert store_name("pgvector", 1) == "pgvector"
    assert store_name("weaviate", 2) == "weaviate@g2"


@pytest.mark.parametrize("name", ["pgvector", "weaviate@g2", "pgvector@g12"])
def test_store_names_round_trip(name: str) -> None:
    assert store_name(*split_store_name(name)) == name


def test_model_ids_are_the_encoders_own() -> None:
    """Every ENCODER the settings accept (a stack may start on any: generation 1 records it)."""
    assert MODEL_IDS == {"sentence-transformers": DEFAULT_MODEL, "onnx": ONNX_INT8_MODEL,
                         "onnx-fp32": ONNX_FP32_MODEL, "hashing": HashingEncoder.model_id}
    assert set(MODEL_IDS) == set(get_args(StoreSettings.model_fields["encoder"].annotation))


def test_promote_then_rollback_then_promote_again() -> None:
    states = {1: "serving", 2: "ready"}
    states, serving, previous = switched(states, 1, None, "promote", 2)
    assert (states, serving, previous) == ({1: "previous", 2: "serving"}, 2, 1)
    states, serving, previous = switched(states, serving, previous, "rollback")
    assert (states, serving, previous) == ({1: "serving", 2: "previous"}, 1, 2)
    states, serving, previous = switched(states, serving, previous, "promote", 2)
    assert (states, serving, previous) == ({1: "previous", 2: "serving"}, 2, 1)


def test_a_third_generation_makes_the_old_previous_merely_ready() -> None:
    states, serving, previous = switched({1: "previous", 2: "serving", 3: "ready"}, 2, 1,
                                         "promote", 3)
    assert (states, serving, previous) == ({1: "ready", 2: "previous", 3: "serving"}, 3, 2)


@pytest.mark.parametrize(("states", "action", "number", "says"), [
    ({1: "serving", 2: "building"}, "promote", 2, "building, not ready"),
    ({1: "serving"}, "promote", 1, "already serving"),
    ({1: "serving"}, "promote", 5, "no generation 5"),
    ({1: "serving", 2: "ready"}, "drop", 1, "is serving"),
    ({1: "serving", 2: "dropped"}, "rollback", None, "no previous"),
])
def test_refusals(states: dict[int, str], action: str, number: int | None, says: str) -> None:
    previous = 2 if action == "rollback" else None
    with pytest.raises(GenerationError, match=says):
        switched(states, 1, previous, action, number)


def test_dropping_the_previous_generation_ends_rollback() -> None:
    states, serving, previous = switched({1: "previous", 2: "serving"}, 2, 1, "drop", 1)
    assert (states, serving, previous) == ({1: "dropped", 2: "serving"}, 2, None)
    with pytest.raises(GenerationError, match="no previous"):
        switched(states, serving, previous, "rollback")


def test_the_gate_names_every_set_and_mode_scoring_lower_beyond_the_tolerance() -> None:
    from operations.quality.gate import lower

    current = {"headings semantic": 0.80, "headings hybrid": 0.70, "long semantic": 1.0}
    candidate = {"headings semantic": 0.79, "headings hybrid": 0.60, "long semantic": 1.0}
    assert lower(current, candidate) == ["headings semantic", "headings hybrid"]
    assert lower(current, candidate, tolerance=0.02) == ["headings hybrid"]
    assert lower(current, {}) == list(current)

