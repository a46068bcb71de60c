"""Where each round's artefacts live, in one place: stages, DVC and the report must agree on it."""
from __future__ import annotations

from pathlib import Path

# The study's methods, defined here only: trained every round; `base` is round 0.
TEMPLATED = ("nl", "lge")  # rounds 2..K: fresh template pairs of their own kind (matched compute)
SAMPLED = ("ours", "nofilter")  # rounds 2..K: their own model writes the candidates
METHODS = (*TEMPLATED, *SAMPLED)

# The study's shared artefacts (dvc.yaml's outs spell the same paths: tests/test_dvc_deps.py holds them in step)
DATASET = Path("data/dataset")  # prepare: manifest, labels, images
DESCRIPTIONS = Path("data/describe/descriptions.jsonl")  # step 1.1
ZSTAR = Path("data/select/zstar.jsonl")  # step 1.2
BASE_MODEL = Path("models/base")  # round 0 of every method


def model_dir(method: str, rnd: int) -> Path:
    """The merged model after `rnd` rounds of `method`; round 0 is the base model for every method."""
    return BASE_MODEL if rnd == 0 or method == "base" else Path(f"models/{method}/round-{rnd}/model")


def round_dir(method: str, rnd: int) -> Path:
    return Path(f"models/{method}/round-{rnd}")


def pairs_path(method: str, rnd: int) -> Path:
    """Training pairs of round `rnd`: synthesized in round 1, rejection-sampled afterwards."""
    return Path(f"data/synthesize/round-1/{method}.jsonl") if rnd == 1 else Path(f"data/rounds/round-{rnd}/pairs/{method}.jsonl")


def candidates_path(method: str, rnd: int) -> Path:
    return Path(f"data/rounds/round-{rnd}/candidates/{method}.jsonl")


def metrics_path(method: str, rnd: int) -> Path:
    return Path(f"metrics/{method}/round-{rnd}.json")


def predictions_path(method: str, rnd: int) -> Path:
    return Path(f"data/eval/{method}/round-{rnd}.jsonl")
