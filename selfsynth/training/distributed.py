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
