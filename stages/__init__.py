"""DVC stages, each run as `python -m stages.<name>`: parse params, call the library, write atomically."""
import logging
import os
import sys

# Nothing may reach for the network at run time; a blocked call can hang rather than fail.
for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DVC_NO_ANALYTICS": "1",
                     "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
                     "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

if sys.argv[:1] == ["-m"]:
    # run as a stage (python -m stages.x): one line at the end, workers die with it
    from selfsynth.guard import install

    install()
