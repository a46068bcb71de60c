"""Progress that says what it is: four methods train side by side, so each bar names its method and
round; in a log file, a few lines instead of one line of bar redraws."""
import logging
from types import SimpleNamespace

from selfsynth.training.sft import LabelledProgress


def state(step: int, total: int = 40, main: bool = True) -> SimpleNamespace:
    return SimpleNamespace(is_world_process_zero=main, max_steps=total, global_step=step)


def test_on_a_terminal_the_bar_is_labelled_with_method_and_round():
    bar = LabelledProgress("train ours round 2", tty=True)
    bar.on_train_begin(None, state(0), None)
    try:
        assert bar.training_bar.desc.startswith("train ours round 2")
        assert bar.training_bar.total == 40
    finally:
        bar.training_bar.close()


def test_in_a_log_file_progress_is_one_short_line_per_tenth(caplog):
    bar = LabelledProgress("train ours round 2", tty=False)
    bar.on_train_begin(None, state(0), None)
    with caplog.at_level(logging.INFO, logger="selfsynth.training.sft"):
        for step in range(1, 41):
            if step == 20:
                bar.on_log(None, state(step), None, logs={"loss": 1.25})
            bar.on_step_end(None, state(step), None)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10
    assert lines[0] == "train ours round 2: 4/40 steps (10%)"
    assert lines[-1] == "train ours round 2: 40/40 steps (100%), loss 1.250"
    assert bar.training_bar is None  # no bar, so no redraws piling up on one line


def test_other_ranks_stay_quiet(caplog):
    bar = LabelledProgress("train ours round 2", tty=False)
    with caplog.at_level(logging.INFO, logger="selfsynth.training.sft"):
        for step in range(1, 41):
            bar.on_step_end(None, state(step, main=False), None)
    assert not caplog.records
