"""Several processes, one writer: under `accelerate launch` / torchrun every rank runs the whole
stage script and trains its share of each batch, but only rank 0 may save models or log.

accelerate's PartialState is the state the Trainer itself sets up (TrainingArguments creates it),
so the stage asks the same object rather than reading the launcher's environment by hand."""
from __future__ import annotations

import os

from accelerate import PartialState

from ..core.errors import InputError


def is_main_process() -> bool:
    """Rank 0, or a plain single process."""
    return PartialState().is_main_process


def wait_for_everyone() -> None:
    """A barrier across the ranks; a no-op in a single process."""
    PartialState().wait_for_everyone()


class SeveralProcessesError(RuntimeError, InputError):
    pass


def refuse_several_processes(stage: str, env: dict | None = None) -> None:
    """Generation and evaluation stages are single-process: under `accelerate launch` / torchrun every
    rank would generate every sample and write the same files (and the same MLflow rows) at once.
    Stop before any work, naming the stage, rather than race."""
    env = os.environ if env is None else env
    world = int(env.get("WORLD_SIZE", "1") or "1")
    if world > 1:
        raise SeveralProcessesError(
            f"{stage}: runs as one process, but WORLD_SIZE={world} (rank {env.get('RANK', '?')}): every rank would "
            f"generate and write the same outputs. Run it with `python -m {stage}` or `dvc repro`; only "
            "stages.train is rank-aware (launch that one with accelerate).")
