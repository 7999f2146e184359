"""semsearch: a CQRS semantic-search read platform. This package is its front door, the
``semsearch`` CLI (``semsearch.cli``); the shared ground floor is ``common``, what operators run
is ``operations``."""

__version__ = "0.1.0"
