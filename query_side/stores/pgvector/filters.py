"""Filters → a SQL WHERE clause with bound parameters (pgvector store)."""

from __future__ import annotations

import json
from typing import Any

from query_side.stores.base import Filters, Range

OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def where_clause(filters: Filters) -> tuple[str, dict[str, Any]]:
    parts: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if filters.category:
        parts.append("category = ANY(:f_category)")
        params["f_category"] = filters.category
    if filters.tags_any:
        parts.append("tags && CAST(:f_tags_any AS text[])")
        params["f_tags_any"] = filters.tags_any
    if filters.tags_all:
        parts.append("tags @> CAST(:f_tags_all AS text[])")
        params["f_tags_all"] = filters.tags_all
    if filters.published_after:
        parts.append("published_at >= :f_after")
        params["f_after"] = filters.published_after
    if filters.published_before:
        parts.append("published_at < :f_before")
        params["f_before"] = filters.published_before
    for n, (key, wanted) in enumerate((filters.attributes or {}).items()):
        if isinstance(wanted, Range):
            params[f"f_key{n}"] = key
            for op, bound in wanted.model_dump(exclude_none=True).items():
                name = f"f_attr{n}_{op}"
                parts.append(
                    f"CASE WHEN jsonb_typeof(attributes -> :f_key{n}) = 'number' "
                    f"THEN (attributes ->> :f_key{n})::double precision END {OPERATORS[op]} :{name}"
                )
                params[name] = float(bound)
        else:
            parts.append(f"attributes @> CAST(:f_attr{n} AS jsonb)")
            params[f"f_attr{n}"] = json.dumps({key: wanted})
    return " AND ".join(parts), params
