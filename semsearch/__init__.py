"""semsearch: a CQRS semantic-search read platform (CLI, local stack, shared contract bits)."""

__version__ = "0.1.0"
