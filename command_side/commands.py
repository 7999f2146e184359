"""Commands: what an admin asks the write model to do. Frozen, named as imperatives."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DocumentFields:
    title: str
    body: str
    category: str | None = None
    tags: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    published_at: datetime | None = None


@dataclass(frozen=True)
class CreateDocument:
    id: uuid.UUID
    fields: DocumentFields


@dataclass(frozen=True)
class ReplaceDocument:
    id: uuid.UUID
    fields: DocumentFields
    expected_version: int | None = None


@dataclass(frozen=True)
class PatchDocument:
    id: uuid.UUID
    changes: dict[str, Any]
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteDocument:
    id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True)
class ImportDocuments:
    """Create or replace many documents in one transaction."""

    documents: tuple[tuple[uuid.UUID, DocumentFields], ...]


@dataclass(frozen=True)
class DocumentChanged:
    """Event: a committed change, as the outbox records it (id and version only)."""

    id: uuid.UUID
    version: int
