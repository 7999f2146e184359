"""Where a sampled stack's CPU goes: the innermost frame a rule recognises names the work.

A stack is a list of frames from the outermost call to the innermost, each as py-spy writes it:
``function (path/to/file.py:line)``. :func:`category` walks it from the innermost frame outwards
and returns the category of the first frame any rule of :data:`RULES` matches (rules are tried in
table order on each frame), the generic ``fallback`` rules only when no other rule matches any
frame: JSON encoding inside a store write counts as serialization, a PostgreSQL driver call inside
the embedding cache as the cache, and worker code that calls nothing recognised as
``worker code (other)``. Stacks of the worker's start-up (imports, model
load, warm-up: the main thread outside RQ's work loop, :func:`outside_work`) and of threads
woken from a wait (:func:`waiting`) are left out of shares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    category: str
    file: str
    """A substring of the frame's file path (``/`` separated)."""
    functions: tuple[str, ...] = ()
    """Function names (py-spy's ``Class.method`` or plain name) that match; empty: any."""
    fallback: bool = False
    """Tried only when no other rule matches any frame: generic layers (database driver, Redis
    client, RQ, worker code) that name the work only when nothing more specific calls them."""

    def matches(self, frame: Frame) -> bool:
        if self.file not in frame.file:
            return False
        return not self.functions or frame.function.split(".")[-1] in self.functions


@dataclass(frozen=True)
class Frame:
    function: str
    file: str


TOKENIZATION = "tokenization"
FORWARD = "forward pass (model)"
PADDING = "padding (estimated, inside the forward pass)"
OTHER = "other"
NATIVE = "no Python frame (native thread)"

RULES: tuple[Rule, ...] = (
    Rule("passage splitting", "embeddings/passages.py", ("passages", "split", "sentences", "offsets",
                                                         "word_offsets", "_strip", "texts_of")),
    Rule(TOKENIZATION, "embeddings/onnx.py", ("tokenize",)),
    Rule(TOKENIZATION, "tokenization_utils"),
    Rule(TOKENIZATION, "tokenizers/"),
    Rule(TOKENIZATION, "sentence_transformers/", ("tokenize",)),
    Rule("pooling / normalisation", "embeddings/onnx.py", ("mean_pool",)),
    Rule("pooling / normalisation", "sentence_transformers/models/Pooling.py"),
    Rule("pooling / normalisation", "sentence_transformers/models/Normalize.py"),
    Rule("pooling / normalisation", "sentence_transformer/modules/pooling.py"),  # (6.x)
    Rule("pooling / normalisation", "sentence_transformer/modules/normalize.py"),
    Rule("pooling / normalisation", "torch/nn/functional.py", ("normalize",)),
    Rule(FORWARD, "onnxruntime/"),
    Rule(FORWARD, "embeddings/onnx.py", ("_forward", "encode", "<lambda>")),
    Rule(FORWARD, "torch/"),
    Rule(FORWARD, "transformers/"),
    Rule(FORWARD, "sentence_transformers/"),
    Rule(FORWARD, "embeddings/encoder.py", ("encode",)),
    Rule("hashing", "embeddings/text.py", ("content_hash",)),
    Rule("hashing", "embeddings/passages.py", ("document_hash",)),
    Rule("hashing", "hashlib.py"),
    Rule("embedding cache", "query_side/readmodel.py", ("cached_embeddings", "cache_embeddings")),
    Rule("serialization", "json/"),
    Rule("serialization", "pickle"),
    Rule("serialization", "rq/serializers.py"),
    Rule("serialization", "pgvector/", ("to_db", "to_db_binary", "_to_db", "_to_db_binary")),
    Rule("serialization", "query_side/stores/weaviate/objects.py"),
    Rule("store writes", "query_side/stores/"),
    Rule("store writes", "weaviate/"),
    Rule("store writes", "grpc/"),
    Rule("PostgreSQL bookkeeping writes", "query_side/readmodel.py",
         ("note_targets", "lock_documents", "mark_applied", "announce")),
    Rule("PostgreSQL bookkeeping writes", "command_side/outbox.py"),
    Rule("PostgreSQL reads", "query_side/readmodel.py"),
    Rule("PostgreSQL reads", "sync_worker/projection.py", ("read_rows",)),
    Rule("thread pool hand-off", "concurrent/futures/"),
    Rule("metrics endpoint", "prometheus_client/"),
    Rule("metrics endpoint", "socketserver.py"),
    Rule("PostgreSQL (other calls: connect, commit)", "sqlalchemy/", fallback=True),
    Rule("PostgreSQL (other calls: connect, commit)", "psycopg", fallback=True),
    Rule("RQ / Redis", "redis/", fallback=True),
    Rule("worker code (other)", "sync_worker/", fallback=True),
    Rule("worker code (other)", "embeddings/", fallback=True),
    Rule("RQ / Redis", "rq/", fallback=True),
)

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame(text: str) -> Frame:
    """``encode (embeddings/onnx.py:201)`` → Frame("encode", "embeddings/onnx.py")."""
    found = _FRAME.match(text.strip())
    if found is None:
        return Frame(text.strip(), "")
    return Frame(found["function"], found["file"].replace("\\", "/"))


def outside_work(stack: Sequence[Frame]) -> bool:
    """Not the worker at work: its main thread outside RQ's work loop (interpreter start, imports,
    the model load, the warm-up encode, shutdown), or no Python frame at all (the interpreter
    starting or finalizing). Threads started by the worker (thread pools, metrics) count."""
    if not stack:
        return True
    return (stack[0].file != "threading.py"
            and not any("rq/worker" in f.file and f.function.endswith("work") for f in stack))


def waiting(stack: Sequence[Frame]) -> bool:
    """The innermost frame waits (a selector, a condition, a thread join): a thread woken from
    it and waiting for a core on a busy machine, which py-spy counts as running, not work."""
    if not stack:
        return False
    inner = stack[-1]
    return inner.file == "selectors.py" or (inner.file == "threading.py" and inner.function.split(
        ".")[-1] in ("wait", "_wait_for_tstate_lock"))


def left_out(stack: Sequence[Frame]) -> bool:
    return outside_work(stack) or waiting(stack)


def category(stack: Sequence[Frame], rules: Sequence[Rule] = RULES) -> str:
    if not stack:
        return NATIVE
    for fallback in (False, True):
        for one in reversed(stack):
            for rule in rules:
                if rule.fallback == fallback and rule.matches(one):
                    return rule.category
    return OTHER
