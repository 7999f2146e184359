"""Text → vector. The encoder is loaded lazily, once per process.

Public surface: :class:`Encoder` (the protocol every encoder meets), :func:`load_encoder`,
:func:`embedded_text` and :func:`content_hash` (what gets embedded is defined once, here).
"""

from embeddings.encoder import (
    DEFAULT_MODEL,
    Encoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    load_encoder,
)
from embeddings.text import content_hash, embedded_text

__all__ = [
    "DEFAULT_MODEL",
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "content_hash",
    "embedded_text",
    "load_encoder",
]
