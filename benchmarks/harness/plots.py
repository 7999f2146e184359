"""PNG plots: latency distributions, throughput over time, RSS over time (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

Series = Sequence[tuple[float, float]]


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_cdf(path: Path, title: str, latencies_ms: dict[str, np.ndarray]) -> Path:
    """One cumulative distribution per label, log-scaled milliseconds, p50/p99 marked."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in latencies_ms.items():
        if len(values) == 0:
            continue
        ordered = np.sort(values)
        ax.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=label)
    for q in (0.5, 0.99):
        ax.axhline(q, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def throughput(path: Path, title: str, series: Mapping[str, Series], ylabel: str) -> Path:
    """Lines of (seconds since start, value)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, points in series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=label)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def rss(path: Path, title: str, samples: Mapping[str, Series], marks: Sequence[tuple[float, str]],
        budgets: Callable[[str], int | None]) -> Path:
    """RSS of every process over the run, phase starts as vertical lines, budgets dashed."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, points in samples.items():
        if points:
            xs, ys = zip(*points, strict=True)
            line = ax.plot(xs, ys, label=name)[0]
            if (budget := budgets(name)) is not None:
                ax.axhline(budget, color=line.get_color(), linestyle="--", linewidth=0.7)
    for at, label in marks:
        ax.axvline(at, color="grey", linewidth=0.6)
        ax.text(at, ax.get_ylim()[1], f" {label}", rotation=90, va="top", fontsize=7)
    ax.set_xlabel("seconds since the stack started")
    ax.set_ylabel("RSS (MB)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center right")
    return _save(fig, path)


def freshness(path: Path, title: str, latencies_ms: Sequence[float]) -> Path:
    """Commit-to-searchable latency of each write, in commit order, and its histogram."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(latencies_ms, marker=".", linestyle="none", markersize=3)
    left.set_xlabel("write (commit order)")
    left.set_ylabel("commit → searchable (ms)")
    right.hist(latencies_ms, bins=40)
    right.set_xlabel("commit → searchable (ms)")
    right.set_ylabel("writes")
    fig.suptitle(title)
    return _save(fig, path)


def bars(path: Path, title: str, groups: Sequence[str], series: Mapping[str, Sequence[float]],
         ylabel: str) -> Path:
    """Grouped bars: one group per label in ``groups``, one bar per series in each (NaN: none)."""
    fig, ax = plt.subplots(figsize=(max(8.0, 0.5 * len(groups) * max(1, len(series))), 4.8))
    width = 0.8 / max(1, len(series))
    xs = np.arange(len(groups))
    for n, (label, values) in enumerate(series.items()):
        ax.bar(xs + (n - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(xs, groups, fontsize=8)
    ax.set_ylim(0, 1.18)  # room for the legend above the bars
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=7, ncols=min(4, max(1, len(series))), loc="upper center")
    return _save(fig, path)


def overload(path: Path, title: str, rates: Mapping[str, Series], p99_ms: Mapping[str, Series],
             peak: float) -> Path:
    """Per second (served, refused) and the p99 of served requests against multiples of the best
    load, log-scaled; the peak and 0.9x the peak dashed."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label, points in rates.items():
        if points:
            xs, ys = zip(*points, strict=True)
            left.plot(xs, ys, marker="o", label=label)
    left.axhline(peak, color="grey", linestyle="--", linewidth=0.8, label="peak")
    left.axhline(0.9 * peak, color="grey", linestyle=":", linewidth=0.8, label="0.9x peak")
    left.set_ylabel("requests per second")
    for label, points in p99_ms.items():
        if points:
            xs, ys = zip(*points, strict=True)
            right.plot(xs, ys, marker="o", label=label)
    right.axhline(1000, color="grey", linestyle="--", linewidth=0.8, label="1 s")
    right.set_ylabel("p99 of served requests (ms)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("multiple of the best concurrency (closed) or of the peak rate (open)")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def shares(path: Path, title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> Path:
    """Horizontal bars, one row per label (top to bottom), one bar per series in each: shares (%)."""
    fig, ax = plt.subplots(figsize=(9.0, 1.4 + 0.22 * len(labels) * max(1, len(series))))
    height = 0.8 / max(1, len(series))
    ys = np.arange(len(labels))
    for n, (name, values) in enumerate(series.items()):
        bars = ax.barh(ys + (n - (len(series) - 1) / 2) * height, values, height, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=6, padding=2)  # small shares stay readable
    ax.set_yticks(ys, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of sampled CPU (%)")
    ax.set_title(title)
    ax.grid(axis="x", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
