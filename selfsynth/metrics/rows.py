"""Per-answer scores, stored on each prediction row so the report can resample test images.

The aggregate metrics are means of these (grounding: summed grounded / summed cited features),
so a bootstrap over rows gives every metric's interval without re-running the models.
"""
from __future__ import annotations

from typing import Sequence

from ..world.attributes import mentioned_attributes


def explain_rows(predictions: Sequence[dict]) -> list[dict]:
    """The explain answers among a round's prediction rows (general-ability rows carry a task)."""
    return [x for x in predictions if "task" not in x]


def explanation_rows(answers: Sequence[str], class_attributes: Sequence[dict], visible: Sequence[set]) -> list[dict]:
    """The world judge (metrics/explanation.py) answer by answer: EE 0/1, CS, cited and grounded counts."""
    out = []
    for answer, attrs, shown in zip(answers, class_attributes, visible, strict=True):
        feats = mentioned_attributes(answer)
        out.append({"EE": 1.0 if feats else 0.0,
                    "CS": sum(attrs.get(f) == v for f, v in feats) / len(feats) if feats else 0.0,
                    "cited": len(feats), "grounded": len(feats & shown)})
    return out
