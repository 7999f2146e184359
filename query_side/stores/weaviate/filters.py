"""Filters → a Weaviate filter, with the same meaning as ``pgvector/filters.py`` gives them in SQL.

Attributes are free-form JSON, which Weaviate cannot filter directly, so each object carries two
derived forms of its scalar attributes:

- ``attr_eq`` (text array, field tokenization): one term per scalar attribute,
  ``json(key) + "=" + canonical json(value)``; an equality filter is "``attr_eq`` contains the
  term". Numbers are canonical as in PostgreSQL's jsonb, where ``2000`` equals ``2000.0``; booleans
  stay ``true``/``false`` and never equal ``1``/``0``. The key is JSON-quoted so that field
  tokenization (which trims whitespace) cannot fold two keys together.
- ``attr_num__<key>`` (number): one property per numeric attribute key, added to the schema the
  first time a record with that key is written; range filters use it. Booleans are not numbers
  (jsonb_typeof 'boolean'). A key that is not a plain ``[a-z0-9_]`` name gets a hashed name.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import _Filters

from query_side.stores.base import Filters, Range

NUMBER_PREFIX = "attr_num__"
PLAIN_KEY = re.compile(r"[a-z0-9_]{1,100}")


def canonical(value: Any) -> str:
    """JSON text of a scalar, equal for values PostgreSQL's jsonb holds equal (2000 == 2000.0)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def equality_term(key: str, value: Any) -> str:
    return f"{json.dumps(key)}={canonical(value)}"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(float(value))


def number_property(key: str) -> str:
    """The NUMBER property that holds attribute ``key`` for range filters."""
    if PLAIN_KEY.fullmatch(key):
        return NUMBER_PREFIX + key
    return "attr_num_x_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def equality_terms(attributes: dict[str, Any]) -> list[str]:
    """The ``attr_eq`` terms of a document: its scalar attributes (jsonb @> matches no others)."""
    return [equality_term(key, value) for key, value in attributes.items()
            if isinstance(value, bool | int | float | str)]


def number_properties(attributes: dict[str, Any]) -> dict[str, float]:
    return {number_property(key): float(value) for key, value in attributes.items()
            if is_number(value)}


def range_properties(filters: Filters) -> list[str]:
    """The number properties a filter's ranges need; a missing one means no document matches."""
    return [number_property(key) for key, wanted in (filters.attributes or {}).items()
            if isinstance(wanted, Range) and wanted.model_dump(exclude_none=True)]


def to_filter(filters: Filters) -> _Filters | None:
    parts: list[_Filters] = []
    if filters.category:
        parts.append(Filter.by_property("category").contains_any(filters.category))
    if filters.tags_any:
        parts.append(Filter.by_property("tags").contains_any(filters.tags_any))
    if filters.tags_all:
        parts.append(Filter.by_property("tags").contains_all(filters.tags_all))
    if filters.published_after:
        parts.append(Filter.by_property("published_at").greater_or_equal(filters.published_after))
    if filters.published_before:
        parts.append(Filter.by_property("published_at").less_than(filters.published_before))
    for key, wanted in (filters.attributes or {}).items():
        if isinstance(wanted, Range):
            parts.extend(_range(number_property(key), wanted))
        else:
            parts.append(Filter.by_property("attr_eq").contains_any([equality_term(key, wanted)]))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)


def _range(prop: str, wanted: Range) -> list[_Filters]:
    field = Filter.by_property(prop)
    bounds = {
        "gt": field.greater_than, "gte": field.greater_or_equal,
        "lt": field.less_than, "lte": field.less_or_equal,
    }
    return [bounds[op](float(bound)) for op, bound in wanted.model_dump(exclude_none=True).items()]
