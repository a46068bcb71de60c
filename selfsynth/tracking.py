"""MLflow runs for stages: one experiment per dataset, the DVC experiment and git revision as tags."""
from __future__ import annotations

import os
import subprocess
import urllib.request
from contextlib import contextmanager
from typing import Iterator

from .params import Params


class TrackingError(RuntimeError):
    pass


def tracking_uri(params: Params) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or params.tracking.uri


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


@contextmanager
def mlflow_run(params: Params, run_name: str, **tags) -> Iterator[object]:
    import mlflow

    uri = tracking_uri(params)
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(params.tracking.experiment or params.dataset.name)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags({"git_revision": _git_revision(), "dvc_exp": os.environ.get("DVC_EXP_NAME", ""),
                         "dataset": params.dataset.name, "seed": str(params.seed),
                         **{k: str(v) for k, v in tags.items()}})
        mlflow.log_params(flatten(params.model_dump()))
        yield mlflow
