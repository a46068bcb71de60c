"""DVC stages, each run as `python -m stages.<name>`: parse params, call the library, write atomically."""
import atexit
import logging
import os
import sys
import time

# Nothing may reach for the network at run time; a blocked call can hang rather than fail.
for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DVC_NO_ANALYTICS": "1",
                     "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
                     "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

_started = time.perf_counter()
_figures: list[str] = []


def summarize(text: str) -> None:
    """Key figures for the stage's last line, beside its time: one line per stage in the DVC log
    says what it made, without scrolling back through progress bars."""
    _figures.append(text)


atexit.register(lambda: logging.getLogger("stage").info(
    "%s finished in %.1f s%s", " ".join([os.path.basename(sys.argv[0]).removesuffix(".py"), *sys.argv[1:]]),
    time.perf_counter() - _started, f": {'; '.join(_figures)}" if _figures else ""))
