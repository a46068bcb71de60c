"""Uncertainty of the verdict: bootstrap intervals over test images, paired differences, and
intervals and p-values over seeds.

Every metric of the evaluate stage is a mean over test images (grounding: summed grounded over
summed cited features), and every prediction row of data/eval/round-<r>/<method>.jsonl carries its
image's scores. Resampling images (scipy.stats.bootstrap, percentile) gives each metric's interval;
two methods answered the same images, so their difference is resampled in pairs (one draw of
images for both), which cancels the images' own difficulty.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import bootstrap
from scipy.stats import t as student_t
from scipy.stats import ttest_1samp

from ..metrics.rows import explain_rows

METRICS = ("accuracy", "accuracy_lenient", "EE", "CS", "grounding", "FS", "FS_masked", "well_formed", "repeated_ngram")
RATIOS = {"grounding": ("grounded", "cited")}  # micro-averaged: a ratio of sums, not a mean of ratios
Rows = Mapping[tuple[str, int], Sequence[dict]]  # (method, round) -> prediction rows


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def fmt(self, scale: float = 1.0, digits: int = 3) -> str:
        return f"{self.estimate * scale:.{digits}f} [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def correct(rows: Sequence[dict]) -> list[bool]:
    """Strict accuracy per answer, as the metrics files count it: the earliest class named is the label."""
    return [r["predicted"] is not None and r["predicted"] == r["label"] for r in rows]


def image_values(rows: Sequence[dict], metric: str) -> dict[str, tuple[float, float]]:
    """{image id: (numerator, denominator)} of one metric; images without that score are left out.
    The LLM judge's verdicts (row['judge']) replace the offline EE / CS, as in the metrics file."""
    out = {}
    for r in explain_rows(rows):
        s = r.get("scores", {})
        if metric in RATIOS:
            num, den = RATIOS[metric]
            if num in s and den in s:
                out[r["id"]] = (float(s[num]), float(s[den]))
            continue
        if metric in ("EE", "CS") and "judge" in r:
            v = r["judge"].get(metric)
            v = None if v is None else (float(v) / 10 if metric == "CS" else float(v))
        elif metric == "accuracy" and metric not in s and "predicted" in r:
            v = float(r["predicted"] == r["label"])  # rows written before per-row scores
        else:
            v = s.get(metric)
        if v is not None:
            out[r["id"]] = (float(v), 1.0)
    return out


def _ratio(num, den, axis=-1):
    d = np.sum(den, axis=axis)
    return np.sum(num, axis=axis) / np.where(d == 0, np.nan, d)


def _interval(data: tuple, statistic, point: float, n_boot: int, confidence: float, seed: int) -> Interval:
    n = len(data[0])
    if n < 2 or np.all([np.ptp(x) == 0 for x in data]):  # nothing to resample: the point is the interval
        return Interval(point, point, point, n)
    res = bootstrap(data, statistic, paired=True, vectorized=True, n_resamples=n_boot, confidence_level=confidence,
                    method="percentile", rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return Interval(point, float(lo), float(hi), n)


def metric_interval(rows: Sequence[dict], metric: str, n_boot: int, confidence: float, seed: int) -> Interval | None:
    """The metric over the test images and its bootstrap interval; None if no row has the score."""
    vals = image_values(rows, metric)
    if not vals:
        return None
    num, den = (np.array(x) for x in zip(*vals.values()))
    point = float(_ratio(num, den)) if den.sum() else 0.0
    return _interval((num, den), _ratio, point, n_boot, confidence, seed)


def paired_difference(rows_a: Sequence[dict], rows_b: Sequence[dict], metric: str, n_boot: int, confidence: float,
                      seed: int) -> Interval | None:
    """metric(a) - metric(b) on the images both answered, resampled in pairs; None without shared images."""
    a, b = image_values(rows_a, metric), image_values(rows_b, metric)
    ids = sorted(a.keys() & b.keys())
    if not ids:
        return None
    an, ad = np.array([a[i][0] for i in ids]), np.array([a[i][1] for i in ids])
    bn, bd = np.array([b[i][0] for i in ids]), np.array([b[i][1] for i in ids])

    def diff(an, ad, bn, bd, axis=-1):
        return _ratio(an, ad, axis) - _ratio(bn, bd, axis)

    point = float(diff(an, ad, bn, bd))
    if np.isnan(point):
        return None
    return _interval((an, ad, bn, bd), diff, point, n_boot, confidence, seed)


def bootstrap_interval(hits: Sequence[bool], n_boot: int, confidence: float, seed: int) -> Interval:
    """Percentile bootstrap of a share (e.g. correct answers); seeded, so a report is reproducible byte for byte."""
    x = np.asarray(hits, dtype=float)
    if x.size == 0:
        raise ValueError("no predictions to bootstrap")
    return _interval((x, np.ones_like(x)), _ratio, float(x.mean()), n_boot, confidence, seed)


def accuracy_intervals(rows: Rows, n_boot: int, confidence: float,
                       seed: int) -> dict[tuple[str, int], Interval]:
    """(method, round) -> bootstrap interval of strict accuracy, for every cell with explain answers."""
    return {cell: bootstrap_interval(correct(answers), n_boot, confidence, seed)
            for cell, r in rows.items() if (answers := explain_rows(r))}


PERCENT = {"accuracy", "accuracy_lenient"}


def display_scale(metric: str) -> tuple[float, int]:
    """(scale, digits) a metric is printed with: accuracy in %, FS as perplexity, scores to 3 places."""
    return (100.0, 1) if metric in PERCENT else (1.0, 3 if not metric.startswith("FS") else 1)


def fmt_interval(iv: Interval | None, metric: str) -> str:
    return "—" if iv is None else iv.fmt(*display_scale(metric))


# ---- over seeds: a fresh machine's draw is one seed (report.seeds)

BOUNDED = {"accuracy", "accuracy_lenient", "EE", "CS", "grounding", "well_formed", "repeated_ngram", "general_ability"}


def bounds(metric: str, difference: bool = False) -> tuple[float, float] | None:
    """The scale a mean (or a difference of two means) of this metric lives on; None: unbounded (FS)."""
    if metric not in BOUNDED:
        return None
    return (-1.0, 1.0) if difference else (0.0, 1.0)


def _t_interval(values: list[float], confidence: float, scale: tuple[float, float] | None, new_seed: bool) -> Interval | None:
    if len(values) < 2:
        return None
    n, mean, sd = len(values), statistics.fmean(values), statistics.stdev(values)
    half = student_t.ppf(0.5 + confidence / 2, n - 1) * sd * ((1 + 1 / n) if new_seed else 1 / n) ** 0.5
    low, high = mean - half, mean + half
    if scale is not None:
        low, high = max(low, scale[0]), min(high, scale[1])
    return Interval(mean, low, high, n)


def mean_interval(values: list[float], confidence: float, scale: tuple[float, float] | None = None) -> Interval | None:
    """Mean over seeds with its Student-t interval (n - 1 degrees of freedom), inside `scale`."""
    return _t_interval(values, confidence, scale, new_seed=False)


def prediction_interval(values: list[float], confidence: float, scale: tuple[float, float] | None = None) -> Interval | None:
    """Where one new seed's figure should land: mean ± t·sd·√(1 + 1/n), inside `scale`."""
    return _t_interval(values, confidence, scale, new_seed=True)


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over the list), in input order."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def t_test_p(diffs: list[float], against: float) -> float:
    """Two-sided one-sample t-test p of the mean difference against a value; seeds that all agree
    exactly are certain (0 if they differ from it, 1 if not)."""
    if len(diffs) < 2:
        return 1.0
    if np.ptp(diffs) == 0:
        return 0.0 if diffs[0] != against else 1.0
    return float(ttest_1samp(diffs, against).pvalue)
