"""Pretrain the tiny LLaVA on the world's generic corpus: it learns to describe, never to identify.

Two stages, as LLaVA's parts were made: (A) the CLIP tower learns to see the parts, (B) with
the tower frozen, projector and decoder learn to describe and answer attribute questions.
"""
from __future__ import annotations

import random

import torch

from ..core.io import atomic_path
from ..core.params import Params
from ..dataset.prepared import PreparedDataset
from ..lmm.prompts import PromptSet
from ..lmm.tiny_llava import build_model, build_processor, train_tokenizer
from ..process.guard import limit_threads
from ..process.resume import Partial
from ..world.attributes import FAMILIES
from .sft import generic_examples, train
from .vision_pretrain import pretrain_vision


def tokenizer_corpus(dataset: PreparedDataset, prompts: PromptSet) -> list[str]:
    """Everything the pipeline will say in this world: corpus, prompts, concept lines, species names."""
    texts = ["USER: ASSISTANT:", prompts.identify, *prompts.describe, *prompts.simple, *prompts.explain, *prompts.cot]
    texts += [ex["prompt"] + " " + ex["answer"] for g in dataset.generic for ex in g["examples"]]
    texts += [c for f in FAMILIES for v in f.values for c in v.concepts]
    texts += [f"This is an image of a {name}." for name in dataset.class_names]
    return texts


def pretrain_base_model(params: Params, dataset: PreparedDataset, prompts: PromptSet, partial: Partial):
    """Stage A's tower and stage B's checkpoints are kept in `partial`: a killed run goes on from them."""
    p = params.base
    tokenizer = train_tokenizer(tokenizer_corpus(dataset, prompts), p.text.vocab_size)
    processor = build_processor(tokenizer, params.world.image_size, p.vision.patch_size)
    model = build_model(p, tokenizer, params.world.image_size)
    corpus = [g for g in dataset.generic if g["split"] == "train"]

    seen = partial.dir / "stage-a.pt"
    if seen.is_file():
        kept = torch.load(seen)
        model.load_state_dict(kept["model"])
        vision_accuracy = kept["vision_accuracy"]
    else:
        vision_accuracy = pretrain_vision(model, processor.image_processor, corpus,
                                          [str(dataset.image(g)) for g in corpus], epochs=p.vision_pretrain.epochs,
                                          batch_size=p.vision_pretrain.batch_size, lr=p.vision_pretrain.lr,
                                          seed=params.world.seed, shift=p.vision_pretrain.shift)
        with atomic_path(seen) as tmp:
            torch.save({"model": model.state_dict(), "vision_accuracy": vision_accuracy}, tmp)
    model.model.vision_tower.requires_grad_(False)
    # stage B computes alone in the study, so it takes every worker's threads, still a number set by the params and
    # not by the cores: on an AMD EPYC 2 threads gave it 0.67x the time per step and the same bytes as 1
    # (benchmarks/threads.py); stage A keeps params.threads, as the tower's training came out different at 2
    limit_threads(params.workers * params.threads)

    examples = generic_examples(dataset)
    random.Random(params.world.seed).shuffle(examples)
    model, history = train(model, processor, examples, out_dir=partial.checkpoints("stage-b"), epochs=p.train.epochs,
                           batch_size=p.train.batch_size, lr=p.train.lr, warmup_steps=p.train.warmup_steps,
                           weight_decay=p.train.weight_decay, seed=params.world.seed, logging_steps=20,
                           desc="train base (round 0)", loader_workers=min(1, params.workers - 1),
                           save_steps=params.resume.save_steps)
    model.model.vision_tower.requires_grad_(True)
    return model, processor, history, vision_accuracy
