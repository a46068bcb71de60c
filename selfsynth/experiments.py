"""Queue and run the study's DVC experiments — the paper's ablations, or more seeds — so that
`dvc exp show` compares them and each lands in MLflow as its own configuration.

    python -m selfsynth ablations [--encoder /path/to/e5-large] [--jobs 1] [-S key=value ...]
    python -m selfsynth seeds [--seeds 1 2] [--jobs 1]
    python -m selfsynth ablations --rounds 2    # each ablation stops after round 2
    python -m selfsynth ablations --dry-run     # print the dvc commands only

Afterwards the seeds write reports/table1-seeds.md, the ablations reports/ablations-study.md.

Every experiment reruns only what its change touches (an ablation of beta: select onward; a
seed: everything, the world and the base model included — `seed` and `world.seed` move together).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .core.offline import OFFLINE_ENV
from .core.params import load_params

# name -> the params it changes (the paper's ablation set; nofilter is a method of every run)
ABLATIONS: dict[str, list[str]] = {
    "beta-minus1": ["select.beta=-1.0"],
    "beta-0": ["select.beta=0.0"],
    "beta-0.8": ["select.beta=0.8"],
    "encoder-tfidf": ["select.encoder=tfidf"],
    "label-check-first": ["rejection.label_check=before_score"],
    "nofilter-random": ["rejection.nofilter=random"],  # w/o filtering without the label check either
    "nofilter-label-checked": ["rejection.nofilter=label_checked"],  # the gate before the random pick
    "fixed-epochs": ["train.convergence.enabled=false"],  # the earlier study's 2 / 1 epochs
}


def environment() -> dict:
    """Offline; the MLflow store follows the repository (DVC_ROOT, see selfsynth.tracking), so queued
    runs in temporary copies of the repo log into the workspace's store."""
    env = {**os.environ, **OFFLINE_ENV}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dvc(*args: str, dry: bool = False, check: bool = True) -> str:
    cmd = ["dvc", *args]
    print("$", " ".join(cmd), flush=True)
    if dry:
        return ""
    # files, not pipes: `dvc queue start` leaves a worker holding its stdout, so reading a pipe to
    # its end would wait for the whole queue
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(cmd, env=environment(), stdout=out, stderr=err, text=True)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stdout[-2000:]}{stderr[-2000:]}")
    return stdout


def queue(experiments: dict[str, list[str]], extra: list[str], dry: bool) -> None:
    for name, sets in experiments.items():
        dvc("exp", "run", "--queue", "--name", name, *(a for s in [*sets, *extra] for a in ("-S", s)), dry=dry)


def run_queue(jobs: int, dry: bool, poll: float = 30.0) -> None:
    dvc("queue", "start", "--jobs", str(jobs), dry=dry)
    if dry:
        return
    idle = 0  # polls in a row with experiments queued and no worker alive
    while True:
        status = dvc("queue", "status", check=False)
        busy = [line for line in status.splitlines() if " Queued " in f" {line} " or " Running " in f" {line} "]
        if not busy:
            break
        # a worker can stop with experiments still queued (a stale shutdown message of an earlier
        # queue); twice in a row, so that a worker still starting up is not doubled
        stopped = "Worker status: 0 active, 0 idle" in status and not any(" Running " in f" {x} " for x in busy)
        idle = idle + 1 if stopped else 0
        if idle == 2:
            print("the queue's worker stopped with experiments still queued: starting it again", flush=True)
            dvc("queue", "start", "--jobs", str(jobs))
            idle = 0
        print(f"{len(busy)} experiments queued or running ...", flush=True)
        time.sleep(poll)
    print(dvc("queue", "status", check=False))
    dvc("queue", "stop", check=False)


def planned(what: str, seeds=(), encoders=(), only: list[str] | None = None) -> dict[str, list[str]]:
    """The experiments to queue, by name: a seed moves every seed key; an ablation its params."""
    if what == "seeds":
        from .report.seeds import SEED_KEYS  # the report finds each seed's runs by the same keys
        return {f"seed-{s}": [f"{key}={s}" for key in SEED_KEYS] for s in seeds}
    experiments = dict(ABLATIONS)
    for path in encoders:
        experiments[f"encoder-{Path(path).name}"] = [f"select.encoder={path}"]
    if only:
        if unknown := set(only) - set(experiments):
            raise KeyError(f"unknown ablation(s) {sorted(unknown)}; known: {sorted(experiments)}")
        experiments = {k: v for k, v in experiments.items() if k in only}
    return experiments


def run(what: str, experiments: dict[str, list[str]], extra: list[str], rounds: int | None, jobs: int, prefix: str,
        dry_run: bool) -> int:
    extra = list(extra)
    if rounds is not None:  # hydra's delete syntax: drop the rounds after K
        params = load_params()
        extra += [f"~{key}.{name}" for key in ("rounds", "resample")
                  for name, spec in getattr(params, key).items() if spec.round > rounds]
    queue({f"{prefix}{k}": v for k, v in experiments.items()}, extra, dry_run)
    run_queue(jobs, dry_run)
    if not dry_run:
        # the figures that matter, not `dvc exp show --md`: 300+ columns, one 8,000-character line per row
        from .report.exp_table import readable_exp_show
        print(readable_exp_show(), flush=True)
        # the ablation report lists every ablation MLflow holds, so a subset run adds rows, not replaces them
        subprocess.run([sys.executable, "-m", "selfsynth", f"{what}-report"], env=environment(), check=False)
    return 0
