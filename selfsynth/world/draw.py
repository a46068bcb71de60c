"""Draw one bird with PIL: parts carry the attributes; hidden parts are not drawn at all.

The bird is painted on a transparent layer in a fixed right-facing frame, then posed
(mirror, rotation, scale, shift) and composited on a textured background, so nuisance
never touches which parts are visible: the ground truth stays exact. The pose keeps the whole bird
in the frame: the bird spans nearly the canvas (tail tip to beak tip), and at up to 1.1x scale and
8 pixels' shift a beak or tail the truth calls visible was cut off by the edge.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .attributes import FAMILY_BY_KEY

CANVAS = 128
BACKGROUNDS = ((190, 220, 245), (205, 230, 200), (235, 225, 200), (215, 215, 220), (240, 235, 225))
OCCLUDERS = ((70, 120, 60), (110, 95, 80), (130, 150, 110))
BEAK_COLOUR = (70, 60, 50)


@dataclass(frozen=True)
class Nuisance:
    mirror: bool
    angle: float
    scale: float
    dx: int
    dy: int
    background: tuple
    noise: float
    seed: int

    @classmethod
    def sample(cls, rng: random.Random, noise: float) -> "Nuisance":
        return cls(
            mirror=rng.random() < 0.5, angle=rng.uniform(-15, 15), scale=rng.uniform(0.85, 1.0),
            dx=rng.randint(-8, 8), dy=rng.randint(-6, 6), background=rng.choice(BACKGROUNDS),
            noise=noise, seed=rng.randrange(2**31),
        )


def _mix(c, other, t):
    return tuple(int(round(a * (1 - t) + b * t)) for a, b in zip(c, other))


def _colour(family: str, value: str):
    return FAMILY_BY_KEY[family].value(value).draw


def render(attributes: dict, visible: set[str], nuisance: Nuisance, size: int) -> Image.Image:
    """attributes: family -> value; visible: the families whose part is drawn."""
    rng = random.Random(nuisance.seed)
    layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    cx, cy = 58, 66
    body = _colour("plumage", attributes["plumage"])
    dark, light = _mix(body, (0, 0, 0), 0.4), _mix(body, (255, 255, 255), 0.55)

    def shown(family):
        return family in visible

    # what would have been the hidden part sits behind a leaf or a stone
    boxes = {"tail": (cx - 52, cy - 14, cx - 22, cy + 14), "legs": (cx - 12, cy + 14, cx + 14, cy + 36),
             "beak": (cx + 34, cy - 26, cx + 56, cy - 4), "crest": (cx + 18, cy - 44, cx + 36, cy - 22)}
    for fam, box in boxes.items():
        if not shown(fam):
            d.ellipse(box, fill=rng.choice(OCCLUDERS) + (255,))

    if shown("tail"):
        _tail(d, attributes["tail"], cx - 26, cy, dark)
    if shown("legs"):
        leg = _colour("legs", attributes["legs"])
        for x in (cx - 6, cx + 6):
            d.line([(x, cy + 14), (x, cy + 32)], fill=leg, width=4)
            d.line([(x - 5, cy + 32), (x + 5, cy + 32)], fill=leg, width=3)
    d.ellipse((cx - 30, cy - 19, cx + 30, cy + 19), fill=body)
    if shown("breast"):
        _breast(d, (cx + 2, cy - 4, cx + 32, cy + 22), light, dark, attributes["breast"])
    if shown("wing"):
        _patterned_ellipse(d, (cx - 22, cy - 14, cx + 10, cy + 6), dark, (250, 250, 240), attributes["wing"])
    hx, hy = cx + 26, cy - 14
    d.ellipse((hx - 13, hy - 13, hx + 13, hy + 13), fill=body)
    if shown("crest"):
        crest = _colour("crest", attributes["crest"])
        d.polygon([(hx - 8, hy - 9), (hx - 6, hy - 26), (hx - 1, hy - 12), (hx + 2, hy - 29), (hx + 5, hy - 11),
                   (hx + 9, hy - 22), (hx + 9, hy - 8)], fill=crest)
    ex, ey = hx + 4, hy - 2
    if shown("eye_ring"):
        ring = _colour("eye_ring", attributes["eye_ring"])
        d.ellipse((ex - 8, ey - 8, ex + 8, ey + 8), fill=ring)  # a 2.5-pixel ring in the 64-pixel image
    d.ellipse((ex - 3, ey - 3, ex + 3, ey + 3), fill=(0, 0, 0))
    if shown("beak"):
        _beak(d, attributes["beak"], hx + 11, hy + 1)

    posed = layer.rotate(nuisance.angle, resample=Image.BICUBIC, center=(cx, cy))
    if nuisance.mirror:
        posed = posed.transpose(Image.FLIP_LEFT_RIGHT)
    side = int(CANVAS * nuisance.scale)
    posed = posed.resize((side, side), Image.BICUBIC)

    img = _background(nuisance.background, rng)
    box = posed.getbbox() or (0, 0, side, side)  # the drawn bird: shifted no further than the frame allows
    off = tuple(min(max((CANVAS - side) // 2 + d, -lo), CANVAS - hi)
                for d, lo, hi in ((nuisance.dx, box[0], box[2]), (nuisance.dy, box[1], box[3])))
    img.paste(posed, off, posed)
    img = img.resize((size, size), Image.LANCZOS)
    if nuisance.noise > 0:
        arr = np.asarray(img, dtype=np.float32) / 255.0
        arr += np.random.default_rng(nuisance.seed).normal(0, nuisance.noise, arr.shape).astype(np.float32)
        img = Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8))
    return img


def _background(colour, rng: random.Random) -> Image.Image:
    img = Image.new("RGB", (CANVAS, CANVAS), colour)
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x, y, r = rng.randrange(CANVAS), rng.randrange(CANVAS), rng.randint(3, 10)
        d.ellipse((x - r, y - r, x + r, y + r), fill=_mix(colour, (255, 255, 255) if rng.random() < 0.5 else (90, 90, 90), 0.15))
    return img.filter(ImageFilter.GaussianBlur(1.5))


def _inside(box, slack: float = 0.7):
    """Whether a point lies well inside the ellipse in `box` (a mark drawn there stays on the part)."""
    x0, y0, x1, y1 = box
    return lambda x, y: ((x - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + ((y - (y0 + y1) / 2) / ((y1 - y0) / 2)) ** 2 < slack


def _patterned_ellipse(d: ImageDraw.ImageDraw, box, base, mark, pattern: str):
    """The wing: plain, barred or spotted."""
    d.ellipse(box, fill=base)
    x0, y0, x1, y1 = box
    inside = _inside(box)
    if pattern == "barred":
        for x in range(x0 + 5, x1 - 2, 6):
            d.line([(x, y0 + 3), (x, y1 - 3)], fill=mark, width=2)
    elif pattern == "spotted":
        for x in range(x0 + 4, x1 - 2, 8):
            for y in range(y0 + 3, y1 - 2, 8):
                if inside(x, y):
                    d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=mark)
    elif pattern != "plain":
        raise ValueError(f"unknown pattern {pattern!r}")


def _breast(d: ImageDraw.ImageDraw, box, base, mark, pattern: str):
    """The breast, larger than the wing's pattern and clear of it: long upright streaks, big round
    spots, pale-edged scallops on dark feathers. Fine streaks and scallops, both dark on a small pale
    patch half under the wing, read alike to the frozen tower at 64 pixels (tests/test_world.py)."""
    d.ellipse(box, fill=base)
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    inside = _inside(box)
    if pattern == "streaked":
        for x in range(x0 + 5, x1 - 3, 7):
            half = (h / 2) * math.sqrt(max(0.0, 0.7 - ((x - cx) / (w / 2)) ** 2))
            d.line([(x, cy - half), (x, cy + half)], fill=mark, width=3)
    elif pattern == "spotted":
        for row, y in enumerate(range(y0 + 5, y1 - 2, 9)):
            for x in range(x0 + 5 + 4 * (row % 2), x1 - 2, 9):
                if inside(x, y):
                    d.ellipse((x - 4, y - 4, x + 4, y + 4), fill=mark)
    elif pattern == "scaled":
        d.ellipse(box, fill=mark)
        for row, y in enumerate(range(y0 + 4, y1 - 2, 6)):
            for x in range(x0 + 2 + 4 * (row % 2), x1 - 2, 8):
                if inside(x + 4, y):
                    d.arc((x, y - 4, x + 8, y + 4), 0, 180, fill=base, width=2)
    elif pattern != "plain":
        raise ValueError(f"unknown pattern {pattern!r}")


def _tail(d: ImageDraw.ImageDraw, shape: str, x: int, y: int, colour):
    if shape == "forked":
        d.polygon([(x, y - 6), (x - 26, y - 16), (x - 14, y), (x - 26, y + 16), (x, y + 6)], fill=colour)
    elif shape == "rounded":
        d.pieslice((x - 24, y - 16, x + 8, y + 16), 90, 270, fill=colour)
    elif shape == "pointed":
        d.polygon([(x, y - 6), (x - 30, y + 2), (x, y + 6)], fill=colour)
    elif shape == "square":
        d.rectangle((x - 22, y - 10, x + 2, y + 10), fill=colour)
    else:
        raise ValueError(f"unknown tail shape {shape!r}")


def _beak(d: ImageDraw.ImageDraw, shape: str, x: int, y: int):
    """Drawn large enough to survive the 64-pixel image (at 2/3 this size a probe of the frozen tower
    read the shape at chance): a thick cone, a long down-curved bill, a hooked bill, a needle."""
    c = BEAK_COLOUR
    if shape == "conical":
        d.polygon([(x - 2, y - 9), (x + 14, y), (x - 2, y + 9)], fill=c)
    elif shape == "curved":
        pts = [(x + 22 * math.sin(t / 10 * math.pi / 2), y + 22 * (1 - math.cos(t / 10 * math.pi / 2))) for t in range(11)]
        d.line(pts, fill=c, width=6)
    elif shape == "hooked":
        d.polygon([(x - 2, y - 7), (x + 12, y - 6), (x + 18, y + 2), (x + 16, y + 15), (x + 11, y + 5), (x - 2, y + 5)],
                  fill=c)
    elif shape == "needle":
        d.line([(x - 1, y), (x + 28, y)], fill=c, width=4)
    else:
        raise ValueError(f"unknown beak shape {shape!r}")
