"""Generation and evaluation stages under several processes (accelerate launch / torchrun set RANK
and WORLD_SIZE): refused before any work, with one message naming the stage, instead of every rank
generating the same samples and writing the same files."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from selfsynth.process.distributed import SeveralProcessesError, refuse_several_processes
from tests.conftest import OFFLINE, REPO

STAGES = [("describe", ()), ("synthesize", ()), ("generate", (2,)), ("evaluate", (1, ["ours"])), ("evaluate_base", ())]


@pytest.mark.parametrize("name, args", STAGES)
def test_a_generation_stage_refuses_several_ranks(name, args, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing to read here: a stage that started working would fail otherwise
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    stage = importlib.import_module(f"stages.{name}")
    with pytest.raises(SeveralProcessesError, match=rf"^stages\.{name}: runs as one process, but WORLD_SIZE=2 \(rank 1\)"):
        stage.main(*args)
    assert list(tmp_path.iterdir()) == []


def test_one_process_passes_and_the_launcher_sees_the_message(tmp_path):
    refuse_several_processes("stages.generate", {"WORLD_SIZE": "1", "RANK": "0"})
    refuse_several_processes("stages.generate", {})
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(REPO), "WORLD_SIZE": "4", "RANK": "0", "LOCAL_RANK": "0"}
    proc = subprocess.run([sys.executable, "-m", "stages.generate", "2"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "stages.generate: runs as one process, but WORLD_SIZE=4" in proc.stderr
    assert list(tmp_path.iterdir()) == []
