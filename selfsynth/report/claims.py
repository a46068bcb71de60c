"""The paper's claims, defined once: every comparison its Table 1 and Table 12 make on accuracy and
CS, each as method a above method b on one score (a method at two rounds for "rises"), with the
paper's own CUB effect beside it where the paper prints both sides. A comparison true by
construction is a sanity check: shown, never counted as evidence.

This is the claims' one home: their list, one seed's description and the verdict over seeds.
One seed's paired difference over test images covers new test images of this world and base
model only (a fresh machine draws both anew), so one seed's page describes and decides nothing;
the verdict is over seeds (report.seeds gathers them), with Holm's correction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..instrument.checks import Check, untestable, untestable_by_name
from .intervals import (Interval, Rows, bounds, display_scale, fmt_interval, holm, mean_interval, paired_difference,
                        t_test_p)
from .paper import PAPER_TABLE1
from .study import Study
from .tables import md_table


@dataclass(frozen=True)
class Claim:
    text: str
    a: tuple[str, int]  # (method, round) claimed higher on `metric` than b
    b: tuple[str, int]
    metric: str
    paper: float | None = None  # the paper's CUB effect a − b in the metric's units (accuracy: a share)
    sanity: bool = False  # true by construction: a check of the pipeline, not a finding


def claims(k: int) -> list[Claim]:
    """The paper prints CUB accuracy for every method at round 4 and ours at rounds 1-4, and CS for
    ours only: its effects stand beside the claims when k = 4, and no CS claim has one."""
    _, _, nl, lge, ours, _, nofilter = PAPER_TABLE1[0]
    cub = (lambda x: round(x / 100, 4)) if k == 4 else (lambda x: None)
    out = [Claim(f"ours above NL on accuracy (round {k})", ("ours", k), ("nl", k), "accuracy", cub(ours[3] - nl)),
           Claim(f"ours above L+GE on accuracy (round {k})", ("ours", k), ("lge", k), "accuracy", cub(ours[3] - lge)),
           Claim(f"ours above w/o filtering on accuracy (round {k})", ("ours", k), ("nofilter", k), "accuracy",
                 cub(ours[3] - nofilter)),
           Claim(f"ours above L+GE on CS (round {k})", ("ours", k), ("lge", k), "CS"),
           Claim(f"ours above w/o filtering on CS (round {k})", ("ours", k), ("nofilter", k), "CS")]
    if k > 1:
        out += [Claim(f"ours: accuracy rises from round 1 to {k}", ("ours", k), ("ours", 1), "accuracy",
                      cub(ours[3] - ours[0])),
                Claim(f"w/o filtering: accuracy rises from round 1 to {k}", ("nofilter", k), ("nofilter", 1), "accuracy")]
    out.append(Claim(f"ours above NL on CS (round {k}): NL cites no feature, so its CS is 0", ("ours", k), ("nl", k),
                     "CS", sanity=True))
    return out


def paper_effect(c: Claim) -> str:
    if c.paper is None:
        return "—"
    return f"{c.paper * 100:+.1f}" if c.metric.startswith("accuracy") else f"{c.paper:+.3f}"


def _fmt(study: Study, m: str, r: int, score: str) -> str:
    mean, sd = study.mean(m, r, score), study.spread(m, r, score)
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def check_claims(study: Study) -> list[tuple[str, bool, str]]:
    """(claim, a above b on the mean, evidence): what a study without per-image rows can say."""
    return [(c.text, study.mean(*c.a, c.metric) > study.mean(*c.b, c.metric),
             f"{c.a[0]} r{c.a[1]} {_fmt(study, *c.a, c.metric)} vs {c.b[0]} r{c.b[1]} {_fmt(study, *c.b, c.metric)}")
            for c in claims(study.rounds)]


def claims_markdown(study: Study) -> str:
    return "\n".join(f"- {'a above b' if ok else '**a not above b**'} on the means: {claim} — {ev}"
                     for claim, ok, ev in check_claims(study))


# ---- one seed: paired differences over test images, described, not decided

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


# ---- over seeds: decided (report.seeds reads them)

def adjusted_verdict(mean: float, p_zero: float, p_paper: float | None, paper: float | None, alpha: float) -> str:
    """The five-way verdict from Holm-adjusted p-values, as decide() reads an interval."""
    if p_zero < alpha:
        return HOLDS if mean > 0 else FAILS
    if paper is not None and paper > 0 and p_paper is not None and p_paper < alpha and mean < paper:
        return EXCLUDED
    return UNDECIDED


def claims_over_seeds(studies: dict[int, Study], k: int, confidence: float,
                      failed: dict[int, list[str]] | None = None) -> list[dict]:
    """Per claim: the per-seed differences a − b, their mean with its t-interval, raw and Holm-adjusted
    p-values (against 0 and against the paper's effect), the raw and adjusted verdicts. Sanity checks
    are shown but left out of Holm's family; a claim that a check failed on any seed concerns
    (`failed`: {seed: failed check names}) cannot be tested."""
    rows = []
    for c in claims(k):
        diffs = [a - b for s in studies.values()
                 if (a := s.mean(*c.a, c.metric)) is not None and (b := s.mean(*c.b, c.metric)) is not None]
        iv = mean_interval(diffs, confidence, bounds(c.metric, difference=True))
        rows.append({"claim": c, "diffs": diffs, "interval": iv, "wins": sum(d > 0 for d in diffs),
                     "p_zero": t_test_p(diffs, 0.0), "p_paper": None if c.paper is None else t_test_p(diffs, c.paper)})
    family = [r for r in rows if not r["claim"].sanity]
    for key in ("p_zero", "p_paper"):
        tested = [r for r in family if r[key] is not None]
        for r, adj in zip(tested, holm([r[key] for r in tested])):
            r[key + "_holm"] = adj
    alpha = 1 - confidence
    for r in rows:
        c, iv = r["claim"], r["interval"]
        blocked = {seed: names for seed, f in sorted((failed or {}).items()) if seed in studies
                   and (names := untestable_by_name(c, f))}
        if blocked:
            r["raw"] = r["adjusted"] = "cannot be tested (" + "; ".join(
                f"seed {seed}: {', '.join(names)}" for seed, names in blocked.items()) + ")"
        elif iv is None:
            r["raw"] = r["adjusted"] = "undecided (fewer than 2 seeds)"
        elif c.sanity:
            r["raw"] = r["adjusted"] = f"sanity check: {decide(iv)}"
        else:
            r["raw"] = decide(iv, c.paper)
            r["adjusted"] = adjusted_verdict(iv.estimate, r["p_zero_holm"], r.get("p_paper_holm"), c.paper, alpha)
    return rows


def verdict_table(rows: list[dict]) -> str:
    def row(r: dict) -> list[str]:
        c: Claim = r["claim"]
        p0 = "—" if c.sanity else f"{r['p_zero']:.3g} ({r['p_zero_holm']:.3g})"
        pe = "—" if r["p_paper"] is None or c.sanity else f"{r['p_paper']:.3g} ({r['p_paper_holm']:.3g})"
        return [c.text, paper_effect(c), fmt_interval(r["interval"], c.metric), f"{r['wins']} of {len(r['diffs'])}",
                p0, pe, r["raw"], f"**{r['adjusted']}**"]
    return md_table(["claim", "paper (CUB)", "mean difference [interval]", "seeds a > b", "p (Holm)",
                     "p vs paper (Holm)", "verdict, raw", "**verdict, Holm**"], map(row, rows))


def verdict_section(rows: list[dict], confidence: float) -> str:
    """The claims' rows of claims_over_seeds as Markdown, with what each verdict means."""
    pct = round(confidence * 100)
    return f"""Each claim compares two cells seed by seed (the same world and test images), then the mean of
those differences with its {pct} % t-interval over seeds. Verdicts: **holds** (above 0), **does not
hold** (below 0), **the paper's effect is excluded** (wholly below the paper's CUB effect, not below
0: the effect is not reproduced at its size), **undecided** (too few seeds to tell), **cannot be
tested** (an instrument check that concerns the claim failed on a seed). The raw verdict reads the
interval; the Holm verdict reads the two-sided t-test p-values (against 0, and against the paper's
effect), Holm-adjusted over the {sum(not r["claim"].sanity for r in rows)} claims that count. The sanity check is true by
construction and is left out of the family. The paper's effects are CUB with LLaVA-1.5-7B
(accuracy in points): a bar for the size of an effect, not a number this testbed should match.

{verdict_table(rows)}"""
