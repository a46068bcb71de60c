"""Rounds 2..K through `dvc repro` on the micro world: candidates, rejection, training on the
previous round's model, one MLflow run per method with rounds as steps, the report."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from selfsynth.core.layout import METHODS
from selfsynth.lmm.load import check_llava_dir
from tests.conftest import DVC, dvc, dvc_env, make_project, run_stage, write_params



def jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_round_two_samples_candidates_keeps_one_per_question_and_trains_every_method(micro_project):
    root, _ = micro_project
    p = yaml.safe_load((root / "params.yaml").read_text())["rejection"]
    n_train = sum(r["split"] == "train" for r in jsonl(root / "data/dataset/manifest.jsonl"))
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
        check_llava_dir(root / f"models/round-2/{method}/model")
        m = json.loads((root / f"metrics/eval/round-2/{method}.json").read_text())
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
    runs = db.execute("""select s.value, count(distinct s.run_uuid) from tags s join tags t on t.run_uuid = s.run_uuid
                          where s.key = 'study' and t.key = 'method' group by s.value""").fetchall()
    assert runs and all(n == len(METHODS) for _, n in runs)  # one per method in each study the project saw
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
    from selfsynth.dataset.prepared import NO_TRUTH

    root, _ = micro_project
    project = make_project(tmp_path / "real", yaml.safe_load((root / "params.yaml").read_text()))
    os.symlink(root / "selfsynth", project / "selfsynth")  # this checkout's library, not whichever is installed
    shutil.copytree(root / "metrics", project / "metrics")
    (project / "reports").mkdir(exist_ok=True)  # make_project put the seeds verdict there
    (project / "reports/select_sweep.json").write_text(json.dumps({"note": NO_TRUTH}))
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
    params["rounds"]["round-3"] = params["resample"]["round-3"] = {"round": 3, "after": 2}
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
    # params.yaml changed: the check stage runs first; its stamp is unchanged, so it re-runs nothing
    assert first == ["check", "generate@round-3", "rejection@round-3", "train@round-3"]
    assert proc.returncode != 0 and not (copy / "models/round-3/ours").exists()
    out = dvc(copy, "repro")
    ran = [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")]
    assert ran[0] == "train@round-3" and ran[-1] == "report"
    assert set(ran) == {"train@round-3", "evaluate@round-3", "instrument", "report"}


def test_evaluation_scores_every_image_and_the_report_describes_claims_with_intervals(micro_project):
    """Issue 10, additive: text quality beside EE / CS, per-image scores that average to the metrics
    file, the training record, and the report's intervals; one seed describes, it issues no verdict."""
    root, _ = micro_project
    m = json.loads((root / "metrics/eval/round-2/ours.json").read_text())
    assert 0 <= m["well_formed"] <= 1 and 0 <= m["repeated_ngram"] <= 1 and m["FS_masked"] > 0
    rows = [r for r in jsonl(root / "data/eval/round-2/ours.jsonl") if "task" not in r]
    for key in ("accuracy", "accuracy_lenient", "EE", "CS", "FS", "FS_masked", "well_formed"):
        assert abs(sum(float(r["scores"][key]) for r in rows) / len(rows) - m[key]) < 1e-9, key
    train = json.loads((root / "metrics/train/round-2.json").read_text())
    assert set(train) == set(METHODS)
    assert train["ours"]["convergence"] is True and train["ours"]["val_pairs"] > 0  # the default: to convergence
    first = json.loads((root / "metrics/train/round-1.json").read_text())
    for m in METHODS:  # validation images are never trained on in any round: the same held out every round
        assert train[m]["held_out"] == first[m]["held_out"] and train[m]["held_out"]
    table = (root / "reports/table1.md").read_text()
    assert "well formed" in table and "FS masked" in table and "bootstrap intervals" in table
    assert "ours r2 − nl r2" in table
    described = [line for line in table.split("so it decides nothing")[1].splitlines() if line.startswith("- ")]
    assert len(described) == 8 and all(line.endswith(("(one seed: descriptive)", "(sanity check (true by construction))"))
                                       or "(cannot be tested (" in line for line in described)
    assert "No verdict yet" in table  # the committed seeds.json holds no seed of the micro configuration
    assert "the instrument's checks" in table and (root / "metrics/instrument.json").is_file()


def test_train_stage_to_convergence_records_epochs_and_best_validation_loss(micro_project, tmp_path):
    root, _ = micro_project
    project = tmp_path / "conv"
    shutil.copytree(root, project, symlinks=True, ignore=shutil.ignore_patterns(".dvc", ".git", "mlflow.db", "mlruns"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["convergence"] = {"enabled": True, "val_share": 0.25, "patience": 1,
                                      "early_stopping_threshold": 0.0, "max_epochs": 3}
    write_params(project, params)
    shutil.rmtree(project / "models/round-2/ours")
    proc = subprocess.run([sys.executable, "-m", "stages.train", "2", "ours"], cwd=project, capture_output=True,
                          text=True, env={**dvc_env(project), "PYTHONPATH": str(project)})
    assert proc.returncode == 0, proc.stderr[-5000:]
    check_llava_dir(project / "models/round-2/ours/model")
    rec = json.loads((project / "metrics/train/round-2.json").read_text())["ours"]
    assert rec["convergence"] is True and rec["epochs_cap"] == 3 and 1 <= rec["epochs_used"] <= 3
    assert rec["val_images"] >= 1 and rec["val_pairs"] >= rec["val_images"]
    assert rec["best_val_loss"] == min(rec["val_losses"]) and len(rec["val_losses"]) == round(rec["epochs_used"])
    db = sqlite3.connect(project / "mlflow.db")
    assert [v for (v,) in db.execute("select value from metrics where key = 'train.best_val_loss'")] == \
        [pytest.approx(rec["best_val_loss"])]
