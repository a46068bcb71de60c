"""Faults and bad input, injected into real stage processes on the micro world (issue 15).

A stage that dies takes its workers with it; the tracking store and every input are checked
before work; a seed gives one set of bytes whatever the core count; a failure ends with one
line saying so, and leaves no output behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import psutil
import yaml
import pytest

from selfsynth.core.io import atomic_path
from selfsynth.lmm.load import ModelDirError, load_lmm
from tests.conftest import DVC, dvc_env, make_project, micro_params, stage_env, write_params

TRAIN = ["train", "1", "nl", "lge", "ours", "nofilter"]


def env_for(root: Path, **extra) -> dict:
    env = stage_env(root)
    env.update({k: v for k, v in extra.items() if v is not None})
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
    return env


def stage(root: Path, *args: str, prefix: tuple = (), timeout: int = 180, **env) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", f"stages.{args[0]}", *args[1:]], cwd=root,
                          env=env_for(root, **env), capture_output=True, text=True, timeout=timeout)


def start(root: Path, *args: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"stages.{args[0]}", *args[1:]], cwd=root, env=env_for(root, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def copy(trained: Path, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    return root


def fails_once(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The stage failed, said so in its last line, named the cause, and printed one traceback at most."""
    err = proc.stderr
    assert proc.returncode != 0, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert "FAILED (exit" in last, err[-3000:]
    assert "finished in" not in err
    assert err.count("Traceback (most recent call last)") <= 1, err[-5000:]
    for needle in needles:
        assert needle in err, f"{needle!r} not in:\n{err[-3000:]}"
    return err


def digest(root: Path, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(pattern)) if p.is_file()}


def snapshot(root: Path) -> dict[str, str]:
    """Every output file (not the tracking store) and its hash."""
    return {k: v for k, v in digest(root, "**/*").items()
            if not k.startswith(("mlflow", "stages/", "prompts/", "concepts/", "params.yaml")) and "__pycache__" not in k}


def workers_of(proc: subprocess.Popen, n: int, within: float = 60) -> list[psutil.Process]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children()
        if len(kids) >= n:
            return kids
        time.sleep(0.1)
    raise AssertionError(f"no {n} workers within {within} s")


def child_running(pid: int, match: Callable[[list[str]], bool]) -> psutil.Process | None:
    """The first descendant of pid whose command line matches. A child can exit between the
    listing and the reading of its command line (dvc's short-lived git calls, a finished stage
    not yet reaped): it is skipped, not an error."""
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if match(child.cmdline()):
                return child
        except psutil.Error:  # gone, or a zombie
            continue
    return None


def gone(procs: list[psutil.Process], within: float = 10) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=within)
    return not alive


# -- the fixture: the micro study's inputs and round 1 (trained by the stage process, with the default
#    workers / threads), in a project of its own without DVC --

@pytest.fixture(scope="module")
def world(micro_project, tmp_path_factory):
    study, _ = micro_project
    root = make_project(tmp_path_factory.mktemp("faults"))
    for part in ("data", "models", "metrics"):
        shutil.copytree(study / part, root / part)
    return root


def slow_training(root: Path) -> dict:
    """Params under which round 1 trains for many seconds, so a signal lands mid-training however
    fast the machine (the micro round takes ~2 s); returns the original params to restore."""
    original = yaml.safe_load((root / "params.yaml").read_text())
    slow = yaml.safe_load((root / "params.yaml").read_text())
    slow["train"]["epochs"] = 200
    write_params(root, slow)
    return original


def rounds_written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "models").glob("*/round-1*"))


# -- processes: a stage that dies takes its workers with it --

def test_kill_9_of_a_stage_kills_its_workers_and_nothing_is_written_after(world, tmp_path):
    root = copy(world, tmp_path)
    reference = digest(root, "models/*/round-1/**/*.safetensors")
    shutil.rmtree(root / "models/round-1/nl"), shutil.rmtree(root / "models/round-1/lge")
    shutil.rmtree(root / "models/round-1/ours"), shutil.rmtree(root / "models/round-1/nofilter")
    original = slow_training(root)
    proc = start(root, *TRAIN)
    workers = workers_of(proc, 2)
    time.sleep(2)  # mid-training
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert gone(workers), "workers outlived their stage"
    time.sleep(3)  # the time a surviving worker took to write its model
    assert rounds_written(root) == []
    write_params(root, original)
    rerun = stage(root, *TRAIN)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert digest(root, "models/*/round-1/**/*.safetensors") == reference


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_stage_cancels_its_queue_and_exits_with_one_line(world, tmp_path, sig, code):
    root = copy(world, tmp_path)
    for m in ("nl", "lge", "ours", "nofilter"):
        shutil.rmtree(root / f"models/round-1/{m}")
    slow_training(root)
    proc = start(root, *TRAIN)
    workers = workers_of(proc, 2)
    time.sleep(1)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err[-3000:]
    assert gone(workers, 5), "a worker went on after the interrupt"
    assert f"FAILED (exit {code})" in err.strip().splitlines()[-1] and "finished in" not in err
    assert "Traceback" not in err  # an interrupt is not a crash
    time.sleep(3)
    assert rounds_written(root) == []  # no method trained and saved after the interrupt


# -- one seed, one set of bytes, whatever the core count --

def test_a_round_gives_the_same_bytes_alone_in_the_pool_and_on_one_core(world, tmp_path):
    in_pool = digest(world, "models/round-1/ours/**/*.safetensors")  # 4 methods, 2 workers
    root = copy(world, tmp_path)
    params = micro_params()
    params["workers"] = 1
    write_params(root, params)
    alone = stage(root, "train", "1", "ours")
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert digest(root, "models/round-1/ours/**/*.safetensors") == in_pool
    if hasattr(os, "sched_setaffinity") and shutil.which("taskset"):
        one_core = stage(root, "train", "1", "ours", prefix=("taskset", "-c", "0"))
        assert one_core.returncode == 0, one_core.stderr[-3000:]
        assert digest(root, "models/round-1/ours/**/*.safetensors") == in_pool


def test_workers_are_a_fixed_number_not_one_per_core():
    from selfsynth.core.params import ParamsError, parse_params

    params = micro_params()
    params["workers"] = 0
    with pytest.raises(ParamsError, match="workers"):
        parse_params(params)
    params.pop("workers"), params.pop("threads")
    assert (parse_params(params).workers, parse_params(params).threads) == (2, 1)


# -- tracking: checked with a real call before any work --

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broken(BaseHTTPRequestHandler):
    """Answers its health check, fails every API call."""

    def _reply(self):
        ok = self.path.startswith("/health")
        self.send_response(200 if ok else 500)
        self.end_headers()
        self.wfile.write(b"OK" if ok else b"internal error")

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def broken_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("name", ["unreachable", "erroring"])
def test_a_tracking_store_that_does_not_answer_stops_train_before_training(world, tmp_path, broken_server, name):
    root = copy(world, tmp_path)
    before = snapshot(root)
    uri = f"http://127.0.0.1:{free_port()}" if name == "unreachable" else broken_server
    t0 = time.monotonic()
    proc = stage(root, "train", "1", "ours", MLFLOW_TRACKING_URI=uri)
    assert time.monotonic() - t0 < 60
    fails_once(proc, "MLFLOW_TRACKING_URI", uri, "does not answer")
    assert "optimizer" not in proc.stderr and snapshot(root) == before


def test_a_sqlite_store_in_a_missing_folder_is_refused_by_key(world, tmp_path):
    root = copy(world, tmp_path)
    params = micro_params()
    params["tracking"]["uri"] = f"sqlite:///{tmp_path}/nonexistent/dir/mlflow.db"
    write_params(root, params)
    proc = stage(root, "select", MLFLOW_TRACKING_URI=None)
    fails_once(proc, "tracking.uri", "does not exist")
    assert not (tmp_path / "nonexistent").exists()


def test_a_run_left_running_by_a_killed_stage_ends_killed_at_the_next_start(world, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from selfsynth.core.params import load_params
    from selfsynth.process.preflight import stage_start

    root, cwd = copy(world, tmp_path), os.getcwd()
    uri = f"sqlite:///{root}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    dead = subprocess.Popen(["true"])
    dead.wait()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("aviary") or client.get_experiment(client.create_experiment("aviary"))
    run_id = client.create_run(experiment.experiment_id, tags={  # never ended: what SIGKILL leaves
        "selfsynth.host": socket.gethostname(), "selfsynth.pid": str(dead.pid)}).info.run_id
    assert client.get_run(run_id).info.status == "RUNNING"
    os.chdir(root)  # what a stage does first: the same call, in this process
    try:
        stage_start(load_params(), tracking=True)
    finally:
        os.chdir(cwd)
    assert client.get_run(run_id).info.status == "KILLED"


# -- models load strictly --

def test_a_model_whose_config_does_not_match_its_weights_is_refused_by_directory(world, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(world / "models/round-0", model)
    config = json.loads((model / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] += 1
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelDirError, match=f"{model}: config.json does not match the weights.*missing keys"):
        load_lmm(model)


# -- bad params: named by key, before work, nothing written --

@pytest.mark.parametrize("stage_args, edit, key", [
    (("select",), lambda p: p["select"]["sweep"].update(encoders=["/nowhere/encoder"]), "select.sweep.encoders.0"),
    (("select",), lambda p: p["select"]["sweep"].update(per_image=[0]), "select.sweep.per_image.0"),
    (("synthesize",), lambda p: p["synthesize"].update(mix={"simple": 0, "explain": 0, "cot": 0}), "synthesize.mix"),
    (("train", "1", "ours"), lambda p: p["train"]["lora"].update(targets=["q_projj"]), "train.lora.targets"),
    (("prepare",), lambda p: p["dataset"].update(name="avairy"), "dataset.name"),
])
def test_a_bad_param_is_named_before_work_and_nothing_is_written(world, tmp_path, stage_args, edit, key):
    root = copy(world, tmp_path)
    before = snapshot(root)
    params = micro_params()
    edit(params)
    write_params(root, params)
    t0 = time.monotonic()
    fails_once(stage(root, *stage_args), key)
    assert time.monotonic() - t0 < 40
    assert snapshot(root) == before


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("dvc") / "d", dvc=True)
    subprocess.run([DVC, "repro", "prepare"], cwd=root, env=dvc_env(root), check=True, capture_output=True)
    return root


def test_dvc_checks_params_before_it_deletes_any_output(dvc_project):
    """DVC removes a stage's outputs before its cmd runs: the `check` stage, upstream of every
    stage, stops `dvc repro` on a bad key while prepare's output is still in place."""
    root = dvc_project
    world_files = digest(root, "data/dataset/**/*")
    for key, edit in [("dataset.name", lambda p: p["dataset"].update(name="avairy")),
                      ("rounds", lambda p: p.update(rounds={"round-2": {"round": 2, "after": 5}}))]:
        params = micro_params()
        edit(params)
        write_params(root, params)
        proc = subprocess.run([DVC, "repro", "prepare"], cwd=root, env=dvc_env(root), capture_output=True, text=True)
        assert proc.returncode != 0
        assert f"params.yaml: {key}" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
        assert digest(root, "data/dataset/**/*") == world_files  # prepare's output is still there


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_killing_dvc_kills_the_stage_it_runs(dvc_project, shell):
    """Whatever shell dvc runs the stage in: one that stays in between (dash) or one that execs (bash)."""
    root = dvc_project
    write_params(root, micro_params())  # good params again, whatever the test before left
    proc = subprocess.Popen([DVC, "repro", "base"], cwd=root, env=dvc_env(root, shell),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, stage_proc = time.monotonic() + 120, None
        while stage_proc is None and time.monotonic() < deadline:
            stage_proc = child_running(proc.pid, lambda argv: "stages.base" in " ".join(argv))
            time.sleep(0.1)
        assert stage_proc is not None, "dvc never started the base stage"
        time.sleep(1)
    finally:  # a failure here must not leave dvc running, holding the project's lock for the next test
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert gone([stage_proc], 10), "the stage outlived the dvc that ran it"
    assert not (root / "models/round-0").exists()



def test_a_stage_whose_dvc_died_before_it_took_hold_stops_before_any_work(tmp_path):
    """The race behind a flaky kill test: dvc killed while the stage still imports torch, before
    the kernel ties the stage to dvc. Here the parent (a shell, not dvc) is gone by then."""
    marker = tmp_path / "written"
    code = ("import time; time.sleep(1.5)\n"
            "from selfsynth.process import guard; guard.install()\n"
            f"open({str(marker)!r}, 'w').write('work done by an orphan')\n")
    env = {**os.environ, "DVC_STAGE": "base", "PYTHONPATH": str(Path.cwd())}
    subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 &', code], env=env, check=True)
    time.sleep(6)
    assert not marker.exists(), "an orphaned stage went on working"

def test_a_stage_two_shells_below_dvc_runs_on_and_dies_with_dvc(tmp_path):
    """A stage command may itself go through a shell (`bash -c ...` inside dvc's /bin/sh): the
    stage finds dvc through both, keeps working while dvc lives, and dies when dvc is killed."""
    started, survived = tmp_path / "started", tmp_path / "survived"
    stage = tmp_path / "stage.py"
    stage.write_text("from selfsynth.process import guard; guard.install()\n"
                     f"open({str(started)!r}, 'w').close()\n"
                     "import time; time.sleep(20)\n"
                     f"open({str(survived)!r}, 'w').close()\n")
    # a stand-in for dvc (its command line names dvc) that runs the stage through two shells;
    # `; true` keeps each shell in between, as dash does
    command = f'bash -c "{sys.executable} {stage}; true"; true'
    fake_dvc = tmp_path / "dvc"
    fake_dvc.write_text(f"import subprocess\nsubprocess.run(['/bin/sh', '-c', {command!r}])\n")
    env = {**os.environ, "DVC_STAGE": "base", "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen([sys.executable, str(fake_dvc)], env=env)
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        assert proc.poll() is None, "the stage stopped though its dvc was alive"
        time.sleep(0.1)
    assert started.exists(), "the stage never started"
    time.sleep(2)
    stage_proc = child_running(proc.pid, lambda argv: str(stage) in argv)
    assert stage_proc is not None and stage_proc.is_running(), "the stage was stopped though its dvc was alive"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert gone([stage_proc], 10), "the stage outlived the dvc that ran it"
    assert not survived.exists()


# -- bad inputs: named by file, before work, nothing written --

def truncate_first_image(root: Path, split: str) -> Path:
    """Cut the first image of a split in half: it still opens, and fails when decoded."""
    row = next(r for r in map(json.loads, (root / "data/dataset/manifest.jsonl").read_text().splitlines())
               if r["split"] == split)
    path = root / "data/dataset" / row["image"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def truncate_first_test_image(root: Path) -> Path:
    return truncate_first_image(root, "test")


def truncate_first_train_image(root: Path) -> Path:
    return truncate_first_image(root, "train")


@pytest.mark.parametrize("stage_args, spoil", [
    (("generate", "2"), truncate_first_train_image),
    (("evaluate", "1", "nl"), truncate_first_test_image),
    (("evaluate_base",), truncate_first_test_image),
])
def test_a_truncated_image_is_named_before_work(world, tmp_path, stage_args, spoil):
    root = copy(world, tmp_path)
    bad = spoil(root)
    before = snapshot(root)
    fails_once(stage(root, *stage_args), f"{bad.name}: not a readable image")
    assert snapshot(root) == before


def test_a_manifest_row_without_label_name_is_named(world, tmp_path):
    root = copy(world, tmp_path)
    manifest = root / "data/dataset/manifest.jsonl"
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    del rows[2]["label_name"]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = snapshot(root)
    fails_once(stage(root, "synthesize"), "manifest.jsonl:3", "has no label_name")
    assert snapshot(root) == before


def test_a_concepts_file_with_an_empty_class_stops_synthesize(world, tmp_path):
    root = copy(world, tmp_path)
    concepts = json.loads((root / "data/concepts.json").read_text())
    concepts["1"]["visual_features"] = []
    (root / "data/concepts.json").write_text(json.dumps(concepts))
    before = snapshot(root)
    fails_once(stage(root, "synthesize"), "data/concepts.json: class 1", "has no visual_features")
    assert snapshot(root) == before


def test_a_failure_in_a_worker_prints_its_traceback_once_and_one_failed_line(world, tmp_path):
    root = copy(world, tmp_path)
    (root / "models/round-1/ours/model/model.safetensors").write_bytes(b"not weights")  # read by a worker
    err = fails_once(stage(root, "generate", "2"))
    assert "train" not in err.strip().splitlines()[-1] and "generate 2 FAILED (exit 1)" in err


def test_temporary_dirs_a_killed_writer_left_are_removed_by_the_next_write(tmp_path):
    stale = tmp_path / ".out.abc123"
    stale.mkdir()
    (stale / "half.txt").write_text("half")
    with atomic_path(tmp_path / "out", directory=True) as tmp:
        (tmp / "whole.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
