"""GPU runbook: what one CUB round of the paper's setting costs on llava-1.5-7b, through the project's code.

Builds the llava-1.5-7b-hf shape with random weights (`python -m selfsynth llava15 --full`), then measures
  describe   tokens/s of the describe step (3 prompts x 10 samples, T 1.0, 256 tokens) with the hf
             backend and with the vLLM backend (selfsynth.method.describe.describe_images on each backend);
  rejection  tokens/s of the candidates' sampling (T 0.7, top-p 0.6, 196 tokens) on vLLM;
  train      LoRA r 128 / alpha 256 step time and peak memory at the paper's batch 32, bf16, gradient
             checkpointing (selfsynth.training.lora.lora_config + selfsynth.training.sft.train);
  lora       the trained adapter put back on the base: HF (PEFT) and vLLM (max_lora_rank 128,
             selfsynth.lmm.vllm_lora.export_for_vllm) answers must differ from the base's;
and projects the GPU-minutes of a CUB round (5,994 training images) against the paper's 143.
Each phase runs in its own process, so one phase's GPU memory (a vLLM engine) never leaks into the next.

Usage: python benchmarks/gpu/llava15_round.py --out /scratch/llava-bench          # GPU, ~15-25 min
       python benchmarks/gpu/llava15_round.py --out /tmp/llava-bench --dry-run    # CPU: tiny model and config
       ... --phase train                                                          # one phase (reuses --out)
Random weights answer until max_new_tokens, so generation counts are upper bounds (real answers are shorter).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PAPER_ROUND_GPU_MINUTES = 143.0
CUB_TRAIN_IMAGES = 5994
PHASES = ("build", "describe-hf", "train", "describe-vllm", "lora-vllm")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class Config:
    full: bool
    images: int             # measured images (synthetic 500x375, CUB's typical size)
    describe_prompts: int   # paper 3
    describe_samples: int   # paper 10
    describe_tokens: int    # paper 256
    hf_batch: int           # images per HF generate call (x samples sequences)
    rejection_questions: int  # paper 8
    rejection_samples: int    # paper 3
    rejection_tokens: int     # paper 196
    synth_tokens: int         # synthesize.max_new_tokens (writer lmm)
    pairs_per_image: int      # paper 8
    epochs: int               # paper 2
    lora_r: int
    lora_alpha: int
    batch: int                # paper 32
    warm_steps: int
    steps: int
    lr: float
    grad_checkpointing: bool
    lora_check_tokens: int


PAPER = Config(full=True, images=16, describe_prompts=3, describe_samples=10, describe_tokens=256, hf_batch=8,
               rejection_questions=8, rejection_samples=3, rejection_tokens=196, synth_tokens=128, pairs_per_image=8,
               epochs=2, lora_r=128, lora_alpha=256, batch=32, warm_steps=2, steps=5, lr=1e-5,
               grad_checkpointing=True, lora_check_tokens=32)
DRY = Config(full=False, images=2, describe_prompts=1, describe_samples=2, describe_tokens=8, hf_batch=2,
             rejection_questions=1, rejection_samples=2, rejection_tokens=8, synth_tokens=8, pairs_per_image=8,
             epochs=2, lora_r=128, lora_alpha=256, batch=2, warm_steps=1, steps=2, lr=1e-3,
             grad_checkpointing=False, lora_check_tokens=8)


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def sync() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_memory_gib() -> dict:
    import torch
    if torch.cuda.is_available():
        return {"gpu_peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    return {"cpu_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def images(out: Path, n: int) -> list[str]:
    """Deterministic noise images at 500x375: the processor resizes and crops them to 336 as it would CUB's."""
    import numpy as np
    from PIL import Image

    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"{i:03d}.jpg"
        if not p.exists():
            Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def count_tokens(processor, texts: list[str], max_new_tokens: int) -> int:
    """Generated tokens, re-counted from the text (the backends return text), capped at max_new_tokens
    per answer: random weights emit the checkpoint's unused filler tokens, whose text re-tokenizes
    into many pieces; each answer was at most max_new_tokens tokens when generated."""
    return sum(min(len(ids), max_new_tokens)
               for ids in processor.tokenizer(texts, add_special_tokens=False)["input_ids"])


class BenchImages:
    """The two things describe_images asks of a dataset: an image's path, and no per-image truth."""
    has_world_truth = False

    def image(self, row: dict) -> str:
        return row["path"]


def describe_throughput(gen, processor, cfg: Config, paths: list[str]) -> dict:
    """selfsynth.method.describe.describe_images on `paths` at the paper's sampling; generated tokens per second."""
    from selfsynth.method.describe import describe_images
    from selfsynth.lmm.prompts import load_prompts

    prompts = load_prompts("cub200", REPO / "prompts").describe[: cfg.describe_prompts]
    p = SimpleNamespace(samples=cfg.describe_samples, temperature=1.0, top_p=1.0, max_new_tokens=cfg.describe_tokens)
    rows = [{"id": str(i), "path": x} for i, x in enumerate(paths)]
    sync()
    t = time.perf_counter()
    out, _ = describe_images(gen, BenchImages(), rows, prompts, p)
    sync()
    seconds = time.perf_counter() - t
    tokens = count_tokens(processor, [d["text"] for d in out], cfg.describe_tokens)
    return {"answers": len(out), "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "mean_tokens": tokens / max(1, len(out))}


def sampling_throughput(gen, processor, paths: list[str], questions: list[str], sampling) -> dict:
    sync()
    t = time.perf_counter()
    out = gen.generate(paths, questions, sampling, desc="bench")
    sync()
    seconds = time.perf_counter() - t
    texts = [x for xs in out for x in xs]
    tokens = count_tokens(processor, texts, sampling.max_new_tokens)
    return {"answers": len(texts), "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "mean_tokens": tokens / max(1, len(texts))}


# ------------------------------------------------------------------ phases (each in its own process)

def phase_build(cfg: Config, out: Path) -> dict:
    import torch

    from selfsynth.lmm.llava15 import build

    t = time.perf_counter()
    device = "cuda" if cfg.full and torch.cuda.is_available() else "cpu"
    build(out / "model", full=cfg.full, device=device)
    size = sum(f.stat().st_size for f in (out / "model").iterdir()) / 2**30
    return {"seconds": time.perf_counter() - t, "size_gib": size, "full": cfg.full, "device": device}


def phase_describe_hf(cfg: Config, out: Path) -> dict:
    from selfsynth.lmm.backend import open_generator

    gen = open_generator("hf", out / "model", cfg.hf_batch, seed=0)
    return {**describe_throughput(gen, gen.processor, cfg, images(out, cfg.images)), **peak_memory_gib()}


def training_examples(cfg: Config, paths: list[str], n: int):
    """CUB-like pairs: a chain-of-thought question and a ~60-token answer naming features and a species."""
    from selfsynth.lmm.prompts import load_prompts
    from selfsynth.training.sft import Example

    p = load_prompts("cub200", REPO / "prompts")
    answer = ("The bird has a long hooked bill, dark brown upperparts, a white face ring, and long narrow wings "
              "held stiffly, with pale underparts and dark legs. These features identify it as a Black footed "
              "Albatross, a seabird of the North Pacific.")
    return [Example(paths[i % len(paths)], p.cot[i % len(p.cot)], answer) for i in range(n)]


def sequence_length(processor, example) -> int:
    """Tokens of one training example as the collator builds it (prompt, 576 image tokens, answer)."""
    from selfsynth.training.sft import collate
    return int(collate(processor, [example])["input_ids"].shape[1])


def phase_train(cfg: Config, out: Path) -> dict:
    """Step time by difference (warm_steps, then warm_steps + steps: setup cancels), peak memory,
    then the adapter put back on and taken off the base through HFGenerator."""
    import tempfile

    import torch
    from transformers import set_seed

    from selfsynth.lmm.hf import HFGenerator, Sampling
    from selfsynth.lmm.vllm_lora import export_for_vllm
    from selfsynth.lmm.load import load_lmm
    from peft import get_peft_model
    from selfsynth.training.lora import lora_config, trainable_summary
    from selfsynth.training.sft import CHECKPOINTING, train

    set_seed(0)
    model, processor = load_lmm(out / "model")
    # the adapter added here, not by SFTTrainer's peft_config: both timed runs train the same one
    model = get_peft_model(model, lora_config(cfg.lora_r, cfg.lora_alpha, 0.05, TARGETS))
    paths = images(out, max(cfg.images, 4))
    examples = training_examples(cfg, paths, cfg.batch * (2 * cfg.warm_steps + cfg.steps))
    extra = {CHECKPOINTING: cfg.grad_checkpointing}
    if cfg.grad_checkpointing:
        extra[f"{CHECKPOINTING}_kwargs"] = {"use_reentrant": False}
    times = []
    for steps in (cfg.warm_steps, cfg.warm_steps + cfg.steps):
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        with tempfile.TemporaryDirectory() as scratch:
            sync()
            t = time.perf_counter()
            model, hist = train(model, processor, examples, out_dir=Path(scratch), epochs=1, batch_size=cfg.batch,
                                lr=cfg.lr, warmup_steps=0.0, weight_decay=0.0, seed=0, logging_steps=1,
                                extra_args={**extra, "max_steps": steps})
            sync()
            times.append(time.perf_counter() - t)
        if hist.optimizer_steps != steps:
            raise RuntimeError(f"train: {hist.optimizer_steps} optimizer steps, expected {steps}")
    result = {"step_seconds": (times[1] - times[0]) / cfg.steps, "first_run_seconds": times[0],
              "batch": cfg.batch, "r": cfg.lora_r, "grad_checkpointing": cfg.grad_checkpointing,
              "seq_len": sequence_length(processor, examples[0]),
              **trainable_summary(model), **peak_memory_gib()}
    model.save_pretrained(out / "adapter")
    result["vllm_export"] = {k: v for k, v in export_for_vllm(out / "adapter", out / "adapter-vllm").items()
                             if k != "dropped"}

    gen = HFGenerator(model, processor, batch_size=cfg.hf_batch, seed=0)
    qs = [examples[i].prompt for i in range(len(paths))]
    greedy = Sampling(max_new_tokens=cfg.lora_check_tokens)
    adapted = gen.generate(paths, qs, greedy)
    with model.disable_adapter():
        base = gen.generate(paths, qs, greedy)
    result["hf_lora_answers_differ"] = sum(a != b for a, b in zip(adapted, base))
    result["hf_lora_answers"] = len(base)
    return result


def vllm_missing() -> str | None:
    import importlib.util
    import torch
    if importlib.util.find_spec("vllm") is None:
        return "vllm not installed (pip install '.[vllm]')"
    if not torch.cuda.is_available():
        return "no GPU"
    return None


def phase_describe_vllm(cfg: Config, out: Path) -> dict:
    """The project's vLLM backend as the describe and generate stages open it (open_generator)."""
    if (why := vllm_missing()):
        return {"skipped": why}
    from selfsynth.lmm.backend import open_generator
    from selfsynth.lmm.hf import Sampling
    from selfsynth.lmm.prompts import load_prompts

    gen = open_generator("vllm", out / "model", cfg.hf_batch, seed=0)
    paths = images(out, cfg.images)
    describe = describe_throughput(gen, gen.processor, cfg, paths)
    p = load_prompts("cub200", REPO / "prompts")
    qs = [(p.explain + p.cot)[i % len(p.explain + p.cot)] for i in range(len(paths) * cfg.rejection_questions)]
    rejection = sampling_throughput(gen, gen.processor, [x for x in paths for _ in range(cfg.rejection_questions)], qs,
                                    Sampling(n=cfg.rejection_samples, temperature=0.7, top_p=0.6,
                                             max_new_tokens=cfg.rejection_tokens))
    return {"describe": describe, "rejection": rejection}


def phase_lora_vllm(cfg: Config, out: Path) -> dict:
    """The exported r-128 adapter on vLLM (max_lora_rank read from it): greedy answers with and without it."""
    if (why := vllm_missing()):
        return {"skipped": why}
    from selfsynth.lmm.hf import Sampling
    from selfsynth.lmm.vllm_backend import VLLMGenerator
    from selfsynth.lmm.vllm_lora import adapter_rank

    rank = adapter_rank(out / "adapter-vllm")  # 128: vLLM's default max_lora_rank (16) would refuse it
    gen = VLLMGenerator(out / "model", seed=0, lora_dir=out / "adapter-vllm", max_lora_rank=rank, max_loras=1)
    paths = images(out, cfg.images)
    qs = [load_q(i) for i in range(len(paths))]
    greedy = Sampling(max_new_tokens=cfg.lora_check_tokens)
    t = time.perf_counter()
    adapted = gen.generate(paths, qs, greedy)
    lora_seconds = time.perf_counter() - t
    request, gen.lora_request = gen.lora_request, None
    base = gen.generate(paths, qs, greedy)
    return {"max_lora_rank": rank, "lora_name": request.lora_name, "answers": len(base), "lora_seconds": lora_seconds,
            "answers_differ": sum(a != b for a, b in zip(adapted, base))}


def load_q(i: int) -> str:
    from selfsynth.lmm.prompts import load_prompts
    p = load_prompts("cub200", REPO / "prompts")
    return p.cot[i % len(p.cot)]


# ------------------------------------------------------------------ projection and driver

def project(cfg: Config, r: dict) -> dict:
    """GPU-minutes of one method's CUB round from the measured rates (generation at the measured mean
    answer length: max_new_tokens with random weights, an upper bound)."""
    vllm = r.get("describe-vllm", {})
    desc = vllm.get("describe") or r["describe-hf"]
    rej = vllm.get("rejection") or desc
    backend = "vllm" if "describe" in vllm else "hf (vLLM not measured)"
    n = CUB_TRAIN_IMAGES
    describe_tokens = n * 3 * 10 * min(desc["mean_tokens"] / cfg.describe_tokens, 1) * 256
    synth_tokens = n * 8 * min(rej["mean_tokens"] / cfg.rejection_tokens, 1) * 128
    rejection_tokens = n * 8 * 3 * min(rej["mean_tokens"] / cfg.rejection_tokens, 1) * 196
    steps = cfg.epochs * math.ceil(n * 8 / 32)
    step = r["train"]["step_seconds"] * (32 / cfg.batch)  # a dry run's small batch scaled to 32 (linear)
    m = {"describe": describe_tokens / desc["tokens_per_s"] / 60, "synthesize": synth_tokens / rej["tokens_per_s"] / 60,
         "rejection": rejection_tokens / rej["tokens_per_s"] / 60, "train": steps * step / 60}
    return {"backend": backend, "train_steps_per_round": steps,
            "round1_minutes": m["describe"] + m["synthesize"] + m["train"], "round_r_minutes": m["rejection"] + m["train"],
            "parts_minutes": m, "paper_round_minutes": PAPER_ROUND_GPU_MINUTES}


def run_phase(name: str, cfg: Config, out: Path) -> dict:
    fn = {"build": phase_build, "describe-hf": phase_describe_hf, "train": phase_train,
          "describe-vllm": phase_describe_vllm, "lora-vllm": phase_lora_vllm}[name]
    return fn(cfg, out)


def report(cfg: Config, r: dict) -> str:
    lines = [f"llava-1.5 runbook ({'full 7B shape' if cfg.full else 'DRY RUN: tiny shape on ' + r['build']['device']})",
             f"  build: {r['build']['size_gib']:.2f} GiB in {r['build']['seconds']:.1f} s"]
    for key in ("describe-hf",):
        d = r[key]
        lines.append(f"  describe, hf:   {d['tokens_per_s']:9.1f} tokens/s ({d['answers']} answers, {d['tokens']} tokens, "
                     f"{d['seconds']:.1f} s; " + ", ".join(f"{k} {v:.2f}" for k, v in d.items() if k.endswith("_gib")) + ")")
    v = r.get("describe-vllm", {})
    if "skipped" in v:
        lines.append(f"  describe, vllm: skipped: {v['skipped']}")
    else:
        for k in ("describe", "rejection"):
            lines.append(f"  {k}, vllm: {v[k]['tokens_per_s']:9.1f} tokens/s ({v[k]['answers']} answers, {v[k]['seconds']:.1f} s)")
    t = r["train"]
    mem = ", ".join(f"{k} {v:.2f}" for k, v in t.items() if k.endswith("_gib"))
    lines.append(f"  train LoRA r{t['r']}, batch {t['batch']}, seq {t['seq_len']}, grad ckpt {t['grad_checkpointing']}: "
                 f"{t['step_seconds']:.2f} s/step, {mem}; trainable {t['trainable_parameters']:,} of {t['total_parameters']:,}")
    lines.append(f"  adapter on HF (PEFT): {t['hf_lora_answers_differ']}/{t['hf_lora_answers']} greedy answers differ from the base; "
                 f"vLLM export: rank {t['vllm_export']['rank']}, {t['vllm_export']['lora_tensors']} LoRA tensors")
    lv = r.get("lora-vllm", {})
    lines.append(f"  adapter on vLLM: skipped: {lv['skipped']}" if "skipped" in lv else
                 f"  adapter on vLLM (max_lora_rank {lv['max_lora_rank']}): {lv['answers_differ']}/{lv['answers']} greedy answers differ")
    p = r["projection"]
    unit = "GPU-min" if cfg.full else "min of the tiny model on CPU"
    lines.append(f"  projected CUB round (5,994 images, one method, generation via {p['backend']}): "
                 f"round 1 {p['round1_minutes']:.1f} {unit}, rounds 2..K {p['round_r_minutes']:.1f} {unit} "
                 f"(paper: {p['paper_round_minutes']:.0f}); parts " +
                 ", ".join(f"{k} {v:.1f}" for k, v in p["parts_minutes"].items()))
    if not cfg.full:
        lines.append("  (dry run: numbers are the tiny model's on this machine, a plumbing check, not a measurement)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="working folder: model, images, adapter, results.json")
    ap.add_argument("--dry-run", "--small", action="store_true", dest="dry", help="tiny checkpoint and config, on CPU")
    ap.add_argument("--phase", choices=PHASES, help="run one phase here (the driver runs each in a child process)")
    a = ap.parse_args(argv)
    cfg = DRY if a.dry else PAPER
    a.out.mkdir(parents=True, exist_ok=True)
    if a.phase:
        result = run_phase(a.phase, cfg, a.out)
        (a.out / f"{a.phase}.json").write_text(json.dumps(result, indent=2))
        return
    results = {}
    for phase in PHASES:
        if phase == "build" and (a.out / "model/config.json").is_file() and (a.out / "build.json").is_file():
            log("build: reusing the model in --out")
        else:
            log(f"{phase} ...")
            cmd = [sys.executable, __file__, "--out", str(a.out), "--phase", phase] + (["--dry-run"] if a.dry else [])
            subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        results[phase] = json.loads((a.out / f"{phase}.json").read_text())
    results["projection"] = project(cfg, results)
    results["config"] = asdict(cfg)
    (a.out / "results.json").write_text(json.dumps(results, indent=2))
    print(report(cfg, results))


if __name__ == "__main__":
    main()
