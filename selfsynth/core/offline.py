"""The offline environment, defined once: nothing may reach for the network at run time, since a
blocked call can hang rather than fail. Stages, the chat, the experiment runner and the tests use
it; the Makefile repeats it for the `dvc` process itself, which starts before any of this runs."""
from __future__ import annotations

import os

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DVC_NO_ANALYTICS": "1",
               "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false"}


def go_offline() -> None:
    """Set every offline variable this process has not set itself (an explicit setting wins)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
