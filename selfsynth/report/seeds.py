"""Table 1 over seeds, and the paper's claims decided over seeds: `make seeds` runs them, then this.

    python -m selfsynth.report.seeds [--min-seeds 2]

The seeds come from MLflow (this workspace's runs) and from reports/seeds.json (what earlier runs
of this report saved, on any machine), for the workspace's configuration; the report saves the union.

A seed here is a whole fresh machine's draw: `seed` and `world.seed` move together, so the world,
its test images and the pretrained base model change with the method's own randomness. A figure
gets two intervals: the 95 % t-interval of its mean over seeds, and the prediction interval of one
new seed (where a fresh clone's run should land). A claim compares two cells seed by seed (same
world, same test images) and is decided from the mean difference, raw and Holm-adjusted over the
claims that count (report.claims): holds, does not hold, the paper's effect is excluded,
undecided, or cannot be tested (an instrument check failed on some seed).

Scores in [0, 1] (and their differences, in [-1, 1]) keep their intervals inside the scale by
intersecting the t-interval with it: the true mean lies in the scale, so the intersection covers it
exactly as often as the t-interval does, brackets the mean itself (a logit interval would bracket
another average) and copes with seeds at exactly 0 or 1 (NL's EE).
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections import defaultdict
from functools import reduce
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t
from scipy.stats import ttest_1samp

from ..instrument.checks import untestable_by_name
from ..io import write_text
from ..params import Params, load_params
from ..tracking import params_key, tracking_uri
from .claims import Claim, claims, paper_effect
from .figures import accuracy_over_rounds
from .intervals import Interval
from .study import Study
from .tables import LABELS, accuracy_table, text_quality_table
from .tracked import failed_checks, method_runs, study_from_runs
from .verdict import EXCLUDED, FAILS, HOLDS, UNDECIDED, decide, fmt_interval

log = logging.getLogger(__name__)
# a fresh machine draws a new world and base model: these params move together, one value per seed
SEED_KEYS = ("seed", "world.seed")


def seed_config(params: Params, seed: int) -> str:
    """The `config` tag of the runs of one seed: what the tracking wrote for these params at that seed."""
    data = params.model_dump()
    for key in SEED_KEYS:
        *parents, leaf = key.split(".")
        reduce(dict.__getitem__, parents, data)[leaf] = seed
    return params_key(Params.model_validate(data), ("seed",))


def per_seed_studies(uri: str, experiment: str, params: Params) -> dict[int, Study]:
    """One Study per seed: the method runs whose config is this configuration at their own seed."""
    by_seed: dict[int, list] = defaultdict(list)
    for run in method_runs(uri, experiment):
        seed = int(run.data.tags.get("seed", -1))
        if seed >= 0 and run.data.tags.get("config") == seed_config(params, seed):
            by_seed[seed].append(run)
    return {seed: study_from_runs(uri, runs) for seed, runs in sorted(by_seed.items())}


def to_json(studies: dict[int, Study], config: str, failed: dict[int, list[str]]) -> dict:
    """Every seed's figures and failed instrument checks as data: reports/seeds.json is committed, so
    seeds run on another machine or in another session add to the table instead of living only in
    one MLflow store."""
    return {"config": config, "seeds": {str(seed): {m: {str(r): {k: v[0] for k, v in scores.items()}
                                                         for r, scores in by_round.items()}
                                                     for m, by_round in study.metrics.items()}
                                         for seed, study in sorted(studies.items())},
            "failed_checks": {str(seed): failed[seed] for seed in sorted(studies) if seed in failed}}


def from_json(data: dict, config: str) -> tuple[dict[int, Study], dict[int, list[str]]]:
    """The seeds of reports/seeds.json and their failed checks, if run with this configuration."""
    if data.get("config") != config:
        return {}, {}
    out = {}
    for seed, methods in data["seeds"].items():
        study = Study(max(int(r) for by_round in methods.values() for r in by_round))
        for method, by_round in methods.items():
            for rnd, values in by_round.items():
                study.add(method, int(rnd), values)
        out[int(seed)] = study
    return out, {int(seed): names for seed, names in data.get("failed_checks", {}).items()}


def saved_seeds(path: Path, params: Params) -> tuple[dict[int, Study], dict[int, list[str]]]:
    """What reports/seeds.json holds for this configuration (the study page's seeds verdict)."""
    return from_json(json.loads(path.read_text()), params_key(params, ("seed",))) if path.is_file() else ({}, {})


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


def pooled(studies: dict[int, Study]) -> Study:
    """All seeds in one Study (per cell: one value per seed) for the mean ± sd tables."""
    out = Study(max(s.rounds for s in studies.values()), seeds=sorted(studies))
    for study in studies.values():
        for method, by_round in study.metrics.items():
            for rnd, scores in by_round.items():
                out.add(method, rnd, {k: v[0] for k, v in scores.items()})
    return out


def interval_table(studies: dict[int, Study], k: int, metrics: tuple[str, ...], confidence: float,
                   new_seed: bool = False) -> str:
    methods = [m for m in LABELS if m != "base" and any(m in s.metrics for s in studies.values())]
    head = "| method | " + " | ".join(f"{m} r{r}" for m in metrics for r in (1, k)) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(metrics))]
    interval = prediction_interval if new_seed else mean_interval
    for method in methods:
        cells = []
        for metric in metrics:
            for rnd in (1, k):
                values = [v for s in studies.values() if (v := s.mean(method, rnd, metric)) is not None]
                cells.append(fmt_interval(interval(values, confidence, bounds(metric)), metric))
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _p(diffs: list[float], against: float) -> float:
    """Two-sided one-sample t-test p of the mean difference against a value; seeds that all agree
    exactly are certain (0 if they differ from it, 1 if not)."""
    if len(diffs) < 2:
        return 1.0
    if np.ptp(diffs) == 0:
        return 0.0 if diffs[0] != against else 1.0
    return float(ttest_1samp(diffs, against).pvalue)


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
                     "p_zero": _p(diffs, 0.0), "p_paper": None if c.paper is None else _p(diffs, c.paper)})
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
    lines = ["| claim | paper (CUB) | mean difference [interval] | seeds a > b | p (Holm) | p vs paper (Holm) | "
             "verdict, raw | **verdict, Holm** |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c: Claim = r["claim"]
        p0 = "—" if c.sanity else f"{r['p_zero']:.3g} ({r['p_zero_holm']:.3g})"
        pe = "—" if r["p_paper"] is None or c.sanity else f"{r['p_paper']:.3g} ({r['p_paper_holm']:.3g})"
        lines.append(f"| {c.text} | {paper_effect(c)} | {fmt_interval(r['interval'], c.metric)} | {r['wins']} of "
                     f"{len(r['diffs'])} | {p0} | {pe} | {r['raw']} | **{r['adjusted']}** |")
    return "\n".join(lines)


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


def report(studies: dict[int, Study], title: str, confidence: float, failed: dict[int, list[str]]) -> str:
    study = pooled(studies)
    k = study.rounds
    pct = round(confidence * 100)
    return f"""# Table 1 over seeds — {title}

{len(studies)} seeds; each one draws the world (species, images, test set), pretrains its own base
model and runs the method with its own randomness (`seed` and `world.seed` set together), as a fresh
machine would. Figures are means over seeds with their {pct} % t-interval over seeds; accuracy in %,
strict (the first species named must be the label). Scores in [0, 1] keep their intervals inside it.

## Accuracy, EE, CS (round 1 and round {k})

{interval_table(studies, k, ("accuracy",), confidence)}

{interval_table(studies, k, ("EE", "CS"), confidence)}

{interval_table(studies, k, ("grounding", "well_formed"), confidence)}

## Where one new seed should land

A fresh clone on another machine draws a new world and base model: its figures are one new seed,
so they belong inside the {pct} % prediction interval (mean ± t·sd·√(1 + 1/n)), not the interval of
the mean above.

{interval_table(studies, k, ("accuracy", "CS"), confidence, new_seed=True)}

## The paper's claims over seeds

{verdict_section(claims_over_seeds(studies, k, confidence, failed), confidence)}

Instrument checks that failed, per seed: {", ".join(f"seed {s}: {', '.join(f) or 'none'}" for s, f in sorted(failed.items()) if s in studies) or "none recorded"}.

## Accuracy per round, mean ± sd over seeds

{accuracy_table(study)}

Explanation text per method and round (well formed, repeated 3-gram, FS, FS with class names masked), mean ± sd:

{text_quality_table(study)}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m selfsynth.report.seeds")
    ap.add_argument("--min-seeds", type=int, default=2)  # seeds accumulate across sessions in reports/seeds.json
    ap.add_argument("--out", type=Path, default=Path("reports"))
    args = ap.parse_args(argv)
    params = load_params()
    uri, experiment = tracking_uri(params), params.tracking.experiment or params.dataset.name
    config = params_key(params, ("seed",))
    saved = args.out / "seeds.json"
    studies, failed = saved_seeds(saved, params)
    try:  # MLflow's runs win over the saved figures of the same seed (a rerun)
        studies.update(per_seed_studies(uri, experiment, params))
        failed.update({seed: by_config[seed_config(params, seed)] for seed, by_config in failed_checks(uri, experiment).items()
                       if seed_config(params, seed) in by_config})
    except LookupError as e:
        log.warning("%s; using %s only", e, saved)
    studies = dict(sorted(studies.items()))
    if len(studies) < args.min_seeds:
        print(f"MLflow at {uri} and {saved} hold seeds {sorted(studies)} of config {config}; need "
              f"{args.min_seeds} (run `make seeds`)", file=sys.stderr)
        return 1
    title = f"{params.dataset.name} ({params.world.size}), seeds {', '.join(map(str, studies))}, config {config}"
    text = report(studies, title, params.report.confidence, failed)
    write_text(args.out / "table1-seeds.md", text)
    write_text(saved, json.dumps(to_json(studies, config, failed), indent=1) + "\n")
    accuracy_over_rounds(pooled(studies), args.out / "accuracy-seeds.png", f"accuracy per round, mean ± sd over seeds — {title}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
