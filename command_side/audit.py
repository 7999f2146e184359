"""The audit trail: who changed what, and who was refused.

Each command writes one ``audit_log`` row in its own transaction (so a command and its row are
committed together or not at all): when, the key's name (``anonymous`` with AUTH=off), the
client address, method and route, the documents and versions written, the Idempotency-Key, the
status and outcome (``written``, ``replayed``). A refused request (401, 403, 404, 409, 412, 422
from a command, 429) gets a row of its own after the refusal (``refused`` with the reason),
never its body. Maintenance from the CLI (reindex, dead-letter replay, reconcile --apply) is
recorded with the key name ``cli:<user>``. Rows older than ``AUDIT_RETENTION_DAYS`` are purged
by the relay.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from command_side.schema import audit_log


@dataclass(frozen=True)
class Entry:
    key_name: str
    client: str
    method: str
    route: str
    idempotency_key: str | None = None
    request_id: str | None = None
    status: int = 0
    outcome: str = ""
    doc_ids: list[uuid.UUID] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    detail: str | None = None

    def written(self, status: int, body: dict[str, Any], outcome: str = "written") -> Entry:
        items = body.get("items") or [body]
        return replace(self, status=status, outcome=outcome,
                       doc_ids=[uuid.UUID(str(i["id"])) for i in items],
                       versions=[int(i["version"]) for i in items])

    def refused(self, status: int, reason: str, doc_id: uuid.UUID | None = None) -> Entry:
        return replace(self, status=status, outcome="refused", detail=reason[:500],
                       doc_ids=[doc_id] if doc_id else [])


def record(conn: Connection, entry: Entry) -> None:
    conn.execute(sa.insert(audit_log).values(**asdict(entry), at=sa.func.now()))


def maintenance(engine: Engine, action: str, detail: str, doc_ids: list[uuid.UUID] | None = None,
                ) -> None:
    """Record an operator's maintenance command, run from the CLI."""
    with engine.begin() as conn:
        record(conn, Entry(f"cli:{getpass.getuser()}", "local", "CLI", action, status=0,
                           outcome="done", doc_ids=doc_ids or [], detail=detail[:500]))


def purge(engine: Engine, retention_days: float) -> int:
    with engine.begin() as conn:
        return conn.execute(sa.delete(audit_log).where(
            audit_log.c.at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0,
                                                                    retention_days * 86400)
        )).rowcount


def find(conn: Connection, key: str | None = None, document: uuid.UUID | None = None,
         since: datetime | None = None, until: datetime | None = None,
         limit: int = 100) -> list[Any]:
    """Rows matching every filter given, newest first."""
    query = sa.select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if key is not None:
        query = query.where(audit_log.c.key_name == key)
    if document is not None:
        query = query.where(audit_log.c.doc_ids.any(document))
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    return list(conn.execute(query).all())
