"""Progress that says what it is: four methods train side by side, so each bar names its method and round."""
from types import SimpleNamespace

from transformers.trainer_callback import ProgressCallback

from selfsynth.training.sft import LabelledProgress


def test_the_training_bar_is_labelled_with_method_and_round():
    bar = LabelledProgress("train ours round 2")
    assert isinstance(bar, ProgressCallback)  # the Trainer's own bar, so steps and logs behave as before
    bar.on_train_begin(None, SimpleNamespace(is_world_process_zero=True, max_steps=3), None)
    try:
        assert bar.training_bar.desc.startswith("train ours round 2")
        assert bar.training_bar.total == 3
    finally:
        bar.training_bar.close()


def test_other_ranks_draw_no_bar():
    bar = LabelledProgress("train ours round 2")
    bar.on_train_begin(None, SimpleNamespace(is_world_process_zero=False, max_steps=3), None)
    assert bar.training_bar is None
