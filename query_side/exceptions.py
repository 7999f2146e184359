"""Query-side errors, each mapped to one HTTP status (a problem body) in ``query_side.api``.

QueryError
├── DocumentNotIndexed      404
├── ReadModelBehind         409  (with Retry-After, the store and the documents behind)
├── TooManyWaits            429 (one caller's) or 503 (the process's), with Retry-After
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


class TooManyWaits(QueryError):
    """A token wait refused at once: ``limit`` (the setting's env name) waits are going on."""

    def __init__(self, status_code: int, limit: str, value: int, retry_after_s: int) -> None:
        self.status_code, self.limit, self.retry_after_s = status_code, limit, retry_after_s
        whose = "this caller's" if status_code == 429 else "this process's"
        super().__init__(f"{whose} {value} consistency-token waits are all taken ({limit}); "
                         f"retry in {retry_after_s}s, or search without a token")
