"""Handing a released model's memory back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def return_freed_memory() -> None:
    """Collect what a released model left in reference cycles, then ask glibc to give freed
    heap pages back (``malloc_trim``), so the process's RSS falls rather than only its free
    lists growing. A no-op where there is no glibc."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # no libc by that name, or not glibc
        pass
