"""Does Weaviate compare dates right across the years Python can hold?

One document per date (one shared vector); a published_after and a published_before filter at each
of those dates; what Weaviate answers against the dates that really lie past the bound.

Run from the repository root with the project's venv (needs the weaviate-server binary that
scripts/setup builds): `.venv/bin/python docs/investigations/2026-12-08-weaviate-date-range/dates.py`.
The output of a run is in output.txt beside this file.
"""

import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from operations.stack.weaviate import EmbeddedWeaviate, ensure_binary  # noqa: E402
from query_side.stores.base import Filters, Passage, ReadDocument  # noqa: E402
from query_side.stores.weaviate import WeaviateStore, connect  # noqa: E402

DATES = [datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC), datetime(1600, 1, 1, tzinfo=UTC),
         datetime(1677, 9, 21, 0, 12, 44, tzinfo=UTC), datetime(1678, 1, 1, tzinfo=UTC),
         datetime(1970, 1, 1, tzinfo=UTC), datetime(2262, 4, 11, tzinfo=UTC),
         datetime(2262, 4, 12, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC),
         datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]


def compare(store: WeaviateStore, vector: np.ndarray, held: list[datetime]) -> None:
    for bound in DATES:
        for name, filters, wanted in (
                ("after ", Filters(published_after=bound), [d for d in held if d >= bound]),
                ("before", Filters(published_before=bound), [d for d in held if d < bound])):
            got = sorted(h.published_at for h in store.search(vector, filters, 100))
            verdict = "ok" if got == sorted(wanted) else (
                f"WRONG: got years {[g.year for g in got]}, want {[w.year for w in sorted(wanted)]}")
            print(f"{name} {bound.isoformat()}: {verdict}")


def main() -> None:
    server = EmbeddedWeaviate(Path(tempfile.mkdtemp()) / "weaviate",
                              binary=ensure_binary(build=False)).start()
    try:
        store = WeaviateStore(connect(server.http_port, server.grpc_port),
                              f"Probe{uuid.uuid4().hex[:8]}")
        store.ensure_schema()
        vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
        for date in DATES:
            store.upsert([ReadDocument(uuid.uuid4(), 1, "t", "b", None, (), {}, date, "h",
                                       (Passage(0, 1, vector),))])
        compare(store, vector, DATES)
        store.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
