"""Table 1 over seeds, and the paper's claims decided over seeds: `make seeds` runs them, then this.

    python -m selfsynth.report.seeds [--min-seeds 5]

The seeds come from MLflow (this workspace's runs) and from reports/seeds.json (what earlier runs
of this report saved, on any machine), for the workspace's configuration; the report saves the union.

A seed here is a whole fresh machine's draw: `seed` and `world.seed` move together, so the world,
its test images and the pretrained base model change with the method's own randomness. The
interval of a figure is the 95 % t-interval of its mean over seeds; a claim compares two cells
seed by seed (same world, same test images) and is decided from the interval of the mean
difference: holds (above 0), does not hold (below 0), undecided (contains 0).
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

from scipy.stats import t as student_t

from ..io import atomic_path
from ..params import Params, load_params
from ..tracking import params_key, tracking_uri
from .claims import claims
from .figures import accuracy_over_rounds
from .intervals import Interval
from .study import Study
from .tables import LABELS, accuracy_table, text_quality_table
from .tracked import method_runs, study_from_runs
from .verdict import decide, display_scale

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


def to_json(studies: dict[int, Study], config: str) -> dict:
    """Every seed's figures as data: reports/seeds.json is committed, so seeds run on another
    machine or in another session add to the table instead of living only in one MLflow store."""
    return {"config": config, "seeds": {str(seed): {m: {str(r): {k: v[0] for k, v in scores.items()}
                                                         for r, scores in by_round.items()}
                                                     for m, by_round in study.metrics.items()}
                                         for seed, study in sorted(studies.items())}}


def from_json(data: dict, config: str) -> dict[int, Study]:
    """The seeds of reports/seeds.json, if they were run with this configuration."""
    if data.get("config") != config:
        return {}
    out = {}
    for seed, methods in data["seeds"].items():
        study = Study(max(int(r) for by_round in methods.values() for r in by_round))
        for method, by_round in methods.items():
            for rnd, values in by_round.items():
                study.add(method, int(rnd), values)
        out[int(seed)] = study
    return out


def mean_interval(values: list[float], confidence: float) -> Interval | None:
    """Mean over seeds with its Student-t interval (n - 1 degrees of freedom)."""
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = student_t.ppf(0.5 + confidence / 2, len(values) - 1) * sd / len(values) ** 0.5
    return Interval(mean, mean - half, mean + half, len(values))


def _fmt(iv: Interval | None, metric: str) -> str:
    return "—" if iv is None else iv.fmt(*display_scale(metric))


def pooled(studies: dict[int, Study]) -> Study:
    """All seeds in one Study (per cell: one value per seed) for the mean ± sd tables."""
    out = Study(max(s.rounds for s in studies.values()), seeds=sorted(studies))
    for study in studies.values():
        for method, by_round in study.metrics.items():
            for rnd, scores in by_round.items():
                out.add(method, rnd, {k: v[0] for k, v in scores.items()})
    return out


def interval_table(studies: dict[int, Study], k: int, metrics: tuple[str, ...], confidence: float) -> str:
    methods = [m for m in LABELS if m != "base" and any(m in s.metrics for s in studies.values())]
    head = "| method | " + " | ".join(f"{m} r{r}" for m in metrics for r in (1, k)) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(metrics))]
    for method in methods:
        cells = []
        for metric in metrics:
            for rnd in (1, k):
                values = [v for s in studies.values() if (v := s.mean(method, rnd, metric)) is not None]
                cells.append(_fmt(mean_interval(values, confidence), metric))
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims_over_seeds(studies: dict[int, Study], k: int, confidence: float) -> list[tuple[str, str, str]]:
    """(claim, verdict, evidence): the per-seed difference a - b, its mean and t-interval over seeds."""
    out = []
    for c in claims(k):
        diffs = {seed: a - b for seed, s in studies.items()
                 if (a := s.mean(*c.a, c.metric)) is not None and (b := s.mean(*c.b, c.metric)) is not None}
        iv = mean_interval(list(diffs.values()), confidence)
        wins = sum(d > 0 for d in diffs.values())
        evidence = (f"{c.a[0]} r{c.a[1]} − {c.b[0]} r{c.b[1]} on {c.metric}: {_fmt(iv, c.metric)} over "
                    f"{len(diffs)} seeds; a > b in {wins} of {len(diffs)}")
        out.append((c.text, decide(iv) if iv else "undecided (fewer than 2 seeds)", evidence))
    return out


def report(studies: dict[int, Study], title: str, confidence: float) -> str:
    study = pooled(studies)
    k = study.rounds
    pct = round(confidence * 100)
    claims_md = "\n".join(f"- **{verdict}**: {claim} — {evidence}"
                          for claim, verdict, evidence in claims_over_seeds(studies, k, confidence))
    return f"""# Table 1 over seeds — {title}

{len(studies)} seeds; each one draws the world (species, images, test set), pretrains its own base
model and runs the method with its own randomness (`seed` and `world.seed` set together), as a fresh
machine would. Figures are means over seeds with their {pct} % t-interval over seeds; accuracy in %,
strict (the first species named must be the label).

## Accuracy, EE, CS (round 1 and round {k})

{interval_table(studies, k, ("accuracy",), confidence)}

{interval_table(studies, k, ("EE", "CS"), confidence)}

{interval_table(studies, k, ("grounding", "well_formed"), confidence)}

## The paper's claims over seeds

Each claim compares two cells seed by seed (the same world and test images), then the mean of
those differences: holds when its {pct} % interval lies above 0, does not hold when below 0,
undecided when it contains 0.

{claims_md}

## Accuracy per round, mean ± sd over seeds

{accuracy_table(study)}

Explanation text per method and round (well formed, repeated 3-gram, FS, FS with class names masked), mean ± sd:

{text_quality_table(study)}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m selfsynth.report.seeds")
    ap.add_argument("--min-seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    args = ap.parse_args(argv)
    params = load_params()
    uri, experiment = tracking_uri(params), params.tracking.experiment or params.dataset.name
    config = params_key(params, ("seed",))
    saved = args.out / "seeds.json"
    studies = from_json(json.loads(saved.read_text()), config) if saved.is_file() else {}
    try:  # MLflow's runs win over the saved figures of the same seed (a rerun)
        studies.update(per_seed_studies(uri, experiment, params))
    except LookupError as e:
        log.warning("%s; using %s only", e, saved)
    studies = dict(sorted(studies.items()))
    if len(studies) < args.min_seeds:
        print(f"MLflow at {uri} and {saved} hold seeds {sorted(studies)} of config {config}; need "
              f"{args.min_seeds} (run `make seeds`)", file=sys.stderr)
        return 1
    title = f"{params.dataset.name} ({params.world.size}), seeds {', '.join(map(str, studies))}, config {config}"
    text = report(studies, title, params.report.confidence)
    with atomic_path(args.out / "table1-seeds.md") as tmp:
        tmp.write_text(text)
    with atomic_path(saved) as tmp:
        tmp.write_text(json.dumps(to_json(studies, config), indent=1) + "\n")
    accuracy_over_rounds(pooled(studies), args.out / "accuracy-seeds.png", f"accuracy per round, mean ± sd over seeds — {title}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
