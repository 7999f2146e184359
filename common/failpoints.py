"""Failpoints: named places where a process can be told to crash, for fault-injection tests.

A process crashes (SIGKILL to itself: no cleanup, no flush, like a power cut) when it reaches a
failpoint named in its settings' ``failpoints`` list (env ``FAILPOINTS=relay-after-claim,…``).
Empty in production.
"""

import os
import signal

NAMES = {
    "relay-after-claim": "the relay has claimed outbox rows but not enqueued them",
    "command-after-commit": "the command API committed but has not answered",
    "worker-mid-batch": "the worker wrote the store but has not recorded or acknowledged it",
    "store-mid-document": "Weaviate holds a document's new passages but not the document yet, "
                          "or no longer the document but still its passages",
}


def crash_if(name: str, active: list[str]) -> None:
    assert name in NAMES, f"unknown failpoint {name!r}"
    if name in active:
        os.kill(os.getpid(), signal.SIGKILL)
