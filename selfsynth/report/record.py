"""The report's part of the study's MLflow record: rounds a method run lacks, each method's final
adapter as a registered model, the report's files. Kept out of selfsynth.tracking, which every
stage imports, so that only the report stage depends on the model-loading code it registers."""
from __future__ import annotations

import logging
from pathlib import Path

from ..core.io import read_json
from ..core.layout import metrics_path, model_dir, round_dir
from ..core.params import Params
from ..lmm.mlflow_model import log_adapter_model
from ..tracking import finish_study, log_round, method_run, mlflow_run, project_root, study_run_name

log = logging.getLogger(__name__)


def fill_rounds(mlf, method: str, k: int) -> list[int]:
    """Log, from the metrics files, the rounds 0..k the active method run lacks (DVC reused their
    stages, so this configuration never logged them); a round already there is not logged again."""
    run_id = mlf.active_run().info.run_id
    have = {m.step for m in mlf.MlflowClient().get_metric_history(run_id, "accuracy")}
    missing = sorted(set(range(k + 1)) - have)
    for rnd in missing:
        log_round(mlf, read_json(metrics_path("base" if rnd == 0 else method, rnd)), rnd)
    return missing


def record_study(params: Params, methods: tuple[str, ...], report_files: list[Path]) -> None:
    """The report's part of the study's record, once the last round is evaluated: rounds a method
    run lacks are filled in from the metrics files (each step once), each method's final adapter
    becomes a registered model version (once per study), the report's files go to a stage run."""
    for method in methods:
        with method_run(params, method) as mlf:
            fill_rounds(mlf, method, params.last_round)
            run = mlf.get_run(mlf.active_run().info.run_id)
            if "model_version" not in run.data.tags:
                register_adapter(mlf, run, params, method)
    with mlflow_run(params, "report", stage="report") as mlf:
        for path in report_files:
            mlf.log_artifact(str(path))
    finish_study(params)  # the study's run spans its first stage to its report


def register_adapter(mlf, run, params: Params, method: str) -> None:
    """The method's last-round adapter as version <n> of model `<dataset>-<method>`, described and
    tagged with its study, and the version noted on the method run."""
    k, name = params.last_round, f"{params.dataset.name}-{method}"
    adapter, base = round_dir(method, k) / "adapter", project_root() / model_dir(method, k - 1)
    if not adapter.is_dir():  # a report redrawn from metrics files alone (no models checked out)
        log.warning("%s: no adapter, %s not registered", adapter, name)
        return
    info = log_adapter_model(adapter, base, name, params.evaluate.max_new_tokens)
    version = str(info.registered_model_version)
    client = mlf.MlflowClient()
    client.update_model_version(name, version, description=(
        f"{method}: the LoRA adapter of round {k} of study {run.data.tags['study']} "
        f"({study_run_name(run.data.tags)}), on top of {base}. predict() takes a DataFrame with "
        f"columns image (path) and question and returns one greedy answer per row."))
    for key, value in {**{k_: run.data.tags[k_] for k_ in ("study", "config", "seed", "dvc_exp", "git_revision")},
                       "rounds": str(k)}.items():
        client.set_model_version_tag(name, version, key, value)
    mlf.set_tags({"registered_model": name, "model_version": version})
