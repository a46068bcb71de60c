"""Seconds per optimizer step with random batches against length-grouped ones (transformers'
train_sampling_strategy), alternating, on a finished study's base model: base pretraining's generic
corpus and round 1's pairs of one method. Also the share of each batch that is padding. Why
sft.train groups by length.

    python benchmarks/batch_sampling.py [--steps 60] [--pairs 2] [--method ours]

Run it in a study's workspace (models/base, data/dataset and data/pairs present), alone on the machine.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch

from selfsynth.core.io import read_jsonl
from selfsynth.core.layout import DATASET, model_dir, pairs_path
from selfsynth.dataset.prepared import load_prepared
from selfsynth.lmm.load import load_lmm
from selfsynth.training import sft


def padding_share(examples, sampling: str, batch_size: int) -> float:
    """Padding's share of the token slots of one epoch's batches, as the trainer draws them."""
    _, processor = load_lmm(model_dir("base", 0))
    lengths = sft.prompt_completion(processor, examples).data.column("length").to_pylist()
    if sampling == "group_by_length":
        from transformers.trainer_pt_utils import LengthGroupedSampler
        order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=torch.Generator().manual_seed(0)))
    else:
        order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    batches = [[lengths[i] for i in order[s:s + batch_size]] for s in range(0, len(order), batch_size)]
    slots = sum(max(b) * len(b) for b in batches)
    return 1 - sum(map(sum, batches)) / slots


def seconds_per_step(examples, sampling: str, steps: int, batch_size: int, frozen_tower: bool) -> float:
    model, processor = load_lmm(model_dir("base", 0))
    if frozen_tower:  # as pretraining's stage B
        model.model.vision_tower.requires_grad_(False)
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        sft.train(model, processor, examples, out_dir=Path(scratch), epochs=1, batch_size=batch_size, lr=1e-4,
                  warmup_steps=0.05, weight_decay=0.0, seed=0, logging_steps=steps, sampling=sampling)
        return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=2, help="alternating (random, grouped) pairs")
    ap.add_argument("--method", default="ours", help="whose round-1 pairs")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as a study's worker (params.threads)
    dataset = load_prepared(DATASET)
    n = args.steps * args.batch_size
    corpus = sft.generic_examples(dataset)
    pairs = [sft.Example(str(dataset.root / x["image"]), x["question"], x["answer"])
             for x in read_jsonl(pairs_path(args.method, 1))]
    mixed = pairs + sft.general_examples(dataset, len(pairs) // 2, 0)  # train.general_mix 0.5
    for name, examples, frozen in (("base pretraining", corpus, True), (f"round 1, {args.method}", mixed, False)):
        random.Random(0).shuffle(examples)
        examples = examples[:n]
        pads = {s: padding_share(examples, s, args.batch_size) for s in ("random", "group_by_length")}
        print(f"{name}: padding {pads['random']:.0%} of token slots in random batches, "
              f"{pads['group_by_length']:.0%} grouped", flush=True)
        for _ in range(args.pairs):
            rand = seconds_per_step(examples, "random", args.steps, args.batch_size, frozen)
            grouped = seconds_per_step(examples, "group_by_length", args.steps, args.batch_size, frozen)
            print(f"{name}: random {rand:.3f} s/step, grouped {grouped:.3f} s/step: {grouped / rand:.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
