"""Shared fixtures: a micro project in a temporary directory, run exactly as a user runs it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfsynth.core.offline import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]
OFFLINE = OFFLINE_ENV
os.environ.update(OFFLINE)
DVC = str(Path(sys.executable).parent / "dvc")  # the venv's dvc, whatever PATH says


def micro_params() -> dict:
    """The repo's params.yaml shrunk to the micro world and a few training steps."""
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["world"]["size"] = "micro"
    p["base"]["vision_pretrain"]["epochs"] = 2
    p["base"]["train"]["epochs"] = 1
    p["base"]["train"]["batch_size"] = 16
    p["eval_base"]["max_images"] = 8
    p["eval_base"]["generation"]["max_new_tokens"] = 24
    p["describe"].update(prompts=2, samples=3, max_new_tokens=24, batch_size=4)  # 16 images: 2 shards of 2 batches
    p["synthesize"]["pairs_per_image"] = 2
    p["train"].update(epochs=1, batch_size=8)
    p["train"]["convergence"].update(max_epochs=2, patience=1)
    p["world"]["test_per_class"] = None
    p["rejection"].update(questions=2, samples=2, max_new_tokens=24, batch_size=8)  # 32 questions: 2 shards a method
    p["rounds"] = {f"round-{r}": {"round": r, "after": r - 1} for r in (1, 2)}  # K = 2: one rejection-sampling round
    p["resample"] = {"round-2": {"round": 2, "after": 1}}
    p["select"]["sweep"].update(betas=[0.0, 0.4], per_image=[1, 3])
    p["evaluate"].update(max_images=6, max_new_tokens=24)
    return p


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(root: Path, params: dict | None = None, dvc: bool = False) -> Path:
    """A copy of the pipeline (stages, dvc.yaml, params) that imports the installed library."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "stages", root / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(REPO / ".dvcignore", root / ".dvcignore")  # bytecode caches are not code: no rerun on a new .pyc
    shutil.copytree(REPO / "prompts", root / "prompts")
    shutil.copytree(REPO / "concepts", root / "concepts")  # the concepts stage's folder of concept lists
    (root / "reports").mkdir(exist_ok=True)
    shutil.copy(REPO / "reports/seeds.json", root / "reports/seeds.json")  # the report stage's seeds verdict (a dep)
    write_params(root, params or micro_params())
    if dvc:
        # dvc.yaml lists library folders as dependencies: link them so hashes are real
        os.symlink(REPO / "selfsynth", root / "selfsynth")
        for cmd in (["git", "init", "-q"], [DVC, "init", "-q"], [DVC, "config", "core.analytics", "false"],
                    [DVC, "config", "core.check_update", "false"]):
            subprocess.run(cmd, cwd=root, check=True, env={**os.environ, **OFFLINE})
    return root


def library_path(root: Path) -> str:
    """The project copy first, then this checkout's library: not whichever checkout the venv's
    editable install points at (several worktrees share one venv)."""
    return os.pathsep.join([str(root), str(REPO)])


def stage_env(root: Path) -> dict:
    """The environment a stage of the project at root runs in: offline, its own library first, its own store."""
    return {**os.environ, **OFFLINE, "PYTHONPATH": library_path(root), "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}


def run_stage(root: Path, name: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=root, env=stage_env(root), capture_output=True,
                          text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"stage {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def dvc_env(root: Path, shell: str = "/bin/sh") -> dict:
    """dvc runs each stage in $SHELL; CI has none set, so dvc falls back to /bin/sh (dash on
    Debian, which stays between dvc and the stage, where bash execs the command)."""
    return {**os.environ, **OFFLINE, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db", "SHELL": shell,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def dvc(root: Path, *args: str) -> str:
    proc = subprocess.run([DVC, *args], cwd=root, env=dvc_env(root), capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def micro_project(tmp_path_factory) -> tuple[Path, str]:
    """The whole pipeline on the micro world through `dvc repro`, once per test session."""
    root = make_project(tmp_path_factory.mktemp("micro"), dvc=True)
    return root, dvc(root, "repro")
