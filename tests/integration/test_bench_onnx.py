"""The ONNX int8 encoder: exported from the packaged model once, cached outside the checkout,
unit vectors close to the torch model's, and a sane STS Benchmark score on a slice of pairs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from benchmarks.harness import sts  # noqa: E402
from embeddings.encoder import load_encoder  # noqa: E402
from embeddings.onnx import ONNX_FP32_MODEL, ONNX_INT8_MODEL, OnnxEncoder, exported_model  # noqa: E402


def test_onnx_encoder_matches_the_torch_model_closely(real_encoder) -> None:  # type: ignore[no-untyped-def]
    path = exported_model()
    assert path.exists() and ".cache" in str(path) and "/work/main" not in str(path)
    encoder = OnnxEncoder()
    assert encoder.model_id == ONNX_INT8_MODEL != real_encoder.model_id
    texts = ["how did the moon form", "ancient trade routes across the sea",
             "The Moon formed 4.5 billion years ago from debris of a giant impact. " * 20, ""]
    mine, theirs = encoder.encode(texts), real_encoder.encode(texts)
    assert mine.shape == (4, 384) and mine.dtype == np.float32
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-4)
    assert ((mine * theirs).sum(axis=1)[:3] > 0.9).all()
    assert encoder.encode([]).shape == (0, 384)


def test_the_fp32_export_gives_the_torch_models_vectors(real_encoder) -> None:  # type: ignore[no-untyped-def]
    """ENCODER=onnx-fp32: the export before quantization, so the torch model's arithmetic (to
    float rounding), under its own model id."""
    encoder = load_encoder("onnx-fp32")
    assert encoder.model_id == ONNX_FP32_MODEL not in (ONNX_INT8_MODEL, real_encoder.model_id)
    texts = ["how did the moon form", "The Moon formed 4.5 billion years ago. " * 60, "a", ""]
    mine, theirs = encoder.encode(texts), real_encoder.encode(texts)
    assert mine.shape == (4, 384) and mine.dtype == np.float32
    assert ((mine * theirs).sum(axis=1) > 0.9999).all(), (mine * theirs).sum(axis=1)


@pytest.mark.skipif(not sts.DEFAULT_STS_TEST.exists(), reason="no STS Benchmark data here")
def test_onnx_sts_score_on_a_slice_is_close_to_torch(real_encoder) -> None:  # type: ignore[no-untyped-def]
    pairs = sts.read_pairs(sts.DEFAULT_STS_TEST)
    pairs = sts.Pairs(pairs.first[:300], pairs.second[:300], pairs.gold[:300])
    onnx, torch = sts.spearman(OnnxEncoder(), pairs), sts.spearman(real_encoder, pairs)
    assert abs(onnx - torch) < 0.02


def test_a_text_gets_the_same_vector_whatever_is_embedded_with_it() -> None:
    """int8 activations are quantized per call: batching texts together would make a query's
    vector (and so its ranking) depend on the other queries in flight."""
    encoder = OnnxEncoder()
    query = "how did the moon form"
    others = ["ancient trade routes across the sea", "The Moon formed from debris. " * 30,
              "volcano", "rivers of Europe and their deltas", "x " * 200]
    alone = encoder.encode([query])[0]
    for mates in (others, others[::-1], others[:2]):
        together = encoder.encode([*mates, query])[-1]
        assert np.array_equal(alone, together)
