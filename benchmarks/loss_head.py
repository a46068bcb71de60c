"""Seconds per optimizer step of base pretraining with TRL's fused LM-head loss against the model's
own loss (transformers' Trainer.compute_loss), alternating, on a finished study's base model and
generic corpus: why sft.train keeps the model's own loss (the base stage grew from 724 s to 1095 s
with TRL's fused head).

    python benchmarks/loss_head.py [--steps 40] [--pairs 2]

Run it in a study's workspace (models/round-0 and data/dataset present), alone on the machine.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from trl import SFTTrainer

from selfsynth.core.layout import model_dir
from selfsynth.dataset.prepared import load_prepared
from selfsynth.lmm.load import load_lmm
from selfsynth.training import sft


def seconds_per_step(trainer_class, examples, steps: int, batch_size: int) -> float:
    model, processor = load_lmm(model_dir("base", 0))
    model.model.vision_tower.requires_grad_(False)  # as pretraining's stage B
    own, sft.SFTTrainerOwnLoss = sft.SFTTrainerOwnLoss, trainer_class
    try:
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            sft.train(model, processor, examples, out_dir=Path(scratch), epochs=1, batch_size=batch_size, lr=1e-4,
                      warmup_steps=0.05, weight_decay=0.0, seed=0, logging_steps=steps)
            return (time.perf_counter() - start) / steps
    finally:
        sft.SFTTrainerOwnLoss = own


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=2, help="alternating (fused, own) pairs")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as a study's worker (params.threads)
    examples = sft.generic_examples(load_prepared("data/dataset"))
    random.Random(0).shuffle(examples)
    examples = examples[:args.steps * args.batch_size]
    for _ in range(args.pairs):
        fused = seconds_per_step(SFTTrainer, examples, args.steps, args.batch_size)
        own = seconds_per_step(sft.SFTTrainerOwnLoss, examples, args.steps, args.batch_size)
        print(f"fused head {fused:.3f} s/step, own loss {own:.3f} s/step: {fused / own:.2f}x", flush=True)


if __name__ == "__main__":
    main()
