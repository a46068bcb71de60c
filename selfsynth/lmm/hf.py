"""Batched generation with transformers' generate (KV cache on), on CPU or GPU."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm import tqdm

from ..dataset.images import load_rgb
from .chat_template import chat_prompt


@dataclass(frozen=True)
class Sampling:
    n: int = 1
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    max_new_tokens: int = 64


class HFGenerator:
    def __init__(self, model, processor, batch_size: int = 32, seed: int = 0):
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size
        self.seed = seed

    def generate(self, images: Sequence[str], questions: Sequence[str], sampling: Sampling,
                 desc: str = "generate", offset: int = 0) -> list[list[str]]:
        """One list of sampling.n answers per (image, question) pair, in input order. offset: where
        these pairs start in a longer run split across processes (a multiple of the batch size):
        each batch is seeded by its place in the whole run, so the parts sample what it would."""
        if len(images) != len(questions):
            raise ValueError("generate: images and questions differ in length")
        return self.generate_from_prompts(images, [chat_prompt(self.processor, q) for q in questions], sampling,
                                          desc, offset)

    @torch.no_grad()
    def generate_from_prompts(self, images: Sequence[str], prompts: Sequence[str], sampling: Sampling,
                              desc: str = "generate", offset: int = 0) -> list[list[str]]:
        """Like generate, for prompt text already in the chat template (e.g. a multi-turn conversation)."""
        if offset % self.batch_size:
            raise ValueError(f"generate: offset {offset} does not start a batch of {self.batch_size}")
        out: list[list[str]] = []
        device = self.model.device
        kwargs = dict(max_new_tokens=sampling.max_new_tokens, num_return_sequences=sampling.n,
                      pad_token_id=self.processor.tokenizer.pad_token_id)
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            kwargs.update(do_sample=False)
        self.processor.tokenizer.padding_side = "left"
        starts = range(0, len(images), self.batch_size)
        for b, start in enumerate(tqdm(starts, desc=desc, mininterval=5, disable=len(starts) <= 1)):
            imgs = [load_rgb(p) for p in images[start:start + self.batch_size]]
            enc = self.processor(images=imgs, text=list(prompts[start:start + self.batch_size]), padding=True,
                                 return_tensors="pt").to(device)
            if "pixel_values" in enc:
                enc["pixel_values"] = enc["pixel_values"].to(self.model.dtype)
            torch.manual_seed(self.seed * 1_000_003 + offset // self.batch_size + b)  # same seed and batches: same samples
            ids = self.model.generate(**enc, **kwargs)
            texts = self.processor.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            texts = [t.strip() for t in texts]
            out.extend(texts[i:i + sampling.n] for i in range(0, len(texts), sampling.n))
        return out
