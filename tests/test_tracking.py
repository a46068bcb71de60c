"""MLflow as its users know it: the micro study's record, read back through MLflow's own client."""
from __future__ import annotations

import sqlite3
from collections import Counter

import pandas as pd
import pytest

from selfsynth.core.layout import METHODS

DATASET = "aviary"  # the micro study's (tests/conftest.py micro_params), also its experiment


@pytest.fixture(scope="module")
def record(micro_project):
    """The micro study's MLflow store: its client, the study's parent run, and its runs: the stage
    runs nested under it, the method runs beside it (tag study_run)."""
    from mlflow import MlflowClient

    root, _ = micro_project
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    experiment = client.get_experiment_by_name(DATASET)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    methods = [r for r in runs if r.data.tags.get("kind") == "method"]
    parent_id = methods[0].data.tags["study_run"]
    children = [r for r in runs if parent_id in (r.data.tags.get("mlflow.parentRunId"), r.data.tags.get("study_run"))]
    return root, client, experiment, client.get_run(parent_id), children


def test_a_study_is_one_parent_run_with_a_child_per_stage_and_a_run_per_method(record):
    _, _, _, parent, children = record
    study = parent.data.tags["study"]
    assert parent.data.tags["kind"] == "study"
    assert parent.info.run_name.startswith("workspace-seed0-") and study[:6] in parent.info.run_name
    assert {parent.data.tags[k] for k in ("dataset", "seed")} == {DATASET, "0"}
    assert parent.data.tags["mlflow.source.git.commit"] == parent.data.tags["git_revision"]
    assert sorted(r.data.tags["method"] for r in children if r.data.tags["kind"] == "method") == sorted(METHODS)
    stages = {r.info.run_name for r in children if r.data.tags["kind"] == "stage"}
    assert {f"{s}-{study[:6]}" for s in ("base-pretrain", "evaluate-base", "select", "report")} <= stages
    assert all(r.data.tags["study"] == study for r in children)
    assert parent.data.tags["cpu"] and all(r.data.tags["cpu"] == parent.data.tags["cpu"] for r in children)
    assert parent.info.status == "FINISHED"  # the report stage ended it


def test_method_runs_are_not_hidden_under_the_study_and_hold_each_rounds_training_curves(record):
    """The chart view draws the runs it lists: a method run nested under the collapsed study run
    would leave it empty. Training curves are transformers' own MLflow reporting, per round."""
    _, client, _, _, children = record
    for run in (r for r in children if r.data.tags["kind"] == "method"):
        assert "mlflow.parentRunId" not in run.data.tags
        for rnd in (1, 2):
            loss = client.get_metric_history(run.info.run_id, f"round-{rnd}.loss")
            assert len(loss) >= 1 and all(m.value > 0 for m in loss)
            assert client.get_metric_history(run.info.run_id, f"round-{rnd}.eval_loss")  # validation, per epoch
        assert not any("/" in k for k in run.data.metrics)  # a "/" opens a chart section above accuracy


def test_method_runs_differ_in_their_method_rounds_and_dataset_params(record):
    """What Compare and parallel coordinates separate them by: not only a tag."""
    _, _, _, _, children = record
    methods = [r for r in children if r.data.tags["kind"] == "method"]
    assert {r.data.params["method"] for r in methods} == set(METHODS)
    assert {(r.data.params["rounds"], r.data.params["dataset"]) for r in methods} == {("2", DATASET)}


def test_every_method_run_has_rounds_0_to_k_as_steps_each_logged_once(record):
    root, client, _, _, children = record
    for run in (r for r in children if r.data.tags["kind"] == "method"):
        assert {m.step for m in client.get_metric_history(run.info.run_id, "accuracy")} == {0, 1, 2}
    with sqlite3.connect(root / "mlflow.db") as db:
        logged = Counter(db.execute("select run_uuid, key, step from metrics").fetchall())
    assert max(logged.values()) == 1, [k for k, n in logged.items() if n > 1][:5]
    base = [client.get_metric_history(r.info.run_id, "accuracy")[0].value
            for r in children if r.data.tags["kind"] == "method"]
    assert len(set(base)) == 1, "round 0 is the one base model in every method's run"


def test_the_experiment_describes_itself_and_opens_on_its_runs(record):
    _, _, experiment, _, _ = record
    assert "rejection sampling" in experiment.tags["mlflow.note.content"]
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_answers_and_rejection_pairs_are_tables_in_the_method_runs(record):
    import mlflow

    _, client, experiment, _, children = record
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_experiment(experiment_id=experiment.experiment_id)  # load_table searches the active one
    runs = {r.data.tags["method"]: r.info.run_id for r in children if r.data.tags["kind"] == "method"}
    answers = mlflow.load_table("answers/round-2.json", run_ids=[runs["ours"]])
    assert {"question", "answer", "label", "predicted", "correct"} <= set(answers.columns) and len(answers) == 6
    assert len(mlflow.load_table("answers/round-0.json", run_ids=[runs["nl"]])) == 6
    pairs = mlflow.load_table("rejection/round-2.json", run_ids=[runs["ours"]])
    assert set(pairs["outcome"]) <= {"kept", "fallback"} and len(pairs) > 0
    # w/o filtering keeps the label check (the default), so it too can fall back
    assert set(mlflow.load_table("rejection/round-2.json", run_ids=[runs["nofilter"]])["outcome"]) <= {"kept", "fallback"}


def test_each_method_is_a_registered_model_that_loads_and_answers_an_image(record):
    import mlflow

    root, client, _, _, children = record
    mlflow.set_tracking_uri(client.tracking_uri)
    ours = next(r for r in children if r.data.tags.get("method") == "ours")
    assert {m.name for m in client.search_registered_models()} == {f"{DATASET}-{m}" for m in METHODS}
    name, version = ours.data.tags["registered_model"], ours.data.tags["model_version"]
    assert client.get_model_version(name, version).tags["study"] == ours.data.tags["study"]
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    image = next((root / "data/dataset").rglob("*.png"))
    answers = model.predict(pd.DataFrame({"image": [str(image)], "question": ["What bird is this?"]}))
    assert len(answers) == 1 and isinstance(answers[0], str) and answers[0].strip()


def test_the_report_fills_in_only_the_rounds_a_method_run_lacks(tmp_path, monkeypatch):
    """A configuration whose round-1 stages DVC reused never logged round 1: the report logs it
    (and round 0) from the metrics files, and leaves the round the evaluate stage logged alone."""
    from selfsynth.core.io import write_json
    from selfsynth.core.params import load_params
    from selfsynth.report.record import fill_rounds
    from selfsynth.tracking import method_run

    from tests.conftest import REPO

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    for method, rnd, acc in (("base", 0, 0.1), ("ours", 1, 0.2), ("ours", 2, 0.3)):
        write_json(f"metrics/eval/round-{rnd}/{method}.json", {"accuracy": acc, "offline": {"EE": 0.5}})
    params = load_params()
    with method_run(params, "ours") as mlf:
        mlf.log_metric("accuracy", 0.35, step=2)  # the evaluate stage of this configuration
    with method_run(params, "ours") as mlf:
        assert fill_rounds(mlf, "ours", 2) == [0, 1]
        assert fill_rounds(mlf, "ours", 2) == []
        history = mlf.MlflowClient().get_metric_history(mlf.active_run().info.run_id, "accuracy")
        ee = mlf.MlflowClient().get_metric_history(mlf.active_run().info.run_id, "offline.EE")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.1), (1, 0.2), (2, 0.35)]
    assert sorted(m.step for m in ee) == [0, 1]


def test_the_study_run_stays_running_until_the_report_ends_it(tmp_path, monkeypatch):
    """A newcomer watching a fresh study saw its run FINISHED in 66 ms while round 1 trained."""
    from mlflow import MlflowClient

    from selfsynth.core.params import load_params
    from selfsynth.tracking import finish_study, method_run, mlflow_run

    from tests.conftest import REPO

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    params = load_params()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")

    def study_status():
        [run] = client.search_runs([client.get_experiment_by_name(params.experiment).experiment_id],
                                   "tags.kind = 'study'")
        return run.info.status

    with mlflow_run(params, "describe"):
        pass
    with method_run(params, "ours"):  # a method's training, in its own run
        assert study_status() == "RUNNING"
    assert study_status() == "RUNNING"
    finish_study(params)
    assert study_status() == "FINISHED"
    with mlflow_run(params, "describe"):  # the study is worked on again
        assert study_status() == "RUNNING"
