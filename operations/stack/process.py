"""Small helpers for supervising server processes.

Children die with their supervisor: each is started with ``PR_SET_PDEATHSIG`` = SIGKILL, from one
long-lived spawner thread (the signal fires when the *thread* that forked exits, not the
process). A stop is bounded: :func:`stop_all` sends SIGTERM (PostgreSQL: SIGINT) to every
child's process group at once, and SIGKILL to what is left after :data:`STOP_GRACE` seconds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from operations.stack.leftovers import Ledger

PR_SET_PDEATHSIG = 1
STOP_GRACE = 6.0
"""Seconds every child gets after SIGTERM, all at once, before SIGKILL."""
KILL_WAIT = 2.0
"""Seconds to wait for a SIGKILLed child to be reaped."""
_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="semsearch-spawner")
"""Lives as long as the process: children die when the thread that started them ends."""


_LIBC = ctypes.CDLL(None, use_errno=True)
"""Loaded here, once: a forked child of a threaded process must not dlopen (the loader's lock)."""
_PRCTL = getattr(_LIBC, "prctl", None)


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent ends (before exec, in the child; kept
    across exec, not across fork). ``parent``: the pid it must still have, else exit at once."""
    if _PRCTL is None or _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not Linux: the next start ends leftovers (operations/stack/leftovers.py)
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent died before we asked


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    return "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None,
               alive: Callable[[], bool] | None = None) -> None:
    """Poll ``check`` until it is true; fail at once if the process behind it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"{what} exited while starting{log_tail(log)}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f}s{log_tail(log)}")


class Managed:
    """A child process in its own process group, stopped with SIGTERM then SIGKILL; it dies
    with this process, and ``ledger`` (its data folder's) records it for the next start."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None, user: str | None = None,
                 ledger: Ledger | None = None, stop_signal: signal.Signals = signal.SIGTERM
                 ) -> None:
        """``stop_signal``: what asks it to stop (PostgreSQL: SIGINT, its fast shutdown)."""
        self.name = name
        self.args = args
        self.log = log
        self.env = env
        self.cwd = cwd
        self.user = user
        self.ledger = ledger
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Managed:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = _SPAWNER.submit(self._popen, out).result()
        if self.ledger is not None:
            self.ledger.add(self.name, self.proc.pid)
        return self

    def _popen(self, out: IO[bytes]) -> subprocess.Popen[bytes]:
        supervisor = os.getpid()
        return subprocess.Popen(
            self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
            start_new_session=True, user=self.user,  # preexec_fn runs after the user change,
            preexec_fn=lambda: die_with_parent(supervisor),  # which would clear the signal
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, for fault tests."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to its process group while it is not yet reaped (so its pid, and
        with it the group's id, cannot belong to anyone else)."""
        if self.alive():
            assert self.proc is not None
            try:
                os.killpg(self.proc.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def wait_for_exit(self, deadline: float) -> bool:
        """Wait until it has exited or ``deadline`` (time.monotonic()) passed; exited?"""
        assert self.proc is not None
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        stop_all([self], timeout)


def stop_all(processes: Iterable[Managed], grace: float = STOP_GRACE) -> None:
    """Stop them in parallel within ``grace`` + :data:`KILL_WAIT` seconds, however many."""
    running = [p for p in processes if p.alive()]
    for process in running:
        process.signal_group(process.stop_signal)
    deadline = time.monotonic() + grace
    left = [p for p in running if not p.wait_for_exit(deadline)]
    for process in left:
        process.signal_group(signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT
    for process in left:
        process.wait_for_exit(deadline)
