"""A PEFT adapter from stages.train, rewritten so vLLM serves it — and serves it for real.

Why: the pipeline merges each round's adapter and serves the merged model, which needs no LoRA
support; serving the adapter itself (one base model, adapters per method) hits three traps that
fail silently or late: vLLM's `max_lora_rank` defaults to 16 (the paper's adapters are rank 128);
vLLM cannot load `modules_to_save` (the projector we train in full); and adapter keys under
transformers 5's prefix `model.language_model.` match no module of older loaders, which then load
the adapter and do nothing. The export keeps only the language model's LoRA A/B matrices under
llava-hf's original layout (`language_model.model.layers.N...`, which vLLM's Llava maps with or
without its checkpoint-name mapper) and refuses any key it cannot place, naming it.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..core.errors import InputError

PEFT_PREFIX = "base_model.model."
# transformers 5 (LlavaModel inside LlavaForConditionalGeneration) -> llava-hf's original layout
NEW_LM_PREFIX, LEGACY_LM_PREFIX = "model.language_model.", "language_model.model."
LORA_KEY = re.compile(r"^language_model\.model\.layers\.\d+\.(self_attn|mlp)\.(\w+)\.lora_[AB]\.weight$")


class AdapterExportError(ValueError, InputError):
    pass


def adapter_rank(adapter_dir: str | Path) -> int:
    cfg = Path(adapter_dir) / "adapter_config.json"
    try:
        c = json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AdapterExportError(f"{cfg}: cannot read the adapter config: {e}") from None
    return max([int(c["r"]), *map(int, (c.get("rank_pattern") or {}).values())])


def export_for_vllm(adapter_dir: str | Path, out_dir: str | Path) -> dict:
    """Write out_dir (adapter_config.json + adapter_model.safetensors) for vllm's LoRARequest; return
    {"rank", "modules", "lora_tensors", "dropped"} (dropped: the projector and any other full copies)."""
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise AdapterExportError(f"{weights}: no adapter weights")
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    kept, dropped, modules = {}, [], set()
    for key, tensor in load_file(weights).items():
        if ".lora_" not in key:
            dropped.append(key)  # modules_to_save (the projector), trainable token rows: vLLM cannot serve them
            continue
        name = key.removeprefix(PEFT_PREFIX)
        if name.startswith(NEW_LM_PREFIX):
            name = LEGACY_LM_PREFIX + name.removeprefix(NEW_LM_PREFIX)
        m = LORA_KEY.match(name)
        if m is None:
            raise AdapterExportError(f"{weights}: key {key!r} is not a LoRA weight of the language model's layers; "
                                     "vLLM would reject it or, worse, load it onto nothing")
        modules.add(m.group(2))
        kept[PEFT_PREFIX + name] = tensor.contiguous()
    if not kept:
        raise AdapterExportError(f"{weights}: no LoRA weights of the language model")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(kept, out_dir / "adapter_model.safetensors")
    cfg.update(target_modules=sorted(modules), modules_to_save=None, trainable_token_indices=None)
    (out_dir / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    for extra in ("README.md",):
        if (adapter_dir / extra).is_file():
            shutil.copy(adapter_dir / extra, out_dir / extra)
    return {"rank": adapter_rank(out_dir), "modules": sorted(modules), "lora_tensors": len(kept), "dropped": dropped}
