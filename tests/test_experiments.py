"""Seeds and ablations: the dvc commands queued, and Table 1 as mean ± sd over seeds from MLflow."""
import csv
import json
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfsynth.core.layout import METHODS
from selfsynth.core.params import load_params
from selfsynth.tracking import params_key
from tests.conftest import OFFLINE, REPO


def experiments(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "selfsynth", *args], cwd=cwd, capture_output=True,
                          text=True, env={**OFFLINE, "PATH": "/usr/bin:/bin"})


def test_ablations_queue_the_papers_set_and_can_stop_early():
    out = experiments("ablations", "--rounds", "2", "--only", "beta-0", "encoder-tfidf", "--dry-run").stdout
    assert "$ dvc exp run --queue --name beta-0 -S select.beta=0.0 -S ~rounds.round-3 -S ~rounds.round-4" in out
    assert "--name encoder-tfidf -S select.encoder=tfidf" in out
    assert "$ dvc queue start --jobs 1" in out
    every = experiments("ablations", "--encoder", "/models/e5-large", "--dry-run").stdout
    for name in ("beta-minus1", "beta-0.8", "label-check-first", "encoder-e5-large"):
        assert f"--name {name} " in every


def test_seeds_queue_one_experiment_per_seed_and_each_draws_its_own_world():
    out = experiments("seeds", "--seeds", "1", "2", "--dry-run").stdout
    assert "--name seed-1 -S seed=1 -S world.seed=1" in out and "--name seed-2 -S seed=2 -S world.seed=2" in out


def test_an_unknown_ablation_is_named():
    proc = experiments("ablations", "--only", "beta-7", "--dry-run")
    assert proc.returncode != 0 and "beta-7" in proc.stderr


def test_table1_over_seeds_decides_each_claim_from_the_interval_over_seeds(tmp_path, monkeypatch):
    """Five seeds: ours beats L+GE on accuracy by 5 points in every seed (holds); ours and NL trade
    places on CS (undecided); w/o filtering is 4 points above ours on accuracy every seed (does not hold)."""
    import mlflow

    from selfsynth.cli import main
    from selfsynth.report.seeds import seed_config

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    params = load_params()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(params.dataset.name)
    base_acc = (0.40, 0.50, 0.60, 0.45, 0.55)
    for seed, acc in enumerate(base_acc):
        shift = {"ours": 0.05, "lge": 0.0, "nl": 0.02, "nofilter": 0.09}
        cs_sign = 1 if seed % 2 else -1
        for method in ("base", *METHODS):
            with mlflow.start_run():
                mlflow.set_tags({"kind": "method", "method": method, "seed": str(seed),
                                 "config": seed_config(params, seed), "cpu": f"cpu-{seed % 2}"})
                for rnd in ([0] if method == "base" else range(1, params.last_round + 1)):
                    value = 0.0 if method == "base" else acc + shift[method] + 0.01 * rnd
                    cs = 0.5 + (0.1 * cs_sign if method == "ours" else 0.0)
                    mlflow.log_metrics({"accuracy": value, "EE": 0.5, "CS": cs, "grounding": 0.5}, step=rnd)
        with mlflow.start_run():  # the instrument stage's run: its checks and figures
            mlflow.set_tags({"stage": "instrument", "seed": str(seed), "config": seed_config(params, seed)})
            mlflow.log_metrics({"check.perception": 1.0, "attribute_probe.breast": 0.93, "attribute_probe.beak": 0.97,
                                "description_precision": 0.9})
        with mlflow.start_run():  # another configuration's run at the same seed is not counted
            mlflow.set_tags({"kind": "method", "method": "ours", "seed": str(seed), "config": "another"})
            mlflow.log_metrics({"accuracy": 0.0}, step=1)

    assert main(["seeds-report", "--out", str(tmp_path / "reports")]) == 0
    table = (tmp_path / "reports/table1-seeds.md").read_text()
    assert "seeds 0, 1, 2, 3, 4" in table
    k = params.last_round
    row = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    assert [row[str(s)].split(" | ")[-4:] for s in range(2)] == [["none", "0.9300 (breast)", "0.9000", "cpu-0 |"],
                                                                 ["none", "0.9300 (breast)", "0.9000", "cpu-1 |"]]
    assert "| +12.0 | 5.0 [5.0, 5.0] | 5 of 5 |" in row[f"ours above L+GE on accuracy (round {k})"]
    assert row[f"ours above L+GE on accuracy (round {k})"].endswith("| holds | **holds** |")
    assert row[f"ours above NL on CS (round {k}): NL cites no feature, so its CS is 0"].endswith("| sanity check: undecided | "
                                                                                              "**sanity check: undecided** |")
    assert row[f"ours above w/o filtering on accuracy (round {k})"].endswith("| does not hold | **does not hold** |")
    assert "0 of 5" in row[f"ours above w/o filtering on accuracy (round {k})"]
    assert (tmp_path / "reports/accuracy-seeds.png").stat().st_size > 5_000
    assert main(["seeds-report", "--min-seeds", "6", "--out", str(tmp_path / "r2")]) == 1

    # the figures are saved as data: a fresh MLflow store (another machine) still has every seed
    saved = tmp_path / "reports/seeds.json"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/fresh.db")
    (tmp_path / "reports/table1-seeds.md").unlink()
    assert main(["seeds-report", "--out", str(tmp_path / "reports")]) == 0
    assert (tmp_path / "reports/table1-seeds.md").read_text() == table
    assert json.loads(saved.read_text())["config"] == params_key(params, ("seed",))


def test_study_level_ablations_are_compared_with_the_workspace_study(tmp_path, monkeypatch):
    """Each ablation is found by its DVC experiment name, its change is read from its logged params,
    and it is compared with the workspace's study at the last round both reached."""
    from selfsynth.core.params import parse_params
    from selfsynth.cli import main
    from selfsynth.tracking import method_run

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    ablated = yaml.safe_load((tmp_path / "params.yaml").read_text())
    ablated["select"]["beta"] = 0.0
    for key in ("rounds", "resample"):
        ablated[key] = {k: v for k, v in ablated[key].items() if v["round"] <= 2}

    def log(params, exp_name, acc):
        monkeypatch.setenv("DVC_EXP_NAME", exp_name)
        for method in ("base", *METHODS):
            with method_run(params, method) as mlf:
                for rnd in ([0] if method == "base" else range(1, params.last_round + 1)):
                    mlf.log_metrics({"accuracy": 0.0 if method == "base" else acc + 0.01 * rnd, "CS": 0.3, "EE": 0.8},
                                    step=rnd)

    log(parse_params(raw, "params.yaml"), "", 0.40)
    log(parse_params(ablated, "ablated"), "beta-0", 0.50)
    monkeypatch.delenv("DVC_EXP_NAME")

    assert main(["ablations-report", "--out", str(tmp_path / "reports")]) == 0
    table = (tmp_path / "reports/ablations-study.md").read_text()
    assert "compared at round 2" in table
    # ours: baseline 40 + 2 = 42.0 at round 2; the ablation 52.0, ten points above
    assert "| baseline (workspace) | — | 41.0 | 42.0 | 42.0 | 42.0 | 42.0 | 0.300 | 0.80 |" in table
    assert "| beta-0 | select.beta=0.0, rounds 1..2 | 51.0 (+10.0) | 52.0 (+10.0) |" in table
    assert (tmp_path / "reports/ablations-study.png").stat().st_size > 5_000
    assert main(["ablations-report", "--names", "beta-7", "--out", str(tmp_path / "r2")]) == 1


def test_the_queue_runs_every_experiment_and_dvc_exp_show_lists_them(tmp_path, monkeypatch):
    """The real `dvc queue` on a one-stage project: queued, run to the end (a worker holding the
    queue-start output must not stall it), and listed by name with its param."""
    from selfsynth import experiments as ex

    (tmp_path / "params.yaml").write_text("x: 0\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"square": {
        "cmd": "python -c \"import yaml; x = yaml.safe_load(open('params.yaml'))['x']; open('out.txt', 'w').write(str(x * x))\"",
        "params": ["x"], "outs": ["out.txt"]}}}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("PATH", f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"],
                ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(cmd, check=True, env=ex.environment(), capture_output=True)
    ex.queue({"sq-2": ["x=2"], "sq-3": ["x=3"]}, [], dry=False)
    ex.run_queue(jobs=1, dry=False, poll=1.0)
    shown = ex.dvc("exp", "show", "--csv", "--no-pager")
    rows = {row["Experiment"]: row for row in csv.DictReader(io.StringIO(shown))}
    assert {"sq-2", "sq-3"} <= set(rows)
    assert rows["sq-2"]["x"] == "2" and rows["sq-3"]["x"] == "3"


def test_a_queued_experiment_logs_into_the_workspace_store(tmp_path, monkeypatch):
    """Queued runs execute in a throwaway copy of the repo; their MLflow runs must still land in
    the workspace's `sqlite:///mlflow.db` (params.yaml's default), artifacts beside it."""
    from selfsynth import experiments as ex

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    probe = ("from selfsynth.core.params import load_params; from selfsynth.tracking import mlflow_run\n"
             "with mlflow_run(load_params(), 'probe') as mlflow: mlflow.log_text('hi', 'probe.txt')\n"
             "open('out.txt', 'w').write('done')")
    (tmp_path / "probe.py").write_text(probe)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"probe": {
        "cmd": "python probe.py", "deps": ["probe.py"], "params": ["select.beta"], "outs": ["out.txt"]}}}))
    (tmp_path / ".gitignore").write_text("/mlflow.db\n/mlartifacts/\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PATH", f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"],
                ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(cmd, check=True, env=ex.environment(), capture_output=True)
    ex.queue({"beta-0.8": ["select.beta=0.8"]}, [], dry=False)
    ex.run_queue(jobs=1, dry=False, poll=1.0)

    import mlflow
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list", order_by=["tags.kind"])
    # the probe's stage run and its study's parent run
    assert [(r.data.tags["kind"], r.data.tags["dvc_exp"], r.data.params["select.beta"]) for r in runs] == \
        [("stage", "beta-0.8", "0.8"), ("study", "beta-0.8", "0.8")]
    artifacts = runs[0].info.artifact_uri.removeprefix("file://")
    assert Path(artifacts).is_relative_to(tmp_path / "mlartifacts") and (Path(artifacts) / "probe.txt").exists()
    assert not list((tmp_path / ".dvc").rglob("mlflow.db")), "a run went into the temporary copy"


def test_a_relative_store_names_a_path_under_the_repository_root():
    from selfsynth.tracking import resolve_store

    root = Path("/study")
    assert resolve_store("sqlite:///mlflow.db", root) == "sqlite:////study/mlflow.db"
    assert resolve_store("sqlite:////abs/m.db", root) == "sqlite:////abs/m.db"
    assert resolve_store("mlruns", root) == "/study/mlruns"
    assert resolve_store("http://127.0.0.1:5000", root) == "http://127.0.0.1:5000"


def test_a_worker_that_stops_with_experiments_queued_is_started_again(monkeypatch):
    """Seen twice in a seeds run: the worker took a stale shutdown message and left seeds queued."""
    import selfsynth.experiments as ex

    queued = "e14ad0c  seed-7  10:07 PM   Queued\n\nWorker status: 0 active, 0 idle\n"
    running = "e14ad0c  seed-7  10:07 PM   Running\n\nWorker status: 1 active, 0 idle\n"
    done = "e14ad0c  seed-7  10:07 PM   Success\n"
    statuses = iter([queued, running, queued, queued, running, done, done])
    calls = []
    monkeypatch.setattr(ex, "dvc", lambda *a, **k: calls.append(a) or (next(statuses) if a[:2] == ("queue", "status") else ""))
    ex.run_queue(jobs=1, dry=False, poll=0.0)
    starts = [a for a in calls if a[:2] == ("queue", "start")]
    assert len(starts) == 2  # the first start, and one restart after two stopped polls in a row (not one)
