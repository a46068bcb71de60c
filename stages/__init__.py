"""DVC stages, each run as `python -m stages.<name>`: parse params, call the library, write atomically."""
import logging
import sys

from selfsynth.core.offline import go_offline

go_offline()

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

if sys.argv[:1] == ["-m"]:
    # run as a stage (python -m stages.x): one line at the end, workers die with it
    from selfsynth.process.guard import install

    install()


def summarize(text: str) -> None:
    """Key figures for the stage's last line, beside its time: one line per stage in the DVC log
    says what it made, without scrolling back through progress bars."""
    from selfsynth.process.guard import add_figures

    add_figures(text)
