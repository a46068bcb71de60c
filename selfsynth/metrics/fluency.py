"""FS: perplexity of answers under a reference language model (lower is more fluent).

FS_masked leaves the class-name tokens out of the loss: the base model has never been taught the
species names, so FS alone ranks methods by how often they name a species (and which), not by how
fluent the rest of the explanation is. The names stay in the context; only their own tokens are
not scored.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import torch


def name_spans(text: str, names: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans of every class name in text (case-insensitive; hyphens / spaces alike)."""
    spans = []
    for name in names:
        words = re.findall(r"[A-Za-z0-9]+", name)
        if not words:
            continue
        rx = re.compile(r"(?<![A-Za-z0-9])" + r"[^A-Za-z0-9]+".join(map(re.escape, words)) + r"(?![A-Za-z0-9])", re.I)
        spans += [m.span() for m in rx.finditer(text)]
    return spans


@torch.no_grad()
def perplexities(model, tokenizer, texts: Sequence[str], batch_size: int = 32,
                 mask_names: Sequence[str] | None = None) -> list[float]:
    """Per answer exp(mean token NLL), text only (no image). mask_names: tokens that overlap one of
    these names are left out of the mean (needs a fast tokenizer for the character offsets)."""
    if mask_names is not None and not getattr(tokenizer, "is_fast", False):
        raise ValueError("masking class names needs a fast tokenizer (character offsets)")
    model.eval()
    device = model.device
    tokenizer.padding_side = "right"
    ppl = []
    for start in range(0, len(texts), batch_size):
        chunk = [t if t.strip() else "." for t in texts[start:start + batch_size]]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, return_offsets_mapping=mask_names is not None)
        offsets = enc.pop("offset_mapping", None)
        enc = enc.to(device)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), enc["input_ids"][:, 1:],
                                                reduction="none")
        mask = enc["attention_mask"][:, 1:].float()
        if offsets is not None:
            mask = mask * _outside_names(chunk, offsets, mask_names)[:, 1:].to(mask.device)
        per_text = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
        ppl.extend(math.exp(min(v, 50.0)) for v in per_text.tolist())
    return ppl


def _outside_names(chunk: Sequence[str], offsets: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    """1 for tokens that do not overlap a class name, 0 for those that do."""
    keep = torch.ones(offsets.shape[:2])
    for i, text in enumerate(chunk):
        for a, b in name_spans(text, names):
            s, e = offsets[i, :, 0], offsets[i, :, 1]
            keep[i][(e > s) & (s < b) & (e > a)] = 0.0
    return keep


def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 32,
               mask_names: Sequence[str] | None = None) -> float:
    """Mean over answers of exp(mean token NLL), as a language-model judge."""
    ppl = perplexities(model, tokenizer, texts, batch_size, mask_names)
    return sum(ppl) / len(ppl) if ppl else 0.0
