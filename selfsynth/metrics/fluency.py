"""FS: perplexity of answers under a reference language model (lower is more fluent)."""
from __future__ import annotations

import math
from typing import Sequence

import torch


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 32) -> float:
    """Mean over answers of exp(mean token NLL), text only (no image), as a language-model judge."""
    model.eval()
    device = model.device
    tokenizer.padding_side = "right"
    ppl = []
    for start in range(0, len(texts), batch_size):
        chunk = [t if t.strip() else "." for t in texts[start:start + batch_size]]
        enc = tokenizer(chunk, return_tensors="pt", padding=True).to(device)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), enc["input_ids"][:, 1:],
                                                reduction="none")
        mask = enc["attention_mask"][:, 1:].float()
        per_text = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
        ppl.extend(math.exp(min(v, 50.0)) for v in per_text.tolist())
    return sum(ppl) / len(ppl) if ppl else 0.0
