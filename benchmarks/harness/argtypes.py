"""Argument types of the benchmark CLI's flags (``10k``, ``1,2,3``): parsers of plain text, shared
by every subcommand's ``arguments()``; they import nothing of the CLI."""

from __future__ import annotations

import argparse


def size(text: str) -> int:
    """``10000``, ``10k`` or ``0.1m``."""
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def sizes(text: str) -> list[int]:
    return sorted({size(part) for part in text.split(",") if part.strip()})


def levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def counts(text: str) -> list[int]:
    """``1,2,3``: distinct positive counts, ascending."""
    found = sorted(set(levels(text)))
    if not found or found[0] < 1:
        raise argparse.ArgumentTypeError(f"positive counts, e.g. 1,2,3; not {text!r}")
    return found


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"a positive count, not {text!r}")
    return number
