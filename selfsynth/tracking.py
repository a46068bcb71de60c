"""MLflow runs for stages: one experiment per dataset, the DVC experiment and git revision as tags."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .params import Params


class TrackingError(RuntimeError):
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


def check_tracking(uri: str, timeout: float = 5.0) -> None:
    """An HTTP tracking server must answer before long work starts; local stores always do."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout)
    except Exception as e:  # noqa: BLE001 - any failure means the same thing to the user
        raise TrackingError(f"tracking.uri / MLFLOW_TRACKING_URI: server {uri} is unreachable ({e})") from None


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


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
    """`study` names one run of the whole study (params incl. seed); `config` groups its seeds."""
    return {"study": params_key(params), "config": params_key(params, ("seed",)),
            "git_revision": _git_revision(), "dvc_exp": os.environ.get("DVC_EXP_NAME", ""),
            "dataset": params.dataset.name, "seed": str(params.seed)}


def _experiment(params: Params):
    import mlflow

    uri = tracking_uri(params)
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    name = params.tracking.experiment or params.dataset.name
    if mlflow.get_experiment_by_name(name) is None and (artifacts := artifact_root(uri, project_root())):
        try:  # stages of one study may race to create it
            mlflow.create_experiment(name, artifact_location=f"{artifacts}/{name}")
        except mlflow.exceptions.MlflowException:
            pass
    return mlflow, mlflow.set_experiment(name)


HOST_TAG, PID_TAG = "selfsynth.host", "selfsynth.pid"


def _claim(mlflow) -> None:
    """Tag the active run with the process that holds it, so a later stage can tell it was orphaned
    (selfsynth.preflight closes such runs)."""
    mlflow.set_tags({HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())})


@contextmanager
def mlflow_run(params: Params, run_name: str, **tags) -> Iterator[object]:
    """A run for one stage of one study (describe, select, ...)."""
    mlflow, _ = _experiment(params)
    with mlflow.start_run(run_name=run_name):
        _claim(mlflow)
        mlflow.set_tags({**study_tags(params), **{k: str(v) for k, v in tags.items()}})
        mlflow.log_params(flatten(params.model_dump()))
        yield mlflow


@contextmanager
def method_run(params: Params, method: str) -> Iterator[object]:
    """The one run of a method in this study, reopened by every round: metrics carry the round
    as their step, so the UI draws accuracy over rounds 1..K per method."""
    mlflow, experiment = _experiment(params)
    tags = study_tags(params)
    found = mlflow.search_runs([experiment.experiment_id], output_format="list", max_results=1,
                               filter_string=f"tags.study = '{tags['study']}' and tags.kind = 'method' and tags.method = '{method}'")
    if found:
        with mlflow.start_run(run_id=found[0].info.run_id):
            _claim(mlflow)
            yield mlflow
        return
    with mlflow.start_run(run_name=f"{method}-{tags['study'][:6]}"):
        _claim(mlflow)
        mlflow.set_tags({**tags, "method": method, "kind": "method"})
        mlflow.log_params(flatten(params.model_dump()))
        yield mlflow
