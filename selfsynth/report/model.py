"""The study as the report shows it, computed once: the Markdown pages (stages/report.py) and the
HTML page (report.html) render only this, so they cannot disagree on a figure or an interval."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.io import read_jsonl
from ..core.layout import predictions_path
from ..core.params import ReportParams
from ..instrument.checks import Check
from .claims import described_claims
from .intervals import Interval, accuracy_intervals
from .study import ROW_METHODS, Study


@dataclass(frozen=True)
class StudyReport:
    title: str
    study: Study
    root: Path  # where the data folders are (the page's gallery and Z* read them)
    uncertainty: ReportParams  # params.report: resamples and confidence of every interval over test images
    seed: int  # the bootstrap's seed: the study's, so a report is reproducible byte for byte
    rows: dict[tuple[str, int], list[dict]]  # (method, round) -> per-image answers on disk (none: metrics only)
    intervals: dict[tuple[str, int], Interval]  # strict accuracy over the test images, per cell with rows
    checks: tuple[Check, ...]
    described: list[tuple[str, str, str]] | None  # one seed's claims: (claim, status, paired difference)
    seeds: int  # how many seeds reports/seeds.json holds for this configuration
    over_seeds: list[dict] | None  # claims_over_seeds of those seeds, when there are ≥ 2


def prediction_rows(study: Study, root: Path) -> dict[tuple[str, int], list[dict]]:
    return {(m, r): read_jsonl(path) for m in ROW_METHODS for r in study.rounds_of(m)
            if (path := root / predictions_path(m, r)).is_file()}


def build(study: Study, title: str, uncertainty: ReportParams, seed: int, root: Path = Path("."),
          checks=(), seeds: int = 0, over_seeds: list[dict] | None = None) -> StudyReport:
    rows = prediction_rows(study, root)
    b, conf = uncertainty.bootstrap, uncertainty.confidence
    return StudyReport(title, study, root, uncertainty, seed, rows, accuracy_intervals(rows, b, conf, seed),
                       tuple(checks), described_claims(rows, study.rounds, b, conf, seed, checks) if rows else None,
                       seeds, over_seeds)
