"""The result cache answers only while it hears store changes, and never keeps a stale answer."""

from __future__ import annotations

import threading

from query_side.results import ChangeSignal, ResultCache


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


def test_change_signal_wait_ends_on_a_change_or_the_timeout() -> None:
    signal = ChangeSignal()
    seen = signal.count
    assert signal.wait_past(seen, 0.05) is False
    threading.Timer(0.05, signal.notify).start()
    assert signal.wait_past(seen, 5.0) is True
    assert signal.wait_past(seen, 0.01) is True  # a change already heard does not wait
