"""Offline explanation scores on the world, where the parts an image shows are known exactly.

EE  share of answers that cite at least one visual feature.
CS  per answer, the share of cited features that belong to the label's expert concepts
    (0 when none is cited), averaged: does the explanation fit the class it names?
Grounding (beyond the paper) the share of cited features that the image really shows,
    micro-averaged over all cited features: is the explanation about this image?
"""
from __future__ import annotations

from typing import Sequence

from ..world.attributes import mentioned_attributes


def explanation_rows(answers: Sequence[str], class_attributes: Sequence[dict], visible: Sequence[set]) -> list[dict]:
    """Answer by answer: EE 0/1, CS, and the cited and grounded feature counts grounding is summed from."""
    out = []
    for answer, attrs, shown in zip(answers, class_attributes, visible, strict=True):
        feats = mentioned_attributes(answer)
        out.append({"EE": 1.0 if feats else 0.0,
                    "CS": sum(attrs.get(f) == v for f, v in feats) / len(feats) if feats else 0.0,
                    "cited": len(feats), "grounded": len(feats & shown)})
    return out
