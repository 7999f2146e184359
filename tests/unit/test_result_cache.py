"""The result cache answers only while it hears store changes, and never keeps a stale answer."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from query_side.results import ChangeSignal, ResultCache
from semsearch import consistency


def live(size: int = 8) -> ResultCache:
    cache = ResultCache(size)
    cache.live = True
    return cache


def test_a_result_is_served_until_its_store_changes() -> None:
    cache = live()
    cache.put("pgvector", "q", b"[1]", cache.generation("pgvector"))
    cache.put("weaviate", "q", b"[2]", cache.generation("weaviate"))
    assert cache.get("pgvector", "q") == b"[1]"
    cache.changed("pgvector")
    assert cache.get("pgvector", "q") is None
    assert cache.get("weaviate", "q") == b"[2]"  # another store's results stay
    cache.changed()  # any store may have changed
    assert cache.get("weaviate", "q") is None


def test_an_answer_computed_across_a_change_is_not_kept() -> None:
    cache = live()
    started = cache.generation("pgvector")
    cache.changed("pgvector")  # heard while the search ran: its answer may predate the change
    cache.put("pgvector", "q", b"[old]", started)
    assert cache.get("pgvector", "q") is None


def test_nothing_is_served_or_kept_while_not_listening() -> None:
    cache = live()
    cache.put("pgvector", "q", b"[1]", 0)
    cache.live = False
    assert cache.get("pgvector", "q") is None
    cache.put("pgvector", "r", b"[2]", 0)
    cache.live = True
    assert cache.get("pgvector", "r") is None
    assert ResultCache(0).get("pgvector", "q") is None  # size 0: off


def test_the_cache_is_a_bounded_lru_per_store() -> None:
    cache = live(size=2)
    for key in ("a", "b"):
        cache.put("pgvector", key, key.encode(), 0)
    assert cache.get("pgvector", "a") == b"a"  # "a" is now the most recent
    cache.put("pgvector", "c", b"c", 0)
    assert cache.get("pgvector", "b") is None
    assert cache.get("pgvector", "a") == b"a" and cache.get("pgvector", "c") == b"c"


class _Router:
    """Just enough of a StoreRouter for ``serving_store``: one store, a no-op connection."""

    class read_engine:  # noqa: N801
        @staticmethod
        @contextmanager
        def connect() -> Iterator[None]:
            yield None

    @staticmethod
    def candidates(generation: int | None = None) -> list[str]:
        return ["pgvector"]


def test_a_read_your_writes_wait_is_woken_by_the_change_not_by_polling(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from query_side import api

    applied, looks = threading.Event(), []
    doc = uuid.uuid4()

    def reached(conn: object, store: str, written: list[tuple[uuid.UUID, int]]) -> list[object]:
        looks.append(time.monotonic())
        return [] if applied.is_set() else [(doc, 1, 0)]

    monkeypatch.setattr(api.readmodel, "reached", reached)
    changes = ChangeSignal()
    changes.live = True

    def apply_later() -> None:
        time.sleep(0.6)
        applied.set()
        changes.notify()

    threading.Thread(target=apply_later).start()
    started = time.monotonic()
    assert api.serving_store(_Router(), consistency.encode([(doc, 1)]), 5.0, changes) == "pgvector"
    assert time.monotonic() - started < 1.0  # woken by the change, not by the 5 s limit
    assert len(looks) <= 5  # ~3 rechecks at 0.25 s; polling every 20 ms would look ~30 times

    changes.live = False  # not hearing changes: back to polling, and the wait still ends
    applied.clear()
    threading.Timer(0.2, applied.set).start()
    looks.clear()
    assert api.serving_store(_Router(), consistency.encode([(doc, 1)]), 5.0, changes) == "pgvector"
    assert len(looks) > 5


def test_change_signal_wait_ends_on_a_change_or_the_timeout() -> None:
    signal = ChangeSignal()
    seen = signal.count
    assert signal.wait_past(seen, 0.05) is False
    threading.Timer(0.05, signal.notify).start()
    assert signal.wait_past(seen, 5.0) is True
    assert signal.wait_past(seen, 0.01) is True  # a change already heard does not wait
