"""The one way every stage opens an image: whatever the file's mode, the 8-bit RGB picture a viewer
shows. PIL's plain convert("RGB") clips 16-bit values at 255 (an X-ray turns white) and drops alpha
(transparent pixels show their hidden colour); an RGB file comes back exactly as convert("RGB") gives it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def load_rgb(source: str | Path | Image.Image) -> Image.Image:
    """An image file (or an open image) as RGB: 16/32-bit integers scaled to 8 bits, alpha composited over white."""
    if not isinstance(source, Image.Image):
        with Image.open(source) as im:
            return load_rgb(im)
    im = _to_8_bits(source) if source.mode.startswith("I") else source
    if im.has_transparency_data:
        return _over_white(im)
    return im.convert("RGB")


def _to_8_bits(im: Image.Image) -> Image.Image:
    """I;16 by its bit depth (/257); mode I, which declares none, by the smallest 2**k - 1 (k = 8, 16, 32) that holds its max."""
    values = np.asarray(im, dtype=np.float64).clip(0, None)
    top = 65535 if im.mode.startswith("I;16") else next(2 ** k - 1 for k in (8, 16, 32)
                                                          if values.max(initial=0) <= 2 ** k - 1)
    return Image.fromarray(np.rint(values * (255 / top)).astype(np.uint8))


def _over_white(im: Image.Image) -> Image.Image:
    """Over white, not black: a cut-out's background is the page it was made for, and black hides dark subjects."""
    rgba = im.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
