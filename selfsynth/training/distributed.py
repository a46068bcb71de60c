"""Several processes, one writer: under `accelerate launch` / torchrun every rank runs the whole
stage script and trains its share of each batch, but only rank 0 may save models or log."""
from __future__ import annotations

import os

import torch


def is_main_process() -> bool:
    """Rank 0, or a plain single process (no RANK in the environment)."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    """A barrier once the process group exists (the Trainer creates it); a no-op otherwise."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


class SeveralProcessesError(RuntimeError):
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
