"""DVC stages, each run as `python -m stages.<name>`: parse params, call the library, write atomically."""
import atexit
import logging
import os
import sys
import time

from selfsynth.offline import go_offline

go_offline()

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
