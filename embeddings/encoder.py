"""Encoders behind one small protocol.

``SentenceTransformerEncoder`` loads the packaged all-MiniLM-L6-v2 weights from site-packages
(never from a hub) the first time it encodes; ``HashingEncoder`` is a deterministic stand-in for
unit tests only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np

from embeddings.packaged import packaged_model_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The model id recorded next to embeddings made by the torch model."""

DEFAULT_ENCODER: Final = "onnx-fp32"
"""The ``ENCODER`` of a stack that names none: the packaged model's fp32 export on ONNX Runtime.
Measured against the torch model on the same 400 paragraphs (2 cores): the same vectors (lowest
cosine 0.9999999), 1.40x the texts/s, 46 against 64 ms of CPU per text, 308 against 1,214 MB
resident (docs/benchmarks/2026-12-06-encoder-onnx-fp32). Torch stays one setting away
(``ENCODER=sentence-transformers``): it is the encoder that runs on a GPU."""

DEFAULT_BATCH_SIZE = 32
"""Texts per forward pass; 32 keeps padding waste low on paragraphs of mixed length."""

DEVICES = ("auto", "cpu", "cuda")
NVIDIA_DRIVER = "/proc/driver/nvidia/version"
"""Present where an NVIDIA driver is loaded: a GPU the torch encoder could use."""


def resolve_device(setting: str, kind: str = "sentence-transformers") -> str:
    """The device an encoder runs on: ``cpu``, or ``cuda`` when ``setting`` asks for it or is
    ``auto`` and torch sees a CUDA GPU. Only the torch encoder runs on a GPU: the ONNX int8
    model and the hashing stand-in always run on the CPU (``DEVICE=cuda`` with them is refused,
    as is ``cuda`` on a machine without a GPU: a setting that cannot hold says so at start)."""
    if setting not in DEVICES:
        raise ValueError(f"DEVICE={setting!r}: use one of {', '.join(DEVICES)}")
    if setting == "cpu":
        return "cpu"
    if kind != "sentence-transformers":
        if setting == "cuda":
            raise ValueError(f"DEVICE=cuda: the {kind} encoder runs on the CPU only; use "
                             "ENCODER=sentence-transformers for a GPU")
        if os.path.exists(NVIDIA_DRIVER):  # without importing torch (a quarter of the memory)
            log.warning("a GPU is present but ENCODER=%s runs on the CPU; "
                        "ENCODER=sentence-transformers runs the same model on it", kind)
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if setting == "cuda":
        raise ValueError("DEVICE=cuda, but torch sees no CUDA GPU here; use DEVICE=auto or cpu")
    return "cpu"


class Encoder(Protocol):
    model_id: str
    dimensions: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


class SentenceTransformerEncoder:
    dimensions = 384

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL,
        path: str | None = None,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        half: bool = False,
    ) -> None:
        self.model_id = model_id
        self._path = path
        self._device = device
        self._batch_size = batch_size
        self._half = half and device == "cuda"
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self.calls = 0
        self.texts_encoded = 0

    def load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = self._path or packaged_model_path()
                self._model = SentenceTransformer(path, device=self._device)
                if self._half:  # fp16 on a GPU (ENCODER_FP16): half the memory, more speed
                    self._model.half()
            return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self.load()
        self.calls += 1
        self.texts_encoded += len(texts)
        vectors = model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class HashingEncoder:
    """Deterministic bag-of-words vectors: texts sharing words are close. Unit tests only."""

    model_id = "hashing-test-encoder"

    def __init__(self, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.calls = 0
        self.texts_encoded = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest())
                out[row, bucket % self.dimensions] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dimensions)
        return out


def load_encoder(kind: str = "sentence-transformers", device: str = "cpu",
                 batch_size: int = DEFAULT_BATCH_SIZE, threads: int = 0,
                 half: bool = False) -> Encoder:
    """``device``: ``auto``, ``cpu`` or ``cuda`` (see :func:`resolve_device`); ``half``: fp16
    weights on a GPU (ignored on the CPU); ``threads``: the ONNX encoder's concurrent calls (0:
    one per CPU)."""
    device = resolve_device(device, kind)
    match kind:
        case "sentence-transformers":
            return SentenceTransformerEncoder(device=device, batch_size=batch_size, half=half)
        case "onnx":
            from embeddings.onnx import OnnxEncoder

            return OnnxEncoder(parallel=threads or None)
        case "onnx-fp32":
            from embeddings.onnx import ONNX_FP32_MODEL, OnnxEncoder

            return OnnxEncoder(ONNX_FP32_MODEL, parallel=threads or None)
        case "hashing":
            return HashingEncoder()
        case _:
            raise ValueError(f"unknown encoder {kind!r}: use 'sentence-transformers', 'onnx', "
                             "'onnx-fp32' "
                             "or 'hashing'")
