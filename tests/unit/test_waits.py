"""Token waits (query_side.waits): woken by changes, bounded in number and time, and each look
at the read model asks only for the writes still missing."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from query_side import waits as waits_module
from query_side.exceptions import ReadModelBehind, TooManyWaits
from query_side.results import ChangeSignal
from query_side.waits import Behind, Waits, Written


def live_signal() -> ChangeSignal:
    signal = ChangeSignal()
    signal.live = True
    return signal


def test_a_wait_looks_again_only_for_the_writes_still_missing() -> None:
    signal = live_signal()
    written = [(uuid.uuid4(), 1) for _ in range(1000)]
    held: set[uuid.UUID] = set()
    asked: list[int] = []

    def look(store: str, lacking: Written) -> Behind:
        asked.append(len(lacking))
        return [(i, v, 0) for i, v in lacking if i not in held]

    async def scenario() -> str:
        waiting = asyncio.create_task(Waits(signal, 10, 10).reached(look, ["pgvector"], written, 5))
        for applied in (990, 9, 1):  # three batches applied, each announced
            await asyncio.sleep(0.05)
            held.update(i for i, _ in written[len(held):len(held) + applied])
            signal.notify()
        return await waiting

    assert asyncio.run(scenario()) == "pgvector"
    assert asked == [1000, 1000, 10, 1]  # each look asks what the one before found missing


def test_a_wait_is_woken_by_the_change_not_by_polling() -> None:
    signal, looks, applied = live_signal(), [], threading.Event()
    doc = uuid.uuid4()

    def look(store: str, lacking: Written) -> Behind:
        looks.append(time.monotonic())
        return [] if applied.is_set() else [(doc, 1, 0)]

    def apply_later() -> None:
        time.sleep(0.6)
        applied.set()
        signal.notify()  # from another thread, as the listener does

    threading.Thread(target=apply_later).start()
    started = time.monotonic()
    assert asyncio.run(Waits(signal, 10, 10, recheck_s=5).reached(
        look, ["pgvector"], [(doc, 1)], 5)) == "pgvector"
    assert time.monotonic() - started < 1.0  # woken by the change, not by the 5 s limit
    assert len(looks) == 2


def test_a_wait_ends_at_its_cap_even_while_a_look_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits_module, "GRACE_S", 0.2)
    doc, release = uuid.uuid4(), threading.Event()

    def hanging(store: str, lacking: Written) -> Behind:
        release.wait(5)
        return [(doc, 1, 0)]

    started = time.monotonic()
    with pytest.raises(ReadModelBehind) as behind:
        asyncio.run(Waits(live_signal(), 10, 10).reached(hanging, ["pgvector"], [(doc, 1)], 0.3))
    release.set()
    assert time.monotonic() - started < 1.0
    assert behind.value.missing == [(doc, 1, 0)]


def test_waits_are_bounded_per_caller_and_per_process() -> None:
    waits = Waits(live_signal(), limit=3, per_caller=2)
    with waits.taken("key a"), waits.taken("key a"):
        with pytest.raises(TooManyWaits) as mine:
            with waits.taken("key a"):
                pass
        assert mine.value.status_code == 429 and mine.value.limit == "TOKEN_WAITS_PER_CALLER"
        with waits.taken("key b"):
            with pytest.raises(TooManyWaits) as full:
                with waits.taken("key c"):
                    pass
            assert full.value.status_code == 503 and full.value.limit == "TOKEN_WAITS"
    assert waits.waiting == 0
    with waits.taken("key a"), waits.taken("key a"):  # every slot given back
        pass


def test_change_signal_wakes_a_coroutine_from_another_thread() -> None:
    signal = ChangeSignal()

    async def scenario() -> tuple[bool, bool]:
        seen = signal.count
        quiet = await signal.changed_past(seen, 0.05)
        threading.Timer(0.05, signal.notify).start()
        return quiet, await signal.changed_past(seen, 5.0)

    started = time.monotonic()
    assert asyncio.run(scenario()) == (False, True)
    assert time.monotonic() - started < 1.0
