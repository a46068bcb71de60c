"""Several processes, one writer: a round trained by two ranks (torchrun on CPU, gloo) leaves one
model directory and one set of MLflow records, exactly like a single process."""
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from selfsynth.core.layout import METHODS
from selfsynth.lmm.load import check_llava_dir
from tests.conftest import OFFLINE


def test_two_ranks_train_a_round_and_only_rank_zero_writes(micro_project, tmp_path):
    root, _ = micro_project
    project = tmp_path / "ddp"
    shutil.copytree(root, project, symlinks=True, ignore=shutil.ignore_patterns(".dvc", ".git", "mlflow.db", "mlruns"))
    shutil.rmtree(project / "models/round-1/ours")
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db"}
    torchrun = str(Path(sys.executable).parent / "torchrun")
    proc = subprocess.run([torchrun, "--nproc_per_node", "2", "-m", "stages.train", "1", "ours"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    check_llava_dir(project / "models/round-1/ours/model")
    assert (project / "models/round-1/ours/adapter/adapter_config.json").is_file()
    assert sorted(p.name for p in (project / "models/round-1").iterdir()) == sorted(METHODS)  # no stray temp dir
    db = sqlite3.connect(project / "mlflow.db")
    kinds = sorted(k for (k,) in db.execute("select value from tags where key = 'kind'"))
    assert kinds == ["method", "study"]  # one method run, from rank 0, under its study's run

    def logged(key):
        return [v for (v,) in db.execute(f"select value from metrics where key = '{key}'")]

    assert len(logged("trainable.trainable_parameters")) == 1
    # the two ranks split each epoch: half the optimizer steps one process takes
    batch = yaml.safe_load((project / "params.yaml").read_text())["train"]["batch_size"]
    epochs = logged("train.epochs_used")
    assert len(epochs) == 1 and epochs[0] == int(epochs[0])
    assert logged("train.optimizer_steps") == [epochs[0] * math.ceil(logged("train.examples")[0] / (2 * batch))]
