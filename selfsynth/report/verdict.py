"""The paper's claims on one seed: paired differences over the test images, described, not decided.

Each claim is a paired comparison on the same test images (method a minus method b, or one method
at two rounds) with its bootstrap interval. That interval covers new test images of this world
and this base model only: a fresh machine draws both anew. So one seed's page issues no verdict;
report.seeds decides each claim over seeds (`decide` below, with Holm's correction there).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..instrument.checks import Check, untestable
from .claims import Claim, claims, paper_effect
from .intervals import METRICS, Interval, metric_interval, paired_difference
from .tables import LABELS

Rows = Mapping[tuple[str, int], Sequence[dict]]  # (method, round) -> prediction rows
PERCENT = {"accuracy", "accuracy_lenient"}
PAIRED_METRICS = ("accuracy", "accuracy_lenient", "EE", "CS", "grounding", "FS_masked", "well_formed", "repeated_ngram")
HOLDS, FAILS, EXCLUDED, UNDECIDED = "holds", "does not hold", "the paper's effect is excluded", "undecided"


def decide(diff: Interval | None, paper: float | None = None) -> str:
    """holds: the interval lies above 0; does not hold: below 0; the paper's effect is excluded: it
    lies wholly below the paper's (positive) effect but not below 0; else undecided."""
    if diff is None:
        return "undecided (no interval)"
    if diff.low > 0:
        return HOLDS
    if diff.high < 0:
        return FAILS
    if paper is not None and paper > 0 and diff.high < paper:
        return EXCLUDED
    return UNDECIDED


def display_scale(metric: str) -> tuple[float, int]:
    """(scale, digits) a metric is printed with: accuracy in %, FS as perplexity, scores to 3 places."""
    return (100.0, 1) if metric in PERCENT else (1.0, 3 if not metric.startswith("FS") else 1)


def fmt_interval(iv: Interval | None, metric: str) -> str:
    return "—" if iv is None else iv.fmt(*display_scale(metric))


def status(c: Claim, checks: Sequence[Check]) -> str:
    failed = untestable(c, checks)
    return (f"cannot be tested ({', '.join(failed)})" if failed
            else "sanity check (true by construction)" if c.sanity else "one seed: descriptive")


def described_claims(rows: Rows, k: int, n_boot: int, confidence: float, seed: int,
                     checks: Sequence[Check] = ()) -> list[tuple[str, str, str]]:
    """(claim, status, paired difference with its interval over test images) for every claim whose
    two cells have prediction rows; the status says only what a failed instrument check rules out."""
    out = []
    for c in claims(k):
        if c.a not in rows or c.b not in rows:
            continue
        d = paired_difference(rows[c.a], rows[c.b], c.metric, n_boot, confidence, seed)
        scale, digits = display_scale(c.metric)
        ev = "no interval" if d is None else (f"{c.a[0]} r{c.a[1]} − {c.b[0]} r{c.b[1]} = {d.fmt(scale, digits)} "
                                              f"on {d.n} images; paper (CUB) {paper_effect(c)}")
        out.append((c.text, status(c, checks), ev))
    return out


def differences_markdown(rows: Rows, k: int, n_boot: int, confidence: float, seed: int,
                         checks: Sequence[Check] = ()) -> str:
    return "\n".join(f"- {text} — {ev} ({st})" for text, st, ev in described_claims(rows, k, n_boot, confidence, seed, checks))


def intervals_table(rows: Rows, cells: Sequence[tuple[str, int]], n_boot: int, confidence: float, seed: int) -> str:
    """estimate [low, high] of every metric per (method, round); accuracy in %."""
    head = "| method | " + " | ".join(METRICS) + " |"
    lines = [head, "|---" * (len(METRICS) + 1) + "|"]
    for m, r in cells:
        if (m, r) not in rows:
            continue
        out = []
        for metric in METRICS:
            iv = metric_interval(rows[(m, r)], metric, n_boot, confidence, seed)
            out.append("—" if iv is None else iv.fmt(*display_scale(metric)))
        lines.append(f"| {LABELS.get(m, m)} (round {r}) | " + " | ".join(out) + " |")
    return "\n".join(lines)


def paired_table(rows: Rows, pairs: Sequence[tuple[tuple[str, int], tuple[str, int]]], n_boot: int,
                 confidence: float, seed: int) -> str:
    """a − b on the same images per metric; ✓ where the interval excludes 0."""
    lines = ["| a − b | " + " | ".join(PAIRED_METRICS) + " |", "|---" * (len(PAIRED_METRICS) + 1) + "|"]
    for a, b in pairs:
        if a not in rows or b not in rows:
            continue
        out = []
        for metric in PAIRED_METRICS:
            d = paired_difference(rows[a], rows[b], metric, n_boot, confidence, seed)
            out.append("—" if d is None else d.fmt(*display_scale(metric)) + (" ✓" if d.excludes_zero() else ""))
        lines.append(f"| {a[0]} r{a[1]} − {b[0]} r{b[1]} | " + " | ".join(out) + " |")
    return "\n".join(lines)
