"""Issue 31, point 7: projecting into pgvector warns nothing (the terminal of `index build`,
`promote`, `reconcile` and the worker's log stay clean)."""

from __future__ import annotations

import warnings

from embeddings.encoder import HashingEncoder
from tests.pipeline import pipeline
from tests.services import Services


def test_a_pgvector_write_and_rewrite_warn_nothing(services: Services) -> None:
    with pipeline(services, HashingEncoder()) as p:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            created = p.create(title="quiet", body="a write that warns nothing")
            p.sync()
            p.command.put(f"/v1/documents/{created['id']}",
                          json={"title": "quiet", "body": "its second version"})
            p.sync()
        assert [str(w.message) for w in warned] == []
        assert p.runtime.store("pgvector").count() == 1
