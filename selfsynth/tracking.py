"""MLflow runs for stages: one experiment per dataset, the DVC experiment and git revision as tags."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .core.errors import InputError
from .core.params import Params

log = logging.getLogger(__name__)
# a SQLite store's connections are not pooled: a stage's forked workers log too (live training
# curves), and a pooled connection must never cross a fork
os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")


class TrackingError(RuntimeError, InputError):
    pass


def project_root() -> Path:
    """The user's repository. DVC sets DVC_ROOT to it for every stage it runs, also inside
    `dvc exp run --temp` and queued experiments, whose working directory is a throwaway copy;
    a stage run by hand runs from the root."""
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def resolve_store(uri: str, root: Path) -> str:
    """A relative local store (`sqlite:///mlflow.db`, `mlruns`) names a path under the repository
    root, not under whatever directory the stage happens to run in."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{root / uri.removeprefix('sqlite:///')}"
    if "://" not in uri and not uri.startswith("file:") and not Path(uri).is_absolute():
        return str(root / uri)
    return uri


def tracking_uri(params: Params) -> str:
    return resolve_store(os.environ.get("MLFLOW_TRACKING_URI") or params.tracking.uri, project_root())


def artifact_root(uri: str, root: Path) -> str | None:
    """Artifacts of a local store live beside it, under the repository root (mlartifacts/), not in
    the cwd of the first stage that created the experiment; a server keeps its own."""
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    return str(root / "mlartifacts")


def _git_revision() -> str:
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return proc.stdout.strip() if proc.returncode == 0 else ""  # a repository with no commit says "HEAD"
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    """Float results differ across CPU types, so every run says which one it ran on."""
    try:  # the first processor's block; a virtual machine may name only the vendor, so its family too
        with open("/proc/cpuinfo") as f:
            info = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
    except OSError:
        info = {}
    if name := info.get("model name"):
        return f"{name} (family {info.get('cpu family', '?')}, model {info.get('model', '?')})"
    return platform.processor() or platform.machine()


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def params_key(params: Params, without: tuple[str, ...] = ()) -> str:
    """A short hash of the params that shape results (tracking settings never do)."""
    d = {k: v for k, v in params.model_dump().items() if k not in ("tracking", *without)}
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def study_tags(params: Params) -> dict[str, str]:
    """`study` names one run of the whole study (params incl. seed); `config` groups its seeds.
    The readable ones (dataset, seed, DVC experiment, git commit, CPU) are what a person filters by."""
    revision = _git_revision()
    return {"study": params_key(params), "config": params_key(params, ("seed",)),
            "git_revision": revision, "mlflow.source.git.commit": revision,
            "dvc_exp": os.environ.get("DVC_EXP_NAME", ""), "dataset": params.dataset.name, "seed": str(params.seed),
            "cpu": _cpu_model()}


EXPERIMENT_NOTE = """Visual rejection sampling with self-synthesized data (Shi et al., ICLR 2025) on `{dataset}`.

One parent run per study (one `dvc repro` / `dvc exp run` of one configuration and seed), named
`<DVC experiment or workspace>-seed<seed>-<study id>`. Under it: one run per method (params
`method`, `rounds`, `dataset`; metrics with the round as step, round 0 = the base model) and one
run per pipeline stage. Method runs hold the evaluation answers and rejection-sampling pairs as
tables (Artifacts, `answers/`, `rejection/`) and the final LoRA adapter as a model, registered as
`{dataset}-<method>` (one version per study)."""


def _experiment(params: Params):
    import mlflow

    uri = tracking_uri(params)  # stage_start already made one real call on it (preflight.check_store)
    mlflow.set_tracking_uri(uri)
    name = params.experiment
    if mlflow.get_experiment_by_name(name) is None and (artifacts := artifact_root(uri, project_root())):
        try:  # stages of one study may race to create it
            mlflow.create_experiment(name, artifact_location=f"{artifacts}/{name}")
        except mlflow.exceptions.MlflowException:
            pass
    experiment = mlflow.set_experiment(name)
    # Model training, not GenAI: MLflow's own reading of an experiment. (3.17's UI opens every experiment
    # on its GenAI overview all the same, its switch is per browser: the README gives the runs URL.)
    defaults = {"mlflow.note.content": EXPERIMENT_NOTE.format(dataset=params.dataset.name),
                "mlflow.experimentKind": "custom_model_development", "dataset": params.dataset.name}
    for key, value in defaults.items():  # set once: a description edited in the UI stays
        if key not in experiment.tags:
            mlflow.set_experiment_tag(key, value)
    return mlflow, experiment


def _find_run(mlflow, experiment_id: str, **tags: str):
    query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
    found = mlflow.search_runs([experiment_id], filter_string=query, output_format="list", max_results=1,
                               order_by=["attributes.start_time ASC"])
    return found[0] if found else None


def study_run_name(tags: dict[str, str]) -> str:
    return f"{tags['dvc_exp'] or 'workspace'}-seed{tags['seed']}-{tags['study'][:6]}"


def _study_run_id(mlflow, experiment, params: Params, tags: dict[str, str]) -> str:
    """The study's parent run, created by whichever stage comes first, RUNNING until the report
    stage ends it (finish_study). Holds the study's params and readable tags; the stage runs are
    its children."""
    from mlflow.entities import Param

    client = mlflow.MlflowClient()
    if found := _find_run(mlflow, experiment.experiment_id, kind="study", study=tags["study"]):
        if found.info.status != "RUNNING":  # the study is being worked on again
            client.update_run(found.info.run_id, status="RUNNING")
        return found.info.run_id
    run = client.create_run(experiment.experiment_id, run_name=study_run_name(tags), tags={**tags, "kind": "study"})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in flatten(params.model_dump()).items()])
    return run.info.run_id


def log_round(mlf, metrics: dict, rnd: int) -> None:
    """A round's metrics file into the active method run, the round as the step: the evaluate
    stage's, or the report's for a round whose stage DVC served from its cache."""
    mlf.log_metrics({k: v for k, v in flatten(metrics).items() if isinstance(v, (int, float))}, step=rnd)


def finish_study(params: Params) -> None:
    """The report stage has written the study: its run ends."""
    mlflow, experiment = _experiment(params)
    mlflow.MlflowClient().set_terminated(_study_run_id(mlflow, experiment, params, study_tags(params)))


def method_params(params: Params, method: str) -> dict:
    """What tells method runs apart in Compare and parallel coordinates, beside the study's params."""
    return {**flatten(params.model_dump()), "method": method, "rounds": params.last_round,
            "dataset": params.dataset.name}


HOST_TAG, PID_TAG = "selfsynth.host", "selfsynth.pid"


def _claim(mlflow) -> None:
    """Tag the active run with the process that holds it, so a later stage can tell it was orphaned
    (selfsynth.process.preflight closes such runs)."""
    mlflow.set_tags({HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())})


@contextmanager
def mlflow_run(params: Params, run_name: str, **tags) -> Iterator[object]:
    """A run for one stage of one study (describe, select, ...), nested under the study's run."""
    mlflow, experiment = _experiment(params)
    study = study_tags(params)
    parent = _study_run_id(mlflow, experiment, params, study)
    with mlflow.start_run(run_name=f"{run_name}-{study['study'][:6]}",
                          tags={"mlflow.parentRunId": parent, "kind": "stage"}):
        _claim(mlflow)
        mlflow.set_tags({**study, **{k: str(v) for k, v in tags.items()}})
        mlflow.log_params(flatten(params.model_dump()))
        yield mlflow


@contextmanager
def method_run(params: Params, method: str) -> Iterator[object]:
    """The one run of a method in this study, reopened by every stage that measures it: metrics
    carry the round as their step (0 = the base model), so the UI draws accuracy over rounds, and
    training curves go in live (round-<r>.loss). Not nested under the study's run but beside it
    (tag study_run): the chart view draws the runs it lists, and a nested run is hidden under its
    collapsed parent."""
    mlflow, experiment = _experiment(params)
    tags = study_tags(params)
    parent = _study_run_id(mlflow, experiment, params, tags)
    if found := _find_run(mlflow, experiment.experiment_id, study=tags["study"], kind="method", method=method):
        with mlflow.start_run(run_id=found.info.run_id):
            _claim(mlflow)
            yield mlflow
        return
    with mlflow.start_run(run_name=f"{method}-{tags['study'][:6]}", tags={"study_run": parent}):
        _claim(mlflow)
        mlflow.set_tags({**tags, "method": method, "kind": "method"})
        mlflow.log_params(method_params(params, method))
        yield mlflow


def log_answers(mlf, explain: list[dict], class_names: list[str], rnd: int) -> None:
    """The explain answers of one round as a table in the active run, to browse in the UI (the run's
    Artifacts tab): question, answer, true and predicted class, whether it is right, judge scores."""
    rows = [{"image_id": x["id"], "question": x["question"], "answer": x["answer"],
             "label": class_names[x["label"]],
             "predicted": None if x["predicted"] is None else class_names[x["predicted"]],
             "correct": x["predicted"] == x["label"], **{f"judge.{k}": v for k, v in x.get("judge", {}).items()}}
            for x in explain]
    mlf.log_table(_columns(rows), artifact_file=f"answers/round-{rnd}.json")


def log_pairs(mlf, pairs: list[dict], rnd: int) -> None:
    """The rejection step's training pairs of one round: `kept` is a sampled candidate, `fallback`
    the simple question that replaced a group none of whose candidates passed."""
    rows = [{"image_id": x["image_id"], "label": x["label"], "question": x["question"], "answer": x["answer"],
             "score": x.get("score"), "outcome": "kept" if x["source"] == "candidate" else x["source"]}
            for x in pairs]
    mlf.log_table(_columns(rows), artifact_file=f"rejection/round-{rnd}.json")


def _columns(rows: list[dict]) -> dict[str, list]:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return {k: [r.get(k) for r in rows] for k in keys}
