"""Rounds 2..K through `dvc repro` on the micro world: candidates, rejection, training on the
previous round's model, one MLflow run per method with rounds as steps, the report."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import yaml

from selfsynth.models.load import check_llava_dir
from tests.conftest import DVC, dvc, dvc_env, make_project, run_stage, write_params

METHODS = ("nl", "lge", "ours", "nofilter")


def jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_round_two_samples_candidates_keeps_one_per_question_and_trains_every_method(micro_project):
    root, _ = micro_project
    p = yaml.safe_load((root / "params.yaml").read_text())["rejection"]
    n_train = sum(r["split"] == "train" for r in jsonl(root / "data/world/manifest.jsonl"))
    for method in ("ours", "nofilter"):
        groups = jsonl(root / f"data/rounds/round-2/candidates/{method}.jsonl")
        assert len(groups) == n_train * p["questions"]
        assert all(len(g["candidates"]) == p["samples"] and g["kind"] in ("explain", "cot") for g in groups)
    ours = jsonl(root / "data/rounds/round-2/pairs/ours.jsonl")
    assert len(ours) == n_train * p["questions"]  # every image keeps its pairs
    assert all(pair["label"].lower() in pair["answer"].lower() for pair in ours)  # kept or fallback: names it
    assert {pair["source"] for pair in ours} <= {"candidate", "fallback"}
    for method in METHODS:
        assert len(jsonl(root / f"data/rounds/round-2/pairs/{method}.jsonl")) == n_train * p["questions"]
        check_llava_dir(root / f"models/{method}/round-2/model")
        m = json.loads((root / f"metrics/{method}/round-2.json").read_text())
        assert 0.0 <= m["accuracy"] <= m["accuracy_lenient"] <= 1.0
    stats = json.loads((root / "metrics/rounds/round-2.json").read_text())
    assert abs(stats["ours"]["accepted"] + stats["ours"]["fallback"] - 1.0) < 1e-9


def test_mlflow_has_one_run_per_method_with_accuracy_at_every_round(micro_project):
    root, _ = micro_project
    db = sqlite3.connect(root / "mlflow.db")
    rows = db.execute("""select t.value, m.step from metrics m join tags t on t.run_uuid = m.run_uuid
                         where m.key = 'accuracy' and t.key = 'method'""").fetchall()
    steps = {}
    for method, step in rows:
        steps.setdefault(method, set()).add(step)
    assert steps == {m: {0, 1, 2} for m in METHODS}  # round 0, the base model, starts every method's curve
    runs = db.execute("select count(distinct run_uuid) from tags where key = 'method'").fetchone()[0]
    assert runs == 4
    adapters = db.execute("select count(*) from runs").fetchone()[0]
    assert adapters >= 5


def test_report_writes_table1_ablations_and_figures(micro_project):
    root, _ = micro_project
    table = (root / "reports/table1.md").read_text()
    for needle in ("round 0", "round 2", "ours (Z* + rejection sampling)", "w/o filtering", "CUB-200", "claims"):
        assert needle in table
    ablations = (root / "reports/ablations.md").read_text()
    assert "tfidf" in ablations and "minilm" in ablations and "descriptions per image" in ablations.lower()
    for fig in ("accuracy", "select_descriptions", "select_beta", "select_encoders"):
        assert (root / f"reports/{fig}.png").stat().st_size > 5_000
    assert (root / "reports/accuracy.csv").read_text().splitlines()[0] == "round,nl,lge,ours,nofilter"


def test_report_on_a_real_dataset_says_what_it_cannot_score(micro_project, tmp_path):
    """Real data records no per-image features: the selection's precision and sweeps are named as
    skipped, and every declared figure still exists."""
    from selfsynth.data.dataset import NO_TRUTH

    root, _ = micro_project
    project = make_project(tmp_path / "real", yaml.safe_load((root / "params.yaml").read_text()))
    shutil.copytree(root / "metrics", project / "metrics")
    (project / "metrics/select_sweep.json").write_text(json.dumps({"note": NO_TRUTH}))
    (project / "metrics/select.json").write_text(json.dumps({"selected": {"per_image": 3.25}, "note": NO_TRUTH}))
    run_stage(project, "report")
    ablations = (project / "reports/ablations.md").read_text()
    assert "3.25 concepts" in ablations and NO_TRUTH in ablations
    assert "ours (Z* + rejection sampling)" in (project / "reports/table1.md").read_text()
    for fig in ("accuracy", "select_descriptions", "select_beta", "select_encoders"):
        assert (project / f"reports/{fig}.png").stat().st_size > 3_000


def test_an_interrupted_study_resumes_without_redoing_finished_rounds(micro_project, tmp_path):
    """Add a round, press Ctrl-C while it trains, run `dvc repro` again: nothing finished reruns."""
    root, _ = micro_project
    copy = tmp_path / "p"
    shutil.copytree(root, copy, symlinks=True)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["rounds"]["round-3"] = {"round": 3, "after": 2}
    write_params(copy, params)
    proc = subprocess.Popen([DVC, "repro"], cwd=copy, env=dvc_env(copy), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    first = []
    for line in proc.stdout:
        if line.startswith("Running stage"):
            first.append(line.split("'")[1])
            if first[-1] == "train@round-3":
                time.sleep(3)
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
                break
    proc.wait(timeout=120)
    assert first == ["generate@round-3", "rejection@round-3", "train@round-3"]
    assert proc.returncode != 0 and not (copy / "models/ours/round-3").exists()
    out = dvc(copy, "repro")
    ran = [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")]
    assert ran == ["train@round-3", "evaluate@round-3", "report"]
