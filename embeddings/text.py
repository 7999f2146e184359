"""What gets embedded, defined in one place.

Only the title and body feed the vector: a change of category, tags or attributes updates the
read model's metadata but never pays for the model again (pgai users asked for exactly this).
"""

import hashlib


def embedded_text(title: str, body: str) -> str:
    """The text the encoder sees for a document."""
    return f"{title.strip()}\n\n{body.strip()}"


def content_hash(text: str, model_id: str) -> str:
    """Key of the embedding cache: the embedded text's hash together with the model's id."""
    digest = hashlib.sha256()
    digest.update(model_id.encode())
    digest.update(b"\x00")
    digest.update(text.encode())
    return digest.hexdigest()
