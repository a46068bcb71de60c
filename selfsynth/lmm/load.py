"""Load any LLaVA model directory (the tiny world model or llava-1.5-7b-hf) the same way."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration

from ..core.errors import InputError

SOURCE_FILE = "source.json"  # written by the base stage when it pins an external directory


class ModelDirError(ValueError, InputError):
    pass


def resolve_model_dir(path: str | Path) -> Path:
    """Follow a base stage's pin to an external model directory, if there is one."""
    path = Path(path)
    pin = path / SOURCE_FILE
    if pin.is_file():
        return Path(json.loads(pin.read_text())["path"])
    return path


def check_llava_dir(path: str | Path) -> Path:
    """Raise one clear error unless path holds a LLaVA model, its weights and its processor."""
    path = resolve_model_dir(path)
    if not path.is_dir():
        raise ModelDirError(f"{path}: model directory does not exist")
    config = path / "config.json"
    if not config.is_file():
        raise ModelDirError(f"{path}: not a model directory (no config.json)")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except json.JSONDecodeError as e:
        raise ModelDirError(f"{config}: not valid JSON: {e}") from None
    if model_type != "llava":
        raise ModelDirError(f"{path}: not a LLaVA model (config.json model_type is {model_type!r}, expected 'llava')")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ModelDirError(f"{path}: no weights (*.safetensors or *.bin)")
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer.model").is_file():
        raise ModelDirError(f"{path}: no tokenizer (tokenizer.json or tokenizer.model)")
    if not (path / "preprocessor_config.json").is_file() and not (path / "processor_config.json").is_file():
        raise ModelDirError(f"{path}: no image processor (preprocessor_config.json or processor_config.json)")
    from .llava15 import check_processor_dir

    try:  # a llava-1.5-shaped folder whose processor lost patch_size / strategy: named here, not as a shape error
        check_processor_dir(path)
    except ValueError as e:
        raise ModelDirError(str(e)) from None
    return path


def fingerprint(path: Path) -> str:
    """Hash of config and weight-file names and sizes: cheap enough for a 14 GB checkpoint."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            h.update(f.name.encode())
            h.update(str(f.stat().st_size).encode())
            if f.suffix == ".json":
                h.update(f.read_bytes())
    return h.hexdigest()


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_lmm(path: str | Path, device: torch.device | None = None):
    path = check_llava_dir(path)
    device = device or pick_device()
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    processor = AutoProcessor.from_pretrained(path)
    model, info = LlavaForConditionalGeneration.from_pretrained(path, dtype=dtype, output_loading_info=True)
    check_loading_info(path, info)
    return model.to(device), processor


def check_loading_info(path: Path, info: dict) -> None:
    """Weights and config must match exactly: a missing weight would be left random (config says
    3 layers, weights hold 2) and only logged, so the model would load and quietly be wrong."""
    problems = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        detail = "; ".join(f"{k.replace('_', ' ')}: {len(v)} (first: {v[0]})" for k, v in problems.items())
        raise ModelDirError(f"{path}: config.json does not match the weights ({detail})")
