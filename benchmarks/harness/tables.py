"""Markdown tables for the benchmark reports (report.py and each subcommand's own report)."""

from __future__ import annotations

from typing import Any


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[("—" if v is None else str(v)) for v in row] for row in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in cells), ""]
