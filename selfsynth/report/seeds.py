"""Table 1 over seeds, and the paper's claims decided over seeds: `make seeds` runs them, then this.

    python -m selfsynth seeds-report [--min-seeds 2]

The seeds come from MLflow (this workspace's runs) and from reports/seeds.json (what earlier runs
of this report saved, on any machine), for the workspace's configuration; the report saves the union.

A seed here is a whole fresh machine's draw: `seed` and `world.seed` move together, so the world,
its test images and the pretrained base model change with the method's own randomness. A figure
gets two intervals: the 95 % t-interval of its mean over seeds, and the prediction interval of one
new seed (where a fresh clone's run should land). A claim compares two cells seed by seed (same
world, same test images) and is decided from the mean difference, raw and Holm-adjusted over the
claims that count (report.claims): holds, does not hold, the paper's effect is excluded,
undecided, or cannot be tested (an instrument check failed on some seed). Each seed's row shows
its instrument figures beside its scores, and where some seed failed a check the claims are read
again over the seeds that passed: a sensitivity reading, never the verdict.

Scores in [0, 1] (and their differences, in [-1, 1]) keep their intervals inside the scale by
intersecting the t-interval with it: the true mean lies in the scale, so the intersection covers it
exactly as often as the t-interval does, brackets the mean itself (a logit interval would bracket
another average) and copes with seeds at exactly 0 or 1 (NL's EE).
"""
from __future__ import annotations

import json
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

from ..core.io import write_text
from ..core.params import Params, load_params
from ..instrument.checks import ATTRIBUTE_MIN, DESCRIPTION_PRECISION
from ..tracking import params_key, tracking_uri
from .claims import claims_over_seeds, verdict_section, verdict_table
from .figures import accuracy_over_rounds
from .intervals import bounds, display_scale, fmt_interval, mean_interval, prediction_interval
from .study import Study
from .tables import LABELS, accuracy_table, md_table, text_quality_table
from .tracked import instrument_figures, method_runs, study_from_runs

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


@dataclass
class Seeds:
    """The seeds of one configuration: each one's Study, the instrument checks it failed, the
    instrument's figures and the CPU it ran on (float results differ across CPU types)."""
    studies: dict[int, Study] = field(default_factory=dict)
    failed: dict[int, list[str]] = field(default_factory=dict)
    cpus: dict[int, str] = field(default_factory=dict)
    instrument: dict[int, dict[str, float]] = field(default_factory=dict)

    def update(self, newer: Seeds) -> None:
        """`newer` wins seed by seed (MLflow's runs over the saved figures of the same seed: a rerun)."""
        self.studies.update(newer.studies)
        self.failed.update(newer.failed)
        self.cpus.update(newer.cpus)
        self.instrument.update(newer.instrument)


def tracked_seeds(uri: str, experiment: str, params: Params) -> Seeds:
    """The seeds MLflow holds: per seed, the method runs whose config is this configuration at that seed."""
    by_seed: dict[int, list] = defaultdict(list)
    for run in method_runs(uri, experiment):
        seed = int(run.data.tags.get("seed", -1))
        if seed >= 0 and run.data.tags.get("config") == seed_config(params, seed):
            by_seed[seed].append(run)
    figures = {seed: by_config[config] for seed, by_config in instrument_figures(uri, experiment).items()
               if (config := seed_config(params, seed)) in by_config}
    return Seeds({seed: study_from_runs(uri, runs) for seed, runs in sorted(by_seed.items())},
                 {seed: sorted(k.removeprefix("check.") for k, v in f.items() if k.startswith("check.") and v == 0)
                  for seed, f in figures.items()},
                 {seed: cpu for seed, runs in by_seed.items() if (cpu := runs[0].data.tags.get("cpu"))},
                 {seed: {k: v for k, v in f.items() if not k.startswith("check.")} for seed, f in figures.items()})


def _values(study: Study) -> dict[str, dict[int, dict[str, float]]]:
    """{method: {round: {score: value}}} of a one-seed Study."""
    return {m: {r: {k: v[0] for k, v in scores.items()} for r, scores in by_round.items()}
            for m, by_round in study.metrics.items()}


def _add(out: Study, values: dict) -> Study:
    for method, by_round in values.items():
        for rnd, scores in by_round.items():
            out.add(method, int(rnd), scores)
    return out


def to_json(seeds: Seeds, config: str) -> dict:
    """Every seed's scores, failed instrument checks, instrument figures and CPU as data:
    reports/seeds.json is committed, so seeds run on another machine or in another session add to
    the table instead of living only in one MLflow store."""
    ordered = sorted(seeds.studies)
    return {"config": config, "seeds": {str(s): _values(seeds.studies[s]) for s in ordered},
            "failed_checks": {str(s): seeds.failed[s] for s in ordered if s in seeds.failed},
            "cpu": {str(s): seeds.cpus[s] for s in ordered if seeds.cpus.get(s)},
            "instrument": {str(s): seeds.instrument[s] for s in ordered if s in seeds.instrument}}


def from_json(data: dict, config: str) -> Seeds:
    """The seeds of reports/seeds.json, if run with this configuration."""
    if data.get("config") != config:
        return Seeds()
    return Seeds({int(seed): _add(Study(max(int(r) for by_round in values.values() for r in by_round)), values)
                  for seed, values in data["seeds"].items()},
                 {int(seed): names for seed, names in data.get("failed_checks", {}).items()},
                 {int(seed): cpu for seed, cpu in data.get("cpu", {}).items()},
                 {int(seed): figures for seed, figures in data.get("instrument", {}).items()})


def saved_seeds(path: Path, params: Params) -> Seeds:
    """What reports/seeds.json holds for this configuration (the study page's seeds verdict)."""
    return from_json(json.loads(path.read_text()), params_key(params, ("seed",))) if path.is_file() else Seeds()


def pooled(studies: dict[int, Study]) -> Study:
    """All seeds in one Study (per cell: one value per seed) for the mean ± sd tables."""
    out = Study(max(s.rounds for s in studies.values()), seeds=sorted(studies))
    for study in studies.values():
        _add(out, _values(study))
    return out


def interval_table(studies: dict[int, Study], k: int, metrics: tuple[str, ...], confidence: float,
                   new_seed: bool = False) -> str:
    methods = [m for m in LABELS if m != "base" and any(m in s.metrics for s in studies.values())]
    interval = prediction_interval if new_seed else mean_interval

    def cell(method: str, rnd: int, metric: str) -> str:
        values = [v for s in studies.values() if (v := s.mean(method, rnd, metric)) is not None]
        return fmt_interval(interval(values, confidence, bounds(metric)), metric)
    return md_table(["method", *(f"{m} r{r}" for m in metrics for r in (1, k))],
                    ([LABELS[method], *(cell(method, rnd, metric) for metric in metrics for rnd in (1, k))]
                     for method in methods))


def per_seed_table(seeds: Seeds, k: int) -> str:
    """Round-K accuracy and CS per method beside what decides whether the seed can test a claim: the
    failed checks and the two instrument figures nearest their bars, the frozen tower's weakest
    attribute probe (perception) and the base model's description precision."""
    methods = [m for m in LABELS if m != "base" and any(m in s.metrics for s in seeds.studies.values())]

    def cell(study: Study, method: str, metric: str) -> str:
        v = study.mean(method, k, metric)
        scale, digits = display_scale(metric)
        return "—" if v is None else f"{v * scale:.{digits}f}"

    def instrument(seed: int) -> list[str]:
        figures = seeds.instrument.get(seed, {})
        probes = {key.removeprefix("attribute_probe."): v for key, v in figures.items() if key.startswith("attribute_probe.")}
        weakest = min(probes, key=probes.get) if probes else None
        return [f"{probes[weakest]:.4f} ({weakest})" if weakest else "—",
                f"{figures['description_precision']:.4f}" if "description_precision" in figures else "—"]
    return md_table(["seed", *(f"{m} acc" for m in methods), *(f"{m} CS" for m in methods), "failed checks",
                     "weakest probe", "description precision", "CPU"],
                    ([str(seed), *(cell(study, m, metric) for metric in ("accuracy", "CS") for m in methods),
                      ", ".join(seeds.failed.get(seed, [])) or "none", *instrument(seed),
                      seeds.cpus.get(seed) or "not recorded"]
                     for seed, study in sorted(seeds.studies.items())))


def passing_seeds_section(seeds: Seeds, k: int, confidence: float) -> str:
    """The claims again over the seeds that failed no instrument check: which seeds to drop is chosen
    after their failures were seen, so this reading describes and never replaces the verdict."""
    passing = {s: study for s, study in seeds.studies.items() if not seeds.failed.get(s)}
    if len(passing) == len(seeds.studies) or len(passing) < 2:
        return ""
    dropped = ", ".join(str(s) for s in sorted(set(seeds.studies) - set(passing)))
    return f"""
### A sensitivity reading, not the verdict: the {len(passing)} seeds that pass every check

The verdict above follows the rule set before any seed ran: a check that failed on any seed leaves
the claims it concerns untestable. Here the seeds with a failed check are dropped ({dropped}).
Which seeds to drop was chosen after their failures were seen, so these figures show how far the
instrument's edge moves the result; they decide nothing.

{verdict_table(claims_over_seeds(passing, k, confidence))}
"""


def report(seeds: Seeds, title: str, confidence: float) -> str:
    studies, failed = seeds.studies, seeds.failed
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
{passing_seeds_section(seeds, k, confidence)}
## Per seed

Round-{k} accuracy (%) and CS per method; the instrument checks each seed failed, its frozen tower's
weakest attribute probe (bar {ATTRIBUTE_MIN}) and its base model's description precision (bar {DESCRIPTION_PRECISION}), "—" where
the seed's instrument figures were not saved; and its CPU (float results differ across CPU types; a
seed is a fresh machine's draw either way).

{per_seed_table(seeds, k)}

## Accuracy per round, mean ± sd over seeds

{accuracy_table(study)}

Explanation text per method and round (well formed, repeated 3-gram, FS, FS with class names masked), mean ± sd:

{text_quality_table(study)}
"""


def write_report(min_seeds: int = 2, out: Path = Path("reports")) -> int:
    params = load_params()
    uri, experiment = tracking_uri(params), params.experiment
    config = params_key(params, ("seed",))
    saved = out / "seeds.json"
    seeds = saved_seeds(saved, params)
    try:
        seeds.update(tracked_seeds(uri, experiment, params))
    except LookupError as e:
        log.warning("%s; using %s only", e, saved)
    seeds.studies = dict(sorted(seeds.studies.items()))
    if len(seeds.studies) < min_seeds:
        print(f"MLflow at {uri} and {saved} hold seeds {sorted(seeds.studies)} of config {config}; need "
              f"{min_seeds} (run `make seeds`)", file=sys.stderr)
        return 1
    title = f"{params.dataset.name} ({params.world.size}), seeds {', '.join(map(str, seeds.studies))}, config {config}"
    text = report(seeds, title, params.report.confidence)
    write_text(out / "table1-seeds.md", text)
    write_text(saved, json.dumps(to_json(seeds, config), indent=1) + "\n")
    accuracy_over_rounds(pooled(seeds.studies), out / "accuracy-seeds.png", f"accuracy per round, mean ± sd over seeds — {title}")
    print(text)
    return 0
