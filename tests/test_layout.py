"""dvc.yaml and selfsynth/core/layout.py spell the same paths: what DVC caches and hashes is what
the stages write and read. The pipeline is read as DVC resolves it (each round of a foreach its
own stage), so a path edited in one home and not the other fails here, not in a study."""
from __future__ import annotations

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
    pairs_path,
    predictions_path,
    round_dir,
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


def stage(stages: dict, step: str, rnd: int) -> dict:
    return stages[f"{step}_round1" if rnd == 1 else f"{step}@round-{rnd}"]


def test_the_shared_artefacts_are_the_outputs_of_their_stages(stages):
    assert str(DATASET) in stages["prepare"]["outs"]
    assert str(BASE_MODEL) in stages["base"]["outs"]
    assert str(DESCRIPTIONS.parent) in stages["describe"]["outs"]
    assert str(ZSTAR.parent) in stages["select"]["outs"]
    assert {str(pairs_path(m, 1).parent) for m in METHODS} <= stages["synthesize"]["outs"]


@pytest.mark.parametrize("rnd", rounds())
def test_every_round_trains_and_evaluates_every_method_from_the_round_before(stages, rnd):
    train, evaluate = stage(stages, "train", rnd), stage(stages, "evaluate", rnd)
    assert train["cmd"].endswith(" ".join(METHODS)) and evaluate["cmd"].endswith(" ".join(METHODS))
    assert {str(round_dir(m, rnd)) for m in METHODS} <= train["outs"]
    before = {str(BASE_MODEL)} if rnd == 1 else {str(round_dir(m, rnd - 1)) for m in METHODS}
    assert before | {str(pairs_path(m, rnd).parent) for m in METHODS} <= train["deps"]
    assert {str(round_dir(m, rnd)) for m in METHODS} <= evaluate["deps"]
    evaluated = [(m, rnd) for m in METHODS] + ([("base", 0)] if rnd == 1 else [])  # the base model is round 0
    assert {str(predictions_path(m, r)) for m, r in evaluated} <= evaluate["outs"]
    assert {str(metrics_path(m, r)) for m, r in evaluated} <= evaluate["outs"]


@pytest.mark.parametrize("rnd", rounds()[1:])
def test_every_later_round_samples_from_its_own_models_and_filters_into_the_pairs(stages, rnd):
    generate, rejection = stage(stages, "generate", rnd), stage(stages, "rejection", rnd)
    assert {str(round_dir(m, rnd - 1)) for m in SAMPLED} <= generate["deps"]
    assert {str(candidates_path(m, rnd).parent) for m in SAMPLED} == generate["outs"]
    assert {str(candidates_path(m, rnd).parent) for m in SAMPLED} <= rejection["deps"]
    assert {str(pairs_path(m, rnd).parent) for m in METHODS} <= rejection["outs"]


def test_the_pipeline_has_as_many_rounds_as_params(stages):
    trained = {int(name.split("-")[-1]) for name in stages if name.startswith("train@")} | {1}
    assert sorted(trained) == rounds()
