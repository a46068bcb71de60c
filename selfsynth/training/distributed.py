"""Several processes, one writer: under `accelerate launch` / torchrun every rank runs the whole
stage script and trains its share of each batch, but only rank 0 may save models or log.

accelerate's PartialState is the state the Trainer itself sets up (TrainingArguments creates it),
so the stage asks the same object rather than reading the launcher's environment by hand."""
from __future__ import annotations

from accelerate import PartialState


def is_main_process() -> bool:
    """Rank 0, or a plain single process."""
    return PartialState().is_main_process


def wait_for_everyone() -> None:
    """A barrier across the ranks; a no-op in a single process."""
    PartialState().wait_for_everyone()
