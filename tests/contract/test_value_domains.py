"""The value domains (common/values.py) on every store: the edges of what the command API
accepts are held, and filters, validated as the query API validates them, find the same
documents everywhere (a Weaviate date past its int64-nanosecond range once matched the wrong
years; whitespace around a filter value matched on one store only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from common.values import MAX_INTEGER
from query_side.stores.base import Filters, VectorStore
from tests.contract.test_store_contract import doc

EDGES = {
    "first": dict(published_at=datetime(1678, 1, 1, 0, 0, tzinfo=UTC), category="padded",
                  tags=("tag",), attributes={"n": MAX_INTEGER, "tiny": 5e-324, "pad": "  x  "}),
    "last": dict(published_at=datetime(2261, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                 attributes={"n": -MAX_INTEGER, "zero": -0.0, "frac": 0.1}),
    "mid": dict(published_at=datetime(2000, 1, 1, tzinfo=UTC), attributes={"n": 0}),
}

FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"published_after": "0001-01-01T00:00:00+14:00"}, {"first", "last", "mid"}),
    ({"published_before": "9999-12-31T23:59:59-14:00"}, {"first", "last", "mid"}),
    ({"published_after": "1600-01-01T00:00:00Z"}, {"first", "last", "mid"}),
    ({"published_before": "3000-01-01T00:00:00Z"}, {"first", "last", "mid"}),
    ({"published_after": "2500-01-01T00:00:00Z"}, set()),
    ({"published_before": "1500-01-01T00:00:00Z"}, set()),
    ({"published_after": "2261-12-31T23:59:59Z"}, {"last"}),
    ({"published_before": "1678-01-01T00:00:01Z"}, {"first"}),
    ({"category": [" padded\u3000"]}, {"first"}),
    ({"tags_all": ["\ttag".strip(), " tag"]}, {"first"}),
    ({"attributes": {"n": MAX_INTEGER}}, {"first"}),
    ({"attributes": {"n": {"lte": -MAX_INTEGER}}}, {"last"}),
    ({"attributes": {"n": {"gt": -MAX_INTEGER, "lt": MAX_INTEGER}}}, {"mid"}),
    ({"attributes": {"tiny": {"gt": 0}}}, {"first"}),
    ({"attributes": {"zero": 0}}, {"last"}),
    ({"attributes": {"frac": 0.1}}, {"last"}),
    ({"attributes": {"pad": "  x  "}}, {"first"}),
    ({"attributes": {"pad": "x"}}, set()),
]


@pytest.mark.parametrize(("wanted", "expected"), FILTERS, ids=[str(f[0]) for f in FILTERS])
def test_filters_on_the_domain_edges_agree(store: VectorStore, wanted: dict[str, Any],
                                           expected: set[str]) -> None:
    made = {name: doc(**fields) for name, fields in EDGES.items()}
    store.upsert(list(made.values()))
    names = {d.id: name for name, d in made.items()}
    hits = store.search(None, Filters.model_validate(wanted), 10)
    assert {names[h.id] for h in hits} == expected
