"""The study's results as one object: metrics per method and round, read from the metrics files
(DVC's view) or assembled from MLflow runs (for seeds and the notebook)."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..core.layout import METHODS, metrics_path

ROW_METHODS = ("base", *METHODS)
SCORES = ("accuracy", "accuracy_lenient", "EE", "CS", "grounding", "FS", "general_ability",
          "FS_masked", "well_formed", "repeated_ngram")


@dataclass
class Study:
    """metrics[method][round] -> list of per-seed values per score (one entry when a single run)."""
    rounds: int
    metrics: dict[str, dict[int, dict[str, list[float]]]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)

    def add(self, method: str, rnd: int, values: dict) -> None:
        cell = self.metrics.setdefault(method, {}).setdefault(rnd, {})
        for k in SCORES:
            if isinstance(values.get(k), (int, float)):
                cell.setdefault(k, []).append(float(values[k]))

    def values(self, method: str, rnd: int, score: str) -> list[float]:
        return self.metrics.get(method, {}).get(rnd, {}).get(score, [])

    def mean(self, method: str, rnd: int, score: str) -> float | None:
        v = self.values(method, rnd, score)
        return statistics.fmean(v) if v else None

    def spread(self, method: str, rnd: int, score: str) -> float | None:
        v = self.values(method, rnd, score)
        return statistics.stdev(v) if len(v) > 1 else None

    def rounds_of(self, method: str) -> list[int]:
        return [0] if method == "base" else list(range(1, self.rounds + 1))


def study_from_files(rounds: int, root: Path = Path(".")) -> Study:
    study = Study(rounds)
    for method in ROW_METHODS:
        for rnd in study.rounds_of(method):
            path = root / metrics_path(method, rnd)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing — run the evaluation of {method} round {rnd} first")
            study.add(method, rnd, json.loads(path.read_text()))
    return study
