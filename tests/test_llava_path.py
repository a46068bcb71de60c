"""The paper's path — llava-1.5 on CUB — through `dvc repro` to round 2, on a llava-1.5-7b-hf-shaped
checkpoint built offline (selfsynth.lmm.llava15: 336 px, patch 14, CLS dropped, <image> at 32000,
tiny widths, random weights). Every test before this one used the project's own tiny model, whose
processor, image size and template are the project's; these checks are the traps of the real one:
576 image tokens per image, a round-1 folder whose saved processor must still count them for round
2, and an adapter that must change the model it is put on."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from selfsynth.lmm.llava15 import IMAGE_TOKEN_ID, IMAGE_TOKENS, PROCESSOR_FIELDS, build
from tests.conftest import OFFLINE, dvc, make_project
from tests.test_real_datasets import cub_with_attributes, real_params


def cub_llava_params(data: Path, base: Path) -> dict:
    """README "CUB-200 with llava-1.5-7b-hf", shrunk: few samples, short answers; hf backend (no GPU)."""
    p = real_params("cub200", data, base=base, source="cub_attributes", threshold=50.0, max_per_class=15)
    p["workers"] = 1
    p["eval_base"].update(max_images=2, generation={"batch_size": 4, "max_new_tokens": 6})
    p["describe"].update(prompts=2, samples=2, max_new_tokens=8, batch_size=8, backend="hf")
    p["select"].update(encoder="minilm", sweep={"betas": [0.4], "encoders": [], "per_image": [1]})
    p["synthesize"].update(pairs_per_image=2, writer="lmm", max_new_tokens=8, batch_size=8, backend="hf")
    p["train"].update(lora={**p["train"]["lora"], "r": 128, "alpha": 256, "dropout": 0.05, "train_new_tokens": False},
                      epochs=1, later_epochs=1, batch_size=4, lr=1e-3, general_mix=0.0)  # lr: visible in 2 steps
    p["rejection"].update(questions=1, samples=2, max_new_tokens=8, batch_size=8, backend="hf")
    p["evaluate"].update(max_images=2, max_new_tokens=8, batch_size=4, backend="hf", judge="offline")
    return p


def test_the_full_shape_is_llava_15_7b_and_the_tiny_one_shares_its_processing(tmp_path):
    """--full (built on the meta device: no memory) has llava-1.5-7b-hf's 7,063,427,072 parameters;
    the tiny checkpoint keeps every field that decides processing."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from selfsynth.lmm.llava15 import FULL, llava15_config

    with torch.device("meta"):
        full = LlavaForConditionalGeneration(llava15_config(FULL))
    assert sum(p.numel() for p in full.parameters()) == 7_063_427_072
    tiny = build(tmp_path / "tiny")
    config = json.loads((tiny / "config.json").read_text())
    assert {k: config[k] for k in ("image_token_index", "pad_token_id", "vision_feature_layer", "projector_hidden_act",
                                   "vision_feature_select_strategy", "image_seq_length")} == \
        {"image_token_index": 32000, "pad_token_id": 32001, "vision_feature_layer": -2, "projector_hidden_act": "gelu",
         "vision_feature_select_strategy": "default", "image_seq_length": 576}
    assert (config["vision_config"]["image_size"], config["vision_config"]["patch_size"]) == (336, 14)
    processor = AutoProcessor.from_pretrained(tiny)
    tok = processor.tokenizer
    assert [tok.convert_tokens_to_ids(t) for t in ("<unk>", "<s>", "</s>", "<image>", "<pad>")] == [0, 1, 2, 32000, 32001]
    assert processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi?"}]}],
                                         add_generation_prompt=True) == "USER: <image>\nHi? ASSISTANT:"
    ip = processor.image_processor
    assert (ip.crop_size["height"], ip.size["shortest_edge"], list(ip.image_mean)) == (336, 336, [0.48145466, 0.4578275, 0.40821073])


@pytest.fixture(scope="module")
def llava_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("llava15")
    base = build(tmp / "llava-1.5-7b-hf-tiny")
    root = make_project(tmp / "p", cub_llava_params(cub_with_attributes(tmp), base), dvc=True)
    return root, base, dvc(root, "repro", "evaluate@round-1", "evaluate@round-2")


def logits(model, processor, image: Path, text: str = "What is the name of this bird?"):
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}], add_generation_prompt=True)
    enc = processor(images=[Image.open(image).convert("RGB")], text=[prompt], return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)
    return enc, out


def test_round_two_runs_on_the_llava15_shape(llava_project):
    root, _, out = llava_project
    for stage in ("describe", "select", "synthesize", "train@round-1", "evaluate@round-1", "generate@round-2",
                  "rejection@round-2", "train@round-2", "evaluate@round-2"):
        assert f"Running stage '{stage}'" in out
    for method in ("nl", "lge", "ours", "nofilter"):
        m = json.loads((root / f"metrics/eval/round-2/{method}.json").read_text())
        assert m["n"] == 2 and m["general_ability"] is None
    cands = [json.loads(x) for x in (root / "data/rounds/round-2/candidates/ours.jsonl").read_text().splitlines()]
    assert cands and all(len(c["candidates"]) == 2 for c in cands)


def test_576_image_tokens_match_the_vision_features(llava_project):
    from selfsynth.lmm.load import load_lmm

    root, _, _ = llava_project
    image = next((root / "data/dataset").glob("manifest.jsonl")).read_text().splitlines()[0]
    model, processor = load_lmm(root / "models/round-2/ours/model")
    enc, out = logits(model, processor, Path(json.loads(image)["image"]))
    assert int((enc["input_ids"] == IMAGE_TOKEN_ID).sum()) == IMAGE_TOKENS == 576
    assert tuple(out.image_hidden_states.shape[:-1]) in {(576,), (1, 576)}


def test_each_round_saves_a_processor_that_still_counts_image_tokens(llava_project):
    root, _, _ = llava_project
    for rnd in (1, 2):
        saved = json.loads((root / f"models/round-{rnd}/ours/model/processor_config.json").read_text())
        assert {k: saved.get(k) for k in PROCESSOR_FIELDS} == PROCESSOR_FIELDS


def test_round_two_reads_round_ones_processor_and_names_a_broken_one(llava_project, tmp_path):
    """Break round 1's saved processor the way a save without the fields does: round 2's training
    must stop naming that file (it loads round 1's processor, not the base's)."""
    root, _, _ = llava_project
    project = tmp_path / "copy"
    shutil.copytree(root, project, symlinks=True, ignore=shutil.ignore_patterns(".dvc", ".git", "mlflow.db"))
    cfg = project / "models/round-1/ours/model/processor_config.json"
    saved = json.loads(cfg.read_text())
    for key in PROCESSOR_FIELDS:
        saved.pop(key)
    cfg.write_text(json.dumps(saved))
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(project), "MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db"}
    proc = subprocess.run([sys.executable, "-m", "stages.train", "2", "ours"], cwd=project, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "models/round-1/ours/model/processor_config.json: processor fields" in proc.stderr


def test_the_adapter_changes_the_model_and_loads_onto_the_base(llava_project):
    """The merged round-1 model differs from the base, and the saved adapter put back on the base
    reproduces it: its keys match the model's modules (a prefix mismatch loads and does nothing)."""
    from peft import PeftModel

    from selfsynth.lmm.load import load_lmm

    root, base, _ = llava_project
    image = Path(json.loads((root / "data/dataset/manifest.jsonl").read_text().splitlines()[0])["image"])
    base_model, processor = load_lmm(base)
    _, before = logits(base_model, processor, image)
    merged, _ = load_lmm(root / "models/round-1/ours/model")
    _, after = logits(merged, processor, image)
    assert (after.logits - before.logits).abs().max() > 1e-3
    before_w, after_w = base_model.state_dict(), merged.state_dict()
    changed = {k.split(".")[1] for k in after_w if not torch.equal(after_w[k], before_w[k])}
    assert changed == {"language_model", "multi_modal_projector"}  # LoRA merged into the LM, projector trained, tower frozen
    adapted = PeftModel.from_pretrained(load_lmm(base)[0], root / "models/round-1/ours/adapter").eval()
    _, again = logits(adapted, processor, image)
    torch.testing.assert_close(again.logits, after.logits, atol=1e-4, rtol=1e-4)


def test_the_adapter_exported_for_vllm_keeps_rank_128_and_only_placeable_keys(llava_project, tmp_path):
    """vLLM serves an adapter only if its rank fits max_lora_rank, it has no modules_to_save, and each
    key names a module of the model: every exported key, mapped back, is one of the HF model's modules."""
    from safetensors.torch import load_file

    from selfsynth.lmm.vllm_lora import AdapterExportError, export_for_vllm
    from selfsynth.lmm.load import load_lmm

    root, base, _ = llava_project
    adapter = root / "models/round-1/ours/adapter"
    info = export_for_vllm(adapter, tmp_path / "vllm")
    assert info["rank"] == 128 and info["modules"] == sorted(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                              "up_proj", "down_proj"])
    assert info["dropped"] and all("multi_modal_projector" in k for k in info["dropped"])
    cfg = json.loads((tmp_path / "vllm/adapter_config.json").read_text())
    assert cfg["r"] == 128 and cfg["modules_to_save"] is None and isinstance(cfg["target_modules"], list)
    exported = load_file(tmp_path / "vllm/adapter_model.safetensors")
    original = load_file(adapter / "adapter_model.safetensors")
    assert len(exported) == info["lora_tensors"] == len(original) - len(info["dropped"])
    modules = dict(load_lmm(base)[0].named_modules())
    for key, tensor in exported.items():
        hf = key.removeprefix("base_model.model.").replace("language_model.model.", "model.language_model.", 1)
        assert hf.rsplit(".lora_", 1)[0] in modules, key
        torch.testing.assert_close(tensor, original["base_model.model." + hf])

    from safetensors.torch import save_file
    bad = tmp_path / "bad"
    shutil.copytree(adapter, bad)
    save_file({**original, "base_model.model.model.vision_tower.x.lora_A.weight": torch.zeros(2, 2)},
              bad / "adapter_model.safetensors")
    with pytest.raises(AdapterExportError, match=r"bad/adapter_model.safetensors: key 'base_model.model.model.vision_tower"):
        export_for_vllm(bad, tmp_path / "bad-out")
