"""What operators run: index generations and the relevance gate, repairs, backup, status, the
demo and its corpus, the embedded local stack (``stack/``) and fault injection (``faults/``).
The CLI (``semsearch``) is its front door; nothing of the product below imports it."""
