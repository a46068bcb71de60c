"""The explain answers among a round's prediction rows: each carries its own scores, so the report
can resample test images (selfsynth/method/evaluate.py computes every aggregate from them)."""
from __future__ import annotations

from typing import Sequence


def explain_rows(predictions: Sequence[dict]) -> list[dict]:
    """The explain answers among a round's prediction rows (general-ability rows carry a task)."""
    return [x for x in predictions if "task" not in x]
