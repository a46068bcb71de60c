"""Stage A of the tiny model's pretraining: teach the CLIP tower to see parts, as CLIP comes pretrained.

LLaVA starts from a vision encoder that already sees. A from-scratch tower trained only
through the language loss stays blind for hundreds of steps (the decoder learns one average
caption first), so the tower is first trained to predict, for every attribute family, the
value shown or "hidden", from the generic corpus — never from species labels.
"""
from __future__ import annotations

import logging
import random

import torch
from torch import nn
from tqdm import tqdm

from ..dataset.images import load_rgb
from ..world.attributes import FAMILIES

log = logging.getLogger(__name__)


class AttributeProbe(nn.Module):
    def __init__(self, vision_tower: nn.Module, hidden: int):
        super().__init__()
        self.tower = vision_tower
        self.heads = nn.ModuleList(nn.Linear(hidden, len(f.values) + 1) for f in FAMILIES)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        # read from CLS as the LMM's decoder sees it (last layer, before the pooler's norm), so that
        # this one token learns to summarise every part
        cls = self.tower(pixel_values=pixel_values).last_hidden_state[:, 0]
        return [head(cls) for head in self.heads]


def attribute_targets(rows: list[dict]) -> torch.Tensor:
    """(n, families) class index: the value's position, or len(values) when the part is hidden."""
    out = torch.empty(len(rows), len(FAMILIES), dtype=torch.long)
    for i, row in enumerate(rows):
        for j, fam in enumerate(FAMILIES):
            keys = [v.key for v in fam.values]
            out[i, j] = keys.index(row["attributes"][fam.key]) if fam.key in row["visible"] else len(keys)
    return out


def jitter(pixels: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image mirrored at random and moved by up to `shift` pixels (edges replicated): the
    parts' identity does not depend on where they land, so the tower stops memorising where the
    few thousand training birds happened to stand (at 60 epochs without it: 100 % on the corpus,
    beak shape at chance on new images)."""
    n, _, h, w = pixels.shape
    flip = torch.rand(n, generator=generator) < 0.5
    pixels = torch.where(flip[:, None, None, None], pixels.flip(-1), pixels)
    padded = nn.functional.pad(pixels, (shift, shift, shift, shift), mode="replicate")
    dx, dy = (torch.randint(0, 2 * shift + 1, (n,), generator=generator) for _ in range(2))
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def pretrain_vision(model, image_processor, rows: list[dict], image_paths: list[str], *, epochs: int,
                    batch_size: int, lr: float, seed: int, shift: int = 0) -> list[float]:
    """Train model's vision tower in place; return per-epoch attribute accuracy on the training rows.
    shift > 0: each batch jittered (flip, move by up to `shift` pixels)."""
    pixels = torch.cat([image_processor(images=[load_rgb(p) for p in image_paths[i:i + 256]],
                                        return_tensors="pt")["pixel_values"] for i in range(0, len(image_paths), 256)])
    targets = attribute_targets(rows)
    tower = model.model.vision_tower
    probe = AttributeProbe(tower, tower.config.hidden_size)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(rows) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    order = list(range(len(rows)))
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    accuracy = []
    probe.train()
    for epoch in range(epochs):
        rng.shuffle(order)
        correct = total = 0
        for start in tqdm(range(0, len(order), batch_size), desc=f"vision epoch {epoch + 1}/{epochs}", mininterval=5):
            idx = torch.tensor(order[start:start + batch_size])
            batch = jitter(pixels[idx], shift, generator) if shift else pixels[idx]
            logits = probe(batch)
            loss = sum(nn.functional.cross_entropy(lg, targets[idx, j]) for j, lg in enumerate(logits))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            correct += sum((lg.argmax(-1) == targets[idx, j]).sum().item() for j, lg in enumerate(logits))
            total += len(idx) * len(FAMILIES)
        accuracy.append(correct / total)
        log.info("vision epoch %d: attribute accuracy %.3f", epoch + 1, accuracy[-1])
    return accuracy
