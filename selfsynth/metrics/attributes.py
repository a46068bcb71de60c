"""Scores against the world's ground truth: what a description mentions vs what the image shows."""
from __future__ import annotations

from typing import Sequence

from ..world.attributes import mentioned_attributes, says_not_visible


def mention_prf(texts: Sequence[str], truths: Sequence[set]) -> dict:
    """Micro-averaged precision/recall of (family, value) mentions against the visible attributes."""
    tp = fp = fn = 0
    for text, truth in zip(texts, truths, strict=True):
        pred = mentioned_attributes(text)
        tp += len(pred & truth)
        fp += len(pred - truth)
        fn += len(truth - pred)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "mentions_per_answer": (tp + fp) / len(texts) if texts else 0.0}


def attribute_answer_correct(answer: str, family: str, value: str | None) -> bool:
    """Right when the answer states exactly the true value; value None (hidden part) wants 'not visible'."""
    if value is None:
        return says_not_visible(answer)
    stated = {v for f, v in mentioned_attributes(answer) if f == family}
    return stated == {value} and not says_not_visible(answer)
