"""Two workers projecting the same document at once, in the worst order: the first read the
row at version 1 and is still embedding it when the second reads version 2 and writes it. When
the first one reaches the store, the older version must not win (in either store)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest

from embeddings import Encoder
from sync_worker.projection import Outcome, project
from tests.pipeline import WrappedEncoder, pipeline
from tests.services import Services


@dataclass
class HeldEncoder(WrappedEncoder):
    """Says when a call arrived, then holds it until released."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.arrived.set()
        assert self.release.wait(120), "the test never released the encoder"
        return self.inner.encode(texts)


@pytest.mark.parametrize("store_name", ["pgvector", "weaviate"])
def test_a_slow_worker_holding_an_older_version_never_overwrites_a_newer_one(
        services: Services, real_encoder: Encoder, store_name: str) -> None:
    if store_name == "weaviate" and services.weaviate is None:
        pytest.skip(services.weaviate_error or "no Weaviate")  # CI=true never gets here
    with pipeline(services, real_encoder, stores=[store_name], query_store=store_name) as pipe:
        doc = pipe.create(title="Tides", body="The moon pulls the oceans into two bulges.")
        doc_id = uuid.UUID(doc["id"])
        first_seq = pipe.outbox(doc["id"])[0].seq
        rt, store = pipe.runtime, pipe.runtime.store(store_name)
        slow = HeldEncoder(real_encoder)
        done: list[Outcome] = []
        first = threading.Thread(target=lambda: done.append(project(
            store, [(doc_id, 1, first_seq)], rt.write_engine, rt.read_engine, slow)))
        first.start()
        try:
            assert slow.arrived.wait(120)  # it has read version 1 and is embedding it
            pipe.command.put(f"/v1/documents/{doc_id}", json={
                "title": "Tides", "body": "Spring tides follow the new and the full moon."})
            second_seq = pipe.outbox(doc["id"])[1].seq
            newer = project(store, [(doc_id, 2, second_seq)], rt.write_engine, rt.read_engine,
                            real_encoder)
            assert newer.upserted == 1
        finally:
            slow.release.set()
            first.join(120)
        assert [o.upserted for o in done] == [0]  # it found version 2 there and wrote nothing
        held = {v.id: v for v in store.versions(None, 10)}
        assert held[doc_id].version == 2
        hit = pipe.search("spring tides new moon", limit=1)["hits"][0]
        assert hit["id"] == doc["id"] and hit["version"] == 2 and "Spring" in hit["snippet"]
