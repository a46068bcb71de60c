"""Intervals for Table 1 from one run: a bootstrap over the test images.

One seed gives one accuracy per cell and no spread; the per-image predictions in
data/eval/<method>/round-<r>.jsonl still say how much that figure would move on another draw of
test images of the same size, which is the yardstick a reader needs before comparing methods.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layout import predictions_path


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


def explain_rows(path: Path) -> list[dict]:
    """The explain answers of one evaluation (the rows Table 1's accuracy is computed on); the
    general-ability rows carry a `task` and are left out."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if "task" not in r]


def correct(rows: list[dict]) -> list[bool]:
    """Strict accuracy per image, as the metrics files count it: the earliest class named is the label."""
    return [r["predicted"] is not None and r["predicted"] == r["label"] for r in rows]


def bootstrap_interval(hits: list[bool], resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap of the mean; a fixed seed so the report is byte-for-byte reproducible."""
    x = np.asarray(hits, dtype=float)
    if x.size == 0:
        raise ValueError("no predictions to bootstrap")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2
    return Interval(float(x.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)), int(x.size))


def accuracy_intervals(methods_rounds: dict[str, list[int]], root: Path = Path(".")) -> dict[tuple[str, int], Interval]:
    """(method, round) -> bootstrap interval of accuracy, for every cell whose predictions are on
    disk (a study whose data was not pulled gets point estimates only)."""
    out = {}
    for method, rounds in methods_rounds.items():
        for rnd in rounds:
            path = root / predictions_path(method, rnd)
            if path.is_file() and (rows := explain_rows(path)):
                out[(method, rnd)] = bootstrap_interval(correct(rows))
    return out
