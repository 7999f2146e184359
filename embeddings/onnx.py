"""An ONNX Runtime encoder: the packaged all-MiniLM-L6-v2, exported once and quantized to int8.

The first use exports the packaged weights with ``torch.onnx.export`` and quantizes them with
``onnxruntime.quantization.quantize_dynamic``; the files are cached outside the checkout
(``~/.cache/semsearch/onnx/<weights digest>/``), guarded by a file lock so that a worker and a query
API starting together export once. Later loads need neither torch nor transformers: the fast
tokenizer (``tokenizers``) and ``onnxruntime`` do the work, then mean pooling and L2 norm as in
the model's sentence-transformers config. The model id differs from the torch model's, so the
embedding cache never mixes the two.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.packaged import packaged_model_path

ONNX_INT8_MODEL = "all-MiniLM-L6-v2-onnx-int8"
"""The model id recorded next to embeddings made by the quantized model."""
ONNX_FP32_MODEL = "all-MiniLM-L6-v2-onnx-fp32"
"""The model id of the exported model before quantization (``ENCODER=onnx-fp32``): the torch
model's weights and arithmetic in fp32 on ONNX Runtime, without torch in the process."""

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "semsearch" / "onnx"
"""Where exported models live: outside the checkout, shared by every process of the machine."""

MAX_SEQ_LENGTH = 256
"""Tokens per text, as in the packaged model's ``sentence_bert_config.json``."""

DEFAULT_ONNX_BATCH_SIZE = 1
"""Texts per ONNX Runtime call. One: the int8 model quantizes its activations per call (dynamic
quantization scales by the whole input tensor), so a text's vector in a batch depends on its
batch-mates and their padding (cosine to the same text alone as low as 0.973 for queries in
batches of 16, 0.990 for paragraphs in batches of 8). One text per call gives every text one
vector, whatever else is being embedded, and on 2 cores it is also the fastest way: two
single-threaded calls at a time made 110 paragraphs/s against 48/s for batches of 8 on one
two-threaded call, and 1,256 queries/s against 922/s; STS-B Spearman 0.818 (0.8184 before)."""


def default_parallel() -> int:
    """Concurrent single-threaded ONNX Runtime calls: one per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with open(model_dir / "model.safetensors", "rb") as weights:
        while chunk := weights.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def export(model_dir: Path, target: Path) -> None:
    """Export the transformer to ONNX (fp32) at ``target``: last hidden state, dynamic shapes."""
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_dir)).eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = LastHiddenState()
    sample = {name: torch.ones((2, 8), dtype=torch.int64) for name in INPUTS}
    sample["token_type_ids"] = torch.zeros((2, 8), dtype=torch.int64)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    with torch.no_grad():
        torch.onnx.export(
            model, (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(target), input_names=list(INPUTS), output_names=["last_hidden_state"],
            dynamic_axes={**dynamic, "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=OPSET, dynamo=False,
        )


def quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def _folder(model_dir: Path | None, cache_dir: Path) -> tuple[Path, Path]:
    """The packaged model's folder and its cache folder (named by a digest of its weights)."""
    model_dir = model_dir or Path(packaged_model_path())
    return model_dir, cache_dir / weights_digest(model_dir)


def cached_model(model_dir: Path | None = None, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path | None:
    """The int8 ONNX file for the packaged model if it was exported already, else None."""
    int8 = _folder(model_dir, cache_dir)[1] / "model-int8.onnx"
    return int8 if int8.exists() else None


def exported_model(model_dir: Path | None = None, cache_dir: Path = DEFAULT_CACHE_DIR,
                   precision: str = "int8") -> Path:
    """The int8 (or, ``precision="fp32"``, the unquantized) ONNX file for the packaged model,
    exporting and quantizing it the first time (the weights are hashed once: they are 90 MB)."""
    model_dir, folder = _folder(model_dir, cache_dir)
    int8 = folder / "model-int8.onnx"
    if int8.exists():
        return int8 if precision == "int8" else folder / "model-fp32.onnx"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not int8.exists():
            fp32 = folder / "model-fp32.onnx"
            if not fp32.exists():
                export(model_dir, folder / "model-fp32.partial.onnx")
                os.replace(folder / "model-fp32.partial.onnx", fp32)
            quantize(fp32, folder / "model-int8.partial.onnx")
            os.replace(folder / "model-int8.partial.onnx", int8)
    return int8 if precision == "int8" else folder / "model-fp32.onnx"


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors that the attention mask keeps, then unit length."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class OnnxEncoder:
    """The ``Encoder`` protocol on ONNX Runtime; loaded lazily, once, safe across threads.

    Each ONNX Runtime call is single-threaded and ``parallel`` calls run at once (data
    parallelism): the calls never wait for each other, so a core taken for a moment by another
    process (the store, the HTTP server) delays one text instead of stalling every thread of an
    intra-op pool at its next barrier. Measured on 2 cores: both cores busy (1.97) instead of
    1.46 with one two-threaded call."""

    dimensions = 384

    def __init__(self, model_id: str = ONNX_INT8_MODEL, model_dir: str | None = None,
                 cache_dir: Path = DEFAULT_CACHE_DIR, batch_size: int = DEFAULT_ONNX_BATCH_SIZE,
                 parallel: int | None = None) -> None:
        self.model_id = model_id
        self._precision = "fp32" if model_id == ONNX_FP32_MODEL else "int8"
        self._model_dir = Path(model_dir) if model_dir else None
        self._cache_dir = cache_dir
        self._batch_size = batch_size
        self._parallel = parallel or default_parallel()
        self._pool: ThreadPoolExecutor | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.calls = 0
        self.texts_encoded = 0

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                model_dir = self._model_dir or Path(packaged_model_path())
                path = exported_model(model_dir, self._cache_dir, self._precision)
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1  # parallel calls instead (see the class)
                options.inter_op_num_threads = 1
                options.enable_cpu_mem_arena = False  # the arena kept ~1 GB after long batches
                tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
                tokenizer.enable_padding()
                self._tokenizer = tokenizer
                self._session = onnxruntime.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"])
                self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="onnx")
            return self._session, self._tokenizer

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, padded to the batch's longest text (its own function so
        that a profile tells tokenization from the forward pass)."""
        _, tokenizer = self.load()
        encoded = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        return ids, np.array([e.attention_mask for e in encoded], dtype=np.int64)

    def _forward(self, texts: list[str]) -> np.ndarray:
        session, _ = self.load()
        ids, mask = self.tokenize(texts)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = session.run(["last_hidden_state"], feeds)
        return mean_pool(hidden, mask)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors. Texts go ``batch_size`` at a time (longest first, so a
        batch pads little), ``parallel`` batches at once; a single batch runs in the caller."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        self.calls += 1
        self.texts_encoded += len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        chunks = [order[start:start + self._batch_size]
                  for start in range(0, len(order), self._batch_size)]
        self.load()
        vectors: Iterable[np.ndarray]
        if len(chunks) == 1 or self._pool is None or self._parallel == 1:
            vectors = map(self._forward_chunk(texts), chunks)
        else:
            vectors = self._pool.map(self._forward_chunk(texts), chunks)
        for chunk, found in zip(chunks, vectors, strict=True):
            out[chunk] = found
        return out

    def _forward_chunk(self, texts: list[str]) -> Callable[[list[int]], np.ndarray]:
        return lambda chunk: self._forward([texts[i] for i in chunk])
