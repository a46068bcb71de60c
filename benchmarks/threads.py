"""Seconds per optimizer step at 1 and at 2 torch threads, alternating, and whether the two give
the same losses and weights bit for bit: base pretraining's stage B (the base model, the generic
corpus), or with --lora round 1's LoRA training of `ours` (its pairs and the general mix, the train
stage's adapter). The base stage runs alone in one process while the study's machine has 2 cores,
and a training stage ends with one method alone: is the idle core worth a thread, and would it
change the bytes? (On an AMD EPYC, family 26 model 2: stage B 0.67x per step, identical bytes, so
it takes `workers x threads`; the tower's own training, stage A, came out different at 2 threads and
keeps `threads`. LoRA: identical losses and weights over 15 steps.)

    python benchmarks/threads.py [--steps 30] [--pairs 2] [--lora]

Run it in a study's workspace (models/round-0 and data/dataset present), alone on the machine.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from pathlib import Path

import torch

from selfsynth.core.io import read_jsonl
from selfsynth.core.layout import DATASET, model_dir, pairs_path
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import load_prepared
from selfsynth.lmm.load import load_lmm
from selfsynth.training import sft
from selfsynth.training.lora import lora_config, new_token_ids


def lora_setup(dataset) -> tuple[list, object]:
    """Round 1's examples of `ours` and the train stage's adapter config (stages/train.py's fit)."""
    p = load_params().train
    pairs = read_jsonl(pairs_path("ours", 1))
    _, processor = load_lmm(model_dir("ours", 0))
    names = [n for name in dataset.class_names for n in (name, " " + name)]
    tokens = new_token_ids(processor.tokenizer, [x["answer"] for x in pairs] + names,
                           [f"{ex.prompt} {ex.answer}" for ex in sft.generic_examples(dataset)])
    examples = [sft.Example(str(dataset.root / x["image"]), x["question"], x["answer"]) for x in pairs]
    examples += sft.general_examples(dataset, round(p.general_mix * len(examples)), seed=1)
    return examples, lora_config(p.lora.r, p.lora.alpha, p.lora.dropout, p.lora.targets, tokens)


def run(threads: int, examples, steps: int, batch_size: int, lora=None) -> tuple[float, list[float], str]:
    """Seconds per step, the loss of every step, and a hash of the trained weights."""
    torch.set_num_threads(threads)
    model, processor = load_lmm(model_dir("ours" if lora else "base", 0))
    if not lora:
        model.model.vision_tower.requires_grad_(False)  # as pretraining's stage B
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        model, history = sft.train(model, processor, examples, out_dir=Path(scratch), epochs=1, batch_size=batch_size,
                                   lr=1e-4, warmup_steps=0.05, weight_decay=0.0, seed=0, logging_steps=1,
                                   peft_config=lora)
        seconds = (time.perf_counter() - start) / steps
    digest = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        digest.update(name.encode() + p.detach().cpu().numpy().tobytes())
    return seconds, history.losses, digest.hexdigest()[:12]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=2, help="alternating (1 thread, 2 threads) pairs")
    ap.add_argument("--lora", action="store_true", help="round 1's LoRA training of `ours` instead of stage B")
    args = ap.parse_args()
    dataset = load_prepared(DATASET)
    examples, lora = lora_setup(dataset) if args.lora else (sft.generic_examples(dataset), None)
    random.Random(0).shuffle(examples)
    examples = examples[:args.steps * args.batch_size]
    for _ in range(args.pairs):
        one, one_losses, one_hash = run(1, examples, args.steps, args.batch_size, lora)
        two, two_losses, two_hash = run(2, examples, args.steps, args.batch_size, lora)
        same = one_losses == two_losses and one_hash == two_hash
        print(f"1 thread {one:.3f} s/step, 2 threads {two:.3f} s/step: {two / one:.2f}x; "
              f"losses and weights {'identical' if same else 'differ'} (weights {one_hash} / {two_hash}, "
              f"largest loss difference {max(abs(a - b) for a, b in zip(one_losses, two_losses)):.2e})", flush=True)


if __name__ == "__main__":
    main()
