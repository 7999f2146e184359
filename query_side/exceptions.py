"""Query-side errors, each mapped to one HTTP status (a problem body) in ``query_side.api``.

QueryError
├── DocumentNotIndexed      404
├── ReadModelBehind         409  (with Retry-After, the store and the documents behind)
└── BadToken                422
StoreUnavailable (query_side.stores.base)  503  (with Retry-After)
"""

from __future__ import annotations

import uuid


class QueryError(Exception):
    status_code = 400


class DocumentNotIndexed(QueryError):
    status_code = 404


class BadToken(QueryError):
    status_code = 422


class ReadModelBehind(QueryError):
    status_code = 409

    def __init__(self, store: str, missing: list[tuple[uuid.UUID, int, int]], waited: float):
        self.store, self.missing, self.waited = store, missing, waited
        worst = max((wanted - held for _, wanted, held in missing), default=0)
        super().__init__(f"the read model ({store}) has not reached your write after "
                         f"{waited:.2f}s: {len(missing)} document(s) behind, by up to "
                         f"{worst} version(s); retry, or wait longer with wait_ms")
