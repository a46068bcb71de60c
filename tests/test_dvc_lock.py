"""The committed dvc.lock is in step with the committed code: on a clean checkout, DVC finds no
stage whose code, params or command changed since the lock was written, and the lock holds an
entry for exactly the stages dvc.yaml declares. (Data deps and outputs are not in git: a clean
checkout lacks them, which is not drift.)"""
from __future__ import annotations

import json
import os
import subprocess

import yaml

from tests.conftest import DVC, OFFLINE, REPO


def git_tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = {f for f in out.splitlines() if not f.endswith(".gitignore")}  # DVC's own, inside data folders
    return files | {"/".join(f.split("/")[:i]) for f in files for i in range(1, f.count("/") + 1)}


def dvc_json(*args: str):
    proc = subprocess.run([DVC, *args], cwd=REPO, capture_output=True, text=True, env={**os.environ, **OFFLINE})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def drift(status: dict, tracked: set[str]) -> list[str]:
    """The changes that code or params explain: what `dvc repro` would rerun on a clean checkout
    with every data dep in place."""
    found = []
    for stage, changes in status.items():
        for change in changes:
            if isinstance(change, str):  # "changed command"; "always changed" is declared, not drift
                if change != "always changed":
                    found.append(f"{stage}: {change}")
                continue
            for path, what in change.get("changed deps", {}).items():
                if isinstance(what, dict):  # params: {key: modified|new|deleted}
                    found.append(f"{stage}: params {sorted(what)} {set(what.values())}")
                elif path in tracked:
                    found.append(f"{stage}: {path} {what}")
    return found


def test_no_stage_has_changed_code_params_or_command_since_the_lock():
    status = json.loads(dvc_json("status", "--json") or "{}")
    assert drift(status, git_tracked()) == [], "dvc.lock is stale: run the study (`dvc repro`) and commit dvc.lock"


def test_the_lock_has_exactly_the_stages_of_the_pipeline():
    declared = set(dvc_json("stage", "list", "--name-only").split())
    locked = set(yaml.safe_load((REPO / "dvc.lock").read_text())["stages"])
    assert locked - declared == set(), "dvc.lock keeps stages that no longer exist"
    assert declared - locked == set(), "stages never run into dvc.lock"


def test_drift_names_changed_code_and_params_but_not_missing_data():
    status = {"concepts": [{"changed deps": {"selfsynth/llm_client.py": "modified", "data/dataset": "deleted"}},
                           {"changed outs": {"data/concepts.json": "not in cache"}}],
              "select": [{"changed deps": {"params.yaml": {"select.beta": "modified"}}}],
              "train": ["changed command"]}
    assert drift(status, {"selfsynth", "selfsynth/llm_client.py"}) == [
        "concepts: selfsynth/llm_client.py modified", "select: params ['select.beta'] {'modified'}",
        "train: changed command"]
