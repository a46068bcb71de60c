"""The accelerate launch configs parse and carry the keys accelerate needs."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
EXPECTED = {"single_gpu.yaml": ("NO", 1), "multi_gpu.yaml": ("MULTI_GPU", None),
            "deepspeed_zero2.yaml": ("DEEPSPEED", None)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_config(name):
    cfg = yaml.safe_load((CONFIGS / name).read_text())
    for key in ("compute_environment", "distributed_type", "mixed_precision", "num_processes"):
        assert key in cfg, f"{name}: {key} missing"
    kind, procs = EXPECTED[name]
    assert cfg["compute_environment"] == "LOCAL_MACHINE"
    assert cfg["distributed_type"] == kind  # 'NO' must stay a string, not YAML's boolean
    assert cfg["mixed_precision"] == "bf16"
    assert isinstance(cfg["num_processes"], int) and cfg["num_processes"] >= 1
    if procs is not None:
        assert cfg["num_processes"] == procs
    if kind == "DEEPSPEED":
        assert cfg["deepspeed_config"]["zero_stage"] == 2


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_accepts_config(name):
    """accelerate's own loader takes every key (an unknown key would fail here)."""
    config_args = pytest.importorskip("accelerate.commands.config.config_args")
    cfg = config_args.load_config_from_file(str(CONFIGS / name))
    assert cfg.mixed_precision == "bf16"
