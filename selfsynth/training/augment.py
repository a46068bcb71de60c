"""Image augmentation for SFT (PIL only). Geometry and blur, no colour jitter: in the aviary,
and for plumage in real birds, colour is the very evidence the explanation must cite."""
from __future__ import annotations

import random

from PIL import Image, ImageFilter


class Augment:
    """Draws for one example from (seed, key) alone, the key naming the example and its epoch: the
    same draws whatever was drawn before, so training resumed from a checkpoint augments as an
    uninterrupted run (which a stream of draws, prefetched a batch ahead, would not)."""

    def __init__(self, seed: int, flip: float = 0.5, max_rotate: float = 10.0, max_scale: float = 0.1,
                 blur: float = 0.2):
        self.seed = seed
        self.epoch = 0  # set by the trainer's callback (training.sft.AugmentEpoch)
        self.flip, self.max_rotate, self.max_scale, self.blur = flip, max_rotate, max_scale, blur

    def __call__(self, img: Image.Image, key: str) -> Image.Image:
        rng = random.Random(f"{self.seed}/{key}")
        if rng.random() < self.flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        w, h = img.size
        scale = 1 + rng.uniform(-self.max_scale, self.max_scale)
        fill = img.getpixel((0, 0))
        img = img.rotate(rng.uniform(-self.max_rotate, self.max_rotate), resample=Image.BILINEAR, fillcolor=fill)
        if scale != 1:
            sw, sh = int(w * scale), int(h * scale)
            scaled = img.resize((sw, sh), Image.BILINEAR)
            canvas = Image.new(img.mode, (w, h), fill)
            canvas.paste(scaled, ((w - sw) // 2, (h - sh) // 2))
            img = canvas
        if rng.random() < self.blur:
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
        return img
