"""Idempotency keys: a retry with the same key and body gets the first answer again."""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from command_side.exceptions import IdempotencyKeyReused
from command_side.schema import idempotency_keys

MAX_KEY_LENGTH = 200


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recall(conn: Connection, key: str, fingerprint: str) -> tuple[int, dict[str, Any]] | None:
    """The stored answer for ``key``, or None; a key reused with another request is refused."""
    row = conn.execute(
        sa.select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.status_code,
            idempotency_keys.c.response,
        ).where(idempotency_keys.c.key == key)
    ).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used for a different request: "
            "use a new key for a new request"
        )
    return row.status_code, row.response


def remember(
    conn: Connection, key: str, fingerprint: str, status_code: int, response: dict[str, Any]
) -> None:
    conn.execute(
        sa.insert(idempotency_keys).values(
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response=response,
            created_at=sa.func.now(),
        )
    )
