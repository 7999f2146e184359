"""Command handlers: plain functions over one open transaction.

Each writes the document and its outbox row in the caller's transaction, so a rollback leaves
neither; the relay sees a change only once it is committed.
"""

import json
import uuid
from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from command_side.commands import (
    CreateDocument,
    DeleteDocument,
    DocumentChanged,
    DocumentFields,
    ImportDocuments,
    PatchDocument,
    ReplaceDocument,
)
from command_side.exceptions import DocumentExists, DocumentNotFound, VersionMismatch
from command_side.outbox import record_changes, with_change
from command_side.schema import documents

NOW = sa.func.now()


def _values(fields: DocumentFields) -> dict[str, object]:
    values = asdict(fields)
    values["tags"] = list(fields.tags)
    return values


FIELDS = ("title", "body", "category", "tags", "attributes", "published_at")

_CHANGE = """
    INSERT INTO outbox (doc_id, version, pending_stores, created_at, request_id)
    SELECT id, version, CAST(:stores AS text[]), now(), CAST(:request_id AS text)
    FROM changed RETURNING version"""
"""The outbox row of whatever ``changed`` (a CTE returning id and version) wrote: the document
and its change in ONE statement (as ``outbox.with_change`` builds for the other commands).
Creates and replaces are the hot commands, so theirs are plain SQL: compiled once, not built
and cache-keyed by SQLAlchemy on every request."""

CREATE = sa.text(f"""
    WITH changed AS (
        INSERT INTO documents AS d (id, {", ".join(FIELDS)}, version, created_at, updated_at)
        VALUES (:id, :title, :body, :category, :tags, CAST(:attributes AS jsonb), :published_at, 1,
                now(), now())
        ON CONFLICT (id) DO UPDATE SET {", ".join(f"{f} = excluded.{f}" for f in FIELDS)},
            version = d.version + 1, updated_at = now(), deleted_at = NULL
        WHERE d.deleted_at IS NOT NULL
        RETURNING id, version)""" + _CHANGE)

REPLACE = sa.text(f"""
    WITH changed AS (
        UPDATE documents SET {", ".join(f"{f} = :{f}" for f in FIELDS if f != "attributes")},
            attributes = CAST(:attributes AS jsonb), version = version + 1, updated_at = now()
        WHERE id = :id AND deleted_at IS NULL
            AND (CAST(:expected AS integer) IS NULL OR version = CAST(:expected AS integer))
        RETURNING id, version)""" + _CHANGE)


def _params(doc_id: uuid.UUID, fields: DocumentFields, stores: list[str],
            request_id: str | None) -> dict[str, object]:
    return {**_values(fields), "id": doc_id, "attributes": json.dumps(fields.attributes),
            "stores": stores, "request_id": request_id}


def create_document(cmd: CreateDocument, conn: Connection, stores: list[str],
                    request_id: str | None = None) -> DocumentChanged:
    """Insert a new document; an id whose document was deleted may be created again."""
    version = conn.execute(CREATE, _params(cmd.id, cmd.fields, stores, request_id)).scalar()
    if version is None:
        raise DocumentExists(f"document {cmd.id} already exists: use PUT or PATCH to change it")
    return DocumentChanged(cmd.id, version)


def _update(
    conn: Connection,
    doc_id: uuid.UUID,
    expected: int | None,
    values: dict[str, object],
    stores: list[str],
    request_id: str | None,
) -> DocumentChanged:
    stmt = (
        sa.update(documents)
        .where(documents.c.id == doc_id, documents.c.deleted_at.is_(None))
        .values(**values, version=documents.c.version + 1, updated_at=NOW)
        .returning(documents.c.id, documents.c.version)
    )
    if expected is not None:
        stmt = stmt.where(documents.c.version == expected)
    version = conn.execute(with_change(stmt, stores, request_id)).scalar()
    if version is None:
        raise _why_not_updated(conn, doc_id, expected)
    return DocumentChanged(doc_id, version)


def _why_not_updated(conn: Connection, doc_id: uuid.UUID, expected: int | None) -> Exception:
    current = conn.execute(
        sa.select(documents.c.version).where(
            documents.c.id == doc_id, documents.c.deleted_at.is_(None)
        )
    ).scalar()
    if current is None:
        return DocumentNotFound(f"document {doc_id} does not exist")
    return VersionMismatch(
        f"document {doc_id} is at version {current}, not {expected}: re-read it and retry"
    )


def replace_document(cmd: ReplaceDocument, conn: Connection, stores: list[str],
                     request_id: str | None = None) -> DocumentChanged:
    params = _params(cmd.id, cmd.fields, stores, request_id) | {"expected": cmd.expected_version}
    version = conn.execute(REPLACE, params).scalar()
    if version is None:
        raise _why_not_updated(conn, cmd.id, cmd.expected_version)
    return DocumentChanged(cmd.id, version)


def patch_document(cmd: PatchDocument, conn: Connection, stores: list[str],
                   request_id: str | None = None) -> DocumentChanged:
    changes = dict(cmd.changes)
    if "tags" in changes:
        changes["tags"] = list(changes["tags"])
    return _update(conn, cmd.id, cmd.expected_version, changes, stores, request_id)


def delete_document(cmd: DeleteDocument, conn: Connection, stores: list[str],
                    request_id: str | None = None) -> DocumentChanged:
    """Leave a tombstone with a new version, so the read side deletes exactly once."""
    return _update(conn, cmd.id, cmd.expected_version, {"deleted_at": NOW}, stores, request_id)


def import_documents(
    cmd: ImportDocuments, conn: Connection, stores: list[str], request_id: str | None = None
) -> list[DocumentChanged]:
    """Create or replace every document in one statement and one transaction."""
    rows = [
        {"id": doc_id, **_values(fields), "version": 1, "deleted_at": None}
        | {"created_at": NOW, "updated_at": NOW}
        for doc_id, fields in cmd.documents
    ]
    insert_stmt = insert(documents).values(rows)
    excluded = insert_stmt.excluded
    stmt = insert_stmt.on_conflict_do_update(
        index_elements=[documents.c.id],
        set_={
            **{name: excluded[name] for name in asdict(cmd.documents[0][1])},
            "version": documents.c.version + 1,
            "updated_at": NOW,
            "deleted_at": None,
        },
    ).returning(documents.c.id, documents.c.version)
    versions: dict[uuid.UUID, int] = dict(conn.execute(stmt).all())
    changes = [DocumentChanged(doc_id, versions[doc_id]) for doc_id, _ in cmd.documents]
    record_changes(conn, changes, stores, request_id)
    return changes
