"""dvc.yaml and selfsynth/core/layout.py spell the same paths: what DVC caches and hashes is what
the stages write and read. The pipeline is read as DVC resolves it (each round of a foreach its
own stage), so a path edited in one home and not the other fails here, not in a study."""
from __future__ import annotations

from pathlib import Path

import pytest

from selfsynth.core.layout import (
    BASE_MODEL,
    DATASET,
    DESCRIPTIONS,
    METHODS,
    SAMPLED,
    ZSTAR,
    candidates_path,
    metrics_path,
    model_dir,
    pairs_path,
    predictions_path,
)
from selfsynth.core.params import load_params
from tests.conftest import REPO


@pytest.fixture(scope="module")
def stages() -> dict:
    import os

    from dvc.repo import Repo

    here = os.getcwd()
    os.chdir(REPO)  # params.yaml and the templated paths resolve from the repository
    try:
        with Repo(str(REPO)) as repo:
            return {s.addressing: {"cmd": s.cmd, "outs": {o.def_path for o in s.outs},
                                   "deps": {d.def_path for d in s.deps}} for s in repo.index.stages}
    finally:
        os.chdir(here)


def rounds() -> list[int]:
    return list(range(1, load_params(REPO / "params.yaml").last_round + 1))


def within(path: Path, declared: set[str]) -> bool:
    """The path is a declared one or lies inside a declared folder."""
    return any(Path(d) == path or Path(d) in path.parents for d in declared)


def test_the_shared_artefacts_are_the_outputs_of_their_stages(stages):
    assert str(DATASET) in stages["prepare"]["outs"]
    assert str(BASE_MODEL) in stages["base"]["outs"]
    assert str(DESCRIPTIONS.parent) in stages["describe"]["outs"]
    assert str(ZSTAR.parent) in stages["select"]["outs"]
    assert all(within(pairs_path(m, 1), stages["synthesize"]["outs"]) for m in METHODS)
    base = stages["evaluate_base"]  # round 0 of Table 1: the base model, evaluated as every method is
    assert all(within(p("base", 0), base["outs"]) for p in (predictions_path, metrics_path))


@pytest.mark.parametrize("rnd", rounds())
def test_every_round_trains_and_evaluates_every_method_from_the_round_before(stages, rnd):
    """Round 1 is no special case: its stages are the foreach's, and dvc.yaml names no method."""
    train, evaluate = stages[f"train@round-{rnd}"], stages[f"evaluate@round-{rnd}"]
    assert not any(m in train["cmd"].split() + evaluate["cmd"].split() for m in METHODS)
    assert all(within(model_dir(m, rnd), train["outs"]) for m in METHODS)
    assert all(within(model_dir(m, rnd - 1), train["deps"]) and within(pairs_path(m, rnd), train["deps"])
               for m in METHODS)
    assert all(within(model_dir(m, rnd), evaluate["deps"]) for m in (*METHODS, "base"))
    assert all(within(p(m, rnd), evaluate["outs"]) for p in (predictions_path, metrics_path) for m in METHODS)


@pytest.mark.parametrize("rnd", rounds()[1:])
def test_every_later_round_samples_from_its_own_models_and_filters_into_the_pairs(stages, rnd):
    generate, rejection = stages[f"generate@round-{rnd}"], stages[f"rejection@round-{rnd}"]
    assert all(within(model_dir(m, rnd - 1), generate["deps"]) for m in SAMPLED)
    assert {str(candidates_path(m, rnd).parent) for m in SAMPLED} == generate["outs"]
    assert {str(candidates_path(m, rnd).parent) for m in SAMPLED} <= rejection["deps"]
    assert {str(pairs_path(m, rnd).parent) for m in METHODS} <= rejection["outs"]


def test_the_pipeline_has_as_many_rounds_as_params(stages):
    for step, first in (("train", 1), ("evaluate", 1), ("generate", 2), ("rejection", 2)):
        made = sorted(int(name.split("-")[-1]) for name in stages if name.startswith(f"{step}@"))
        assert made == rounds()[first - 1:], step
