"""The PID-reuse rule of operations/stack/leftovers.py, on this test's own child processes: a
recorded pid is ended only while it is still the process that was recorded."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator

import pytest

from operations.stack.leftovers import Ledger, Stamp, end_leftovers, leftover_groups, stamp


class HeldLedger(Ledger):
    """A ledger that is only in memory (no data folder)."""

    def __init__(self, entries: dict[str, Stamp]) -> None:
        self.held = entries

    def entries(self) -> dict[str, Stamp]:
        return self.held

    def clear(self) -> None:
        self.held = {}


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)  # its own group, as Managed
    yield proc
    proc.kill()
    proc.wait()


def test_a_recorded_pid_whose_start_time_differs_is_left_alone(
        child: subprocess.Popen[bytes]) -> None:
    now = stamp(child.pid)
    assert now is not None and "sleep 60" in now.cmdline
    reused = dataclasses.replace(now, start=now.start - 1)  # the recorded one started earlier
    assert leftover_groups({"worker-1": reused}) == {}
    assert end_leftovers(HeldLedger({"worker-1": reused}), grace=0.5) == []
    assert child.poll() is None


def test_a_recorded_pid_whose_command_line_differs_is_left_alone(
        child: subprocess.Popen[bytes]) -> None:
    now = stamp(child.pid)
    assert now is not None
    other = dataclasses.replace(now, cmdline="postgres -D /somewhere/else")
    assert end_leftovers(HeldLedger({"postgres": other}), grace=0.5) == []
    assert child.poll() is None


def test_a_recorded_child_that_is_still_itself_is_ended(child: subprocess.Popen[bytes]) -> None:
    now = stamp(child.pid)
    assert now is not None
    assert end_leftovers(HeldLedger({"redis": now}), grace=2) == ["redis"]
    assert child.wait(5) is not None
