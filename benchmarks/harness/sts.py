"""STS Benchmark: Spearman correlation of cosine similarity with the gold scores (test split).

The file is the original tab-separated release: genre, file, year, id, score, sentence 1,
sentence 2, and on some lines two more source columns, which are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from embeddings import Encoder

DEFAULT_STS_TEST = Path("/work/shared/data/stsbenchmark/sts-test.csv")
REFERENCE_SPEARMAN = 0.8203
"""all-MiniLM-L6-v2 (fp32) on the test split, as published by MTEB and reproduced here."""


@dataclass(frozen=True)
class Pairs:
    first: list[str]
    second: list[str]
    gold: np.ndarray


def read_pairs(path: Path) -> Pairs:
    first, second, gold = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) < 7:
            continue
        gold.append(float(fields[4]))
        first.append(fields[5])
        second.append(fields[6])
    return Pairs(first, second, np.asarray(gold))


def spearman(encoder: Encoder, pairs: Pairs) -> float:
    """Spearman of cosine(first, second) against gold; encoders return unit vectors."""
    a = encoder.encode(pairs.first)
    b = encoder.encode(pairs.second)
    cosine = (a * b).sum(axis=1)
    return float(spearmanr(cosine, pairs.gold).statistic)
