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


def explanation_scores(answers: Sequence[str], class_attributes: Sequence[dict], visible: Sequence[set]) -> dict:
    n = len(answers)
    with_features = cs_sum = grounded = cited = 0
    for answer, attrs, shown in zip(answers, class_attributes, visible, strict=True):
        feats = mentioned_attributes(answer)
        if not feats:
            continue
        with_features += 1
        cs_sum += sum(attrs.get(f) == v for f, v in feats) / len(feats)
        grounded += len(feats & shown)
        cited += len(feats)
    return {"EE": with_features / n if n else 0.0, "CS": cs_sum / n if n else 0.0,
            "grounding": grounded / cited if cited else 0.0, "features_per_answer": cited / n if n else 0.0}
