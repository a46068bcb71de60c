"""The study-level ablations side by side, from MLflow: `make ablations` runs them, then this.

    python -m selfsynth ablations-report [--names beta-0 encoder-tfidf]

Each ablation is a DVC experiment (`dvc exp show` lists them); its method runs carry the
experiment's name in the tag `dvc_exp`. They are compared with the workspace's own study (the
baseline) at the rounds both reached, and what each changed is read from the runs' params,
so the table cannot name a change the run did not have.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.io import write_text
from ..core.params import load_params
from ..plots import plt, save_figure
from ..tracking import params_key, tracking_uri
from .study import Study
from .tables import LABELS, md_table
from .tracked import method_runs, study_from_runs

COMPARED = ("ours", "nofilter", "lge", "nl")


@dataclass
class Arm:
    name: str
    changes: str
    study: Study


PER_RUN = ("method", "rounds")  # method runs' own params (tracking.method_params), not a change


def changed_params(run_params: dict[str, str], baseline: dict[str, str]) -> str:
    """What an experiment changed against the baseline; dropped rounds are said once, as K. Keys
    only one side logged (params added to the code in between) are not a change of the run's."""
    diff = [f"{k}={run_params[k]}" for k in sorted(set(run_params) & set(baseline))
            if not k.startswith(("rounds.", "resample.")) and k not in PER_RUN and run_params[k] != baseline[k]]
    rounds = {k.split(".")[1] for k in run_params if k.startswith("rounds.")}
    base_rounds = {k.split(".")[1] for k in baseline if k.startswith("rounds.")}
    if rounds != base_rounds:
        diff.append(f"rounds 1..{len(rounds)}")
    return ", ".join(diff) or "(nothing)"


def tagged(runs: list, key: str, value: str) -> list:
    return [r for r in runs if r.data.tags.get(key) == value]


def arms(uri: str, runs: list, baseline_study: str, names: list[str] | None) -> tuple[Arm, list[Arm]]:
    """The baseline and each named experiment, from one listing of the method runs (newest first)."""
    base_runs = tagged(runs, "study", baseline_study)
    if not base_runs:
        raise LookupError(f"MLflow at {uri}: no method runs of the workspace's study {baseline_study}")
    baseline = Arm("baseline (workspace)", "", study_from_runs(uri, base_runs))
    if names is None:  # every named DVC experiment but the seeds, oldest first
        names = list(dict.fromkeys(r.data.tags["dvc_exp"] for r in reversed(runs) if r.data.tags.get("dvc_exp")))
        names = [n for n in names if not n.startswith("seed-")]
    out = []
    for name in names:
        named = tagged(runs, "dvc_exp", name)
        if not named:
            raise LookupError(f"MLflow at {uri}: no method runs of the DVC experiment {name!r}")
        newest = named[0]  # a rerun of the name wins
        out.append(Arm(name, changed_params(newest.data.params, base_runs[0].data.params),
                       study_from_runs(uri, tagged(named, "study", newest.data.tags["study"]))))
    return baseline, out


def seed_spread(uri: str, runs: list) -> tuple[str, Study] | None:
    """The configuration run over the most seeds (newest on a tie): its spread is the yardstick
    for a one-seed ablation's difference."""
    seeds: dict[str, set[str]] = {}
    for run in runs:  # newest first
        seeds.setdefault(run.data.tags.get("config", ""), set()).add(run.data.tags.get("seed", "0"))
    config, found = max(seeds.items(), key=lambda kv: len(kv[1]))
    if len(found) < 2:
        return None
    return config, study_from_runs(uri, tagged(runs, "config", config))


def spread_row(config: str, study: Study, rnd: int) -> list[str]:
    def sd(m: str, r: int, score: str, scale: float, digits: int) -> str:
        v = study.spread(m, r, score)
        return "—" if v is None else f"± {v * scale:.{digits}f}"
    return [f"sd over seeds {', '.join(map(str, study.seeds))}", f"config {config}", sd("ours", 1, "accuracy", 100, 1),
            *(sd(m, rnd, "accuracy", 100, 1) for m in COMPARED), sd("ours", rnd, "CS", 1, 3), sd("ours", rnd, "EE", 1, 2)]


def _delta(arm: Arm, baseline: Arm, method: str, rnd: int, score: str, scale: float, digits: int) -> str:
    v, b = arm.study.mean(method, rnd, score), baseline.study.mean(method, rnd, score)
    if v is None:
        return "—"
    if b is None or arm is baseline:
        return f"{v * scale:.{digits}f}"
    return f"{v * scale:.{digits}f} ({(v - b) * scale:+.{digits}f})"


def ablation_table(baseline: Arm, others: list[Arm], rnd: int, spread: tuple[str, Study] | None = None) -> str:
    head = ["experiment", "changes", f"{LABELS['ours'].split(' (')[0]} acc r1",
            *(f"{LABELS[m].split(' (')[0]} acc r{rnd}" for m in COMPARED), f"ours CS r{rnd}", f"ours EE r{rnd}"]
    rows = [[arm.name, arm.changes or "—", _delta(arm, baseline, "ours", 1, "accuracy", 100, 1),
             *(_delta(arm, baseline, m, rnd, "accuracy", 100, 1) for m in COMPARED),
             _delta(arm, baseline, "ours", rnd, "CS", 1, 3), _delta(arm, baseline, "ours", rnd, "EE", 1, 2)]
            for arm in [baseline, *others]]
    return md_table(head, rows + ([spread_row(*spread, rnd)] if spread else []))


def ablation_figure(baseline: Arm, others: list[Arm], rnd: int, out: Path, title: str) -> None:
    arms_ = [baseline, *others]
    fig, ax = plt.subplots(figsize=(max(7.0, 3.5 + 1.2 * len(arms_)), 3.8))
    width = 0.8 / len(COMPARED)
    for i, m in enumerate(COMPARED):
        ax.bar([j + i * width for j in range(len(arms_))],
               [100 * (a.study.mean(m, rnd, "accuracy") or 0) for a in arms_], width, label=LABELS[m])
    ax.set_xticks([j + width * (len(COMPARED) - 1) / 2 for j in range(len(arms_))],
                  [a.name.replace(" (workspace)", "") for a in arms_], rotation=20, fontsize=8)
    ax.set_ylabel(f"accuracy at round {rnd} (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, out)


def write_report(names: list[str] | None = None, out: Path = Path("reports")) -> int:
    params = load_params()
    uri, experiment = tracking_uri(params), params.experiment
    try:
        runs = method_runs(uri, experiment)
        baseline, others = arms(uri, runs, params_key(params), names)
    except LookupError as e:
        print(f"{e} (run `make repro`, then `make ablations`)", file=sys.stderr)
        return 1
    if not others:
        print("MLflow has no ablation experiments yet: run `make ablations`", file=sys.stderr)
        return 1
    rnd = min(a.study.rounds for a in [baseline, *others])
    title = f"{params.dataset.name} ({params.world.size}), seed {params.seed}, compared at round {rnd}"
    text = f"""# Study-level ablations — {title}

DVC experiments (`dvc exp show`), each an MLflow configuration with the tag `dvc_exp`; changes
are read from the runs' params against the workspace's study (config {params_key(params, ('seed',))}).
Accuracy in % (strict); in brackets the difference to the baseline. One seed each: the last
row, the spread over seeds of the configuration run with the most seeds (`make seeds`), is the
yardstick a difference has to beat.

{ablation_table(baseline, others, rnd, seed_spread(uri, runs))}
"""
    write_text(out / "ablations-study.md", text)
    ablation_figure(baseline, others, rnd, out / "ablations-study.png", f"study-level ablations — {title}")
    print(text)
    return 0

