"""What a stage checks before its first minute of work: threads fixed, tracking store answering,
runs of killed stages closed.

Why: an unreachable tracking server failed `train` after 149 s of training and a written model;
a server that answered /health but failed its API blocked `select` for 248 s in MLflow's retry
loop; `sqlite:////nonexistent/dir/mlflow.db` silently created that directory; and a stage killed
by SIGKILL left its MLflow run RUNNING forever.
"""
from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from ..core.params import Params
from ..tracking import HOST_TAG, PID_TAG, TrackingError, tracking_uri
from .guard import limit_threads

log = logging.getLogger("preflight")

CHECK_TIMEOUT_S = 5


def uri_key() -> str:
    return "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "tracking.uri"


def sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):] or ".")


@contextmanager
def _one_quick_try():
    """MLflow's HTTP calls with a short timeout and no retries, for the check only."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")}
    os.environ.update(MLFLOW_HTTP_REQUEST_TIMEOUT=str(CHECK_TIMEOUT_S), MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_store(params: Params):
    """One real API call on the store the stage will log to; an error names the key that set it."""
    from mlflow.tracking import MlflowClient

    uri, key = tracking_uri(params), uri_key()
    db = sqlite_path(uri)
    if db is not None and not db.parent.is_dir():
        raise TrackingError(f"{key}: {uri}: folder {db.parent} does not exist (create it, or point the key elsewhere)")
    try:
        with _one_quick_try():
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 - any failure means the same to the user: fix the store first
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise TrackingError(f"{key}: tracking store {uri} does not answer ({first})") from None
    return client


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_orphan_runs(client, params: Params) -> list[str]:
    """Runs left RUNNING by a stage on this host whose process is gone end KILLED."""
    experiment = client.get_experiment_by_name(params.experiment)
    if experiment is None:
        return []
    host = socket.gethostname()
    closed = []
    for run in client.search_runs([experiment.experiment_id], filter_string=(
            f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"), max_results=1000):
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    if closed:
        log.warning("closed %d MLflow run(s) left RUNNING by a killed stage: %s", len(closed), ", ".join(closed))
    return closed


def stage_start(params: Params, tracking: bool = True) -> None:
    """First call of every stage after its params load: fixed threads; for a stage that logs, the
    tracking store must answer now, not after the work."""
    limit_threads(params.threads)
    if tracking and os.environ.get("RANK", "0") == "0":  # several ranks: rank 0 alone logs, so it alone checks
        close_orphan_runs(check_store(params), params)
