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
atexit.register(lambda: logging.getLogger("stage").info(
    "%s finished in %.1f s", " ".join([os.path.basename(sys.argv[0]).removesuffix(".py"), *sys.argv[1:]]),
    time.perf_counter() - _started))
