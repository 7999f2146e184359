"""The relay→worker contract, written once: the job messages, their RQ payload, the dotted paths
of the jobs, the queue of each store and the request ids of a batch.

The relay builds these and the worker parses them; the relay enqueues by dotted path, so it never
imports the worker (or torch). A change carries only (document id, version, outbox seq): the
worker reads the current row, so replays, duplicates and reordering are harmless.

The payload RQ carries is plain JSON-able data: ``(store, [{"doc_id": str, "version": int,
"seq": int, "request_id": str | None}, ...])``. Older relays sent each change as a list,
``[doc_id, version, seq]`` or ``[doc_id, version, seq, request_id]``; ``Change.from_payload``
still accepts that shape, so jobs an older relay left in Redis still run after an upgrade. (An
older worker cannot read the new shape: upgrade the workers before the relays. Jobs it fails
are kept in RQ's failed-job registry and the outbox sends their changes again.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from common.config import PipelineSettings

PROJECT_CHANGES = "sync_worker.jobs.project_changes"
"""The job that applies a batch of changes to one store: ``project_changes(store, changes)``."""
RECONCILE_STORE = "sync_worker.jobs.reconcile_store"
"""The job that compares one store with PostgreSQL and repairs it: ``reconcile_store(store)``."""


class BadJobPayload(ValueError):
    """A job's payload is not one the relay builds (nor an older relay built)."""


def queue_name(settings: PipelineSettings, store: str) -> str:
    """Each store has its own RQ queue, so a slow store never holds up the others."""
    return f"{settings.queue_name}-{store}"


@dataclass(frozen=True)
class Change:
    """One committed change a store must apply: outbox row ``seq`` made ``doc_id`` ``version``,
    in the command that had request id ``request_id`` (None in jobs of older relays)."""

    doc_id: uuid.UUID
    version: int
    seq: int
    request_id: str | None = None

    def to_payload(self) -> dict[str, object]:
        return {"doc_id": str(self.doc_id), "version": self.version, "seq": self.seq,
                "request_id": self.request_id}

    @classmethod
    def from_payload(cls, payload: object) -> Change:
        """A change from its payload: the dict this module writes, or an older relay's list."""
        if isinstance(payload, dict):
            unknown = set(payload) - {"doc_id", "version", "seq", "request_id"}
            if unknown or not {"doc_id", "version", "seq"} <= set(payload):
                raise BadJobPayload(f"a change needs doc_id, version and seq (and may have "
                                    f"request_id), got {payload!r}")
            fields = [payload["doc_id"], payload["version"], payload["seq"],
                      payload.get("request_id")]
        elif isinstance(payload, list | tuple) and len(payload) in (3, 4):
            fields = [*payload, None][:4]  # an older relay's [doc_id, version, seq(, request_id)]
        else:
            raise BadJobPayload(f"a change is a dict of doc_id, version, seq and request_id (or "
                                f"an older relay's list of 3 or 4), got {payload!r}")
        doc_id, version, seq, request_id = fields
        return cls(_document_id(doc_id), _whole("version", version, 1), _whole("seq", seq, 0),
                   str(request_id) if request_id else None)


@dataclass(frozen=True)
class ProjectChanges:
    """The job: apply these changes to store ``store`` (one job per claimed batch and store)."""

    store: str
    changes: tuple[Change, ...]

    @property
    def request_ids(self) -> list[str]:
        """The request ids of the batch's changes, sorted, each once (for the logs)."""
        return sorted({c.request_id for c in self.changes if c.request_id})

    def to_payload(self) -> tuple[str, list[dict[str, object]]]:
        """The job's arguments as RQ carries them: ``enqueue(PROJECT_CHANGES, *to_payload())``."""
        return self.store, [c.to_payload() for c in self.changes]

    @classmethod
    def from_payload(cls, store: object, changes: object) -> ProjectChanges:
        """The job from the arguments RQ hands ``project_changes``."""
        if not isinstance(store, str) or not store:
            raise BadJobPayload(f"a job names its store, got {store!r}")
        if not isinstance(changes, Sequence) or isinstance(changes, str | bytes):
            raise BadJobPayload(f"a job's changes are a list, got {changes!r}")
        return cls(store, tuple(Change.from_payload(c) for c in changes))


def _document_id(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadJobPayload(f"a change's doc_id is a UUID, got {value!r}") from None


def _whole(name: str, value: object, least: int) -> int:
    """A whole number from an int or its decimal digits (never a bool or a float)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise BadJobPayload(f"a change's {name} is a whole number, got {value!r}")
    if number < least:
        raise BadJobPayload(f"a change's {name} is at least {least}, got {value!r}")
    return number
