"""Where each round's artefacts live, in one place: stages, DVC and the report must agree on it.
Everything a round makes sits under its round's folder, so dvc.yaml declares a round with one path
per kind and names no method: round 0 is the base model, round r >= 1 every method's model after r."""
from __future__ import annotations

from pathlib import Path

# The study's methods, defined here only: trained every round; `base` is round 0.
TEMPLATED = ("nl", "lge")  # rounds 2..K: fresh template pairs of their own kind (matched compute)
SAMPLED = ("ours", "nofilter")  # rounds 2..K: their own model writes the candidates
METHODS = (*TEMPLATED, *SAMPLED)

# The study's shared artefacts (dvc.yaml's outs spell the same paths: tests/test_layout.py holds them in step)
DATASET = Path("data/dataset")  # prepare: manifest, labels, images
DESCRIPTIONS = Path("data/describe/descriptions.jsonl")  # step 1.1
ZSTAR = Path("data/select/zstar.jsonl")  # step 1.2


def models(rnd: int) -> Path:
    """The models after round `rnd`: one folder per method; round 0 is the base model itself."""
    return Path(f"models/round-{rnd}")


BASE_MODEL = models(0)  # round 0 of every method


def methods_of(rnd: int) -> tuple[str, ...]:
    return ("base",) if rnd == 0 else METHODS


def round_dir(method: str, rnd: int) -> Path:
    return models(rnd) / method


def model_dir(method: str, rnd: int) -> Path:
    """The merged model after `rnd` rounds of `method`; round 0 is the base model for every method."""
    return BASE_MODEL if rnd == 0 or method == "base" else round_dir(method, rnd) / "model"


def pairs_path(method: str, rnd: int) -> Path:
    """Training pairs of round `rnd`: synthesized in round 1, rejection-sampled afterwards."""
    return Path(f"data/rounds/round-{rnd}/pairs/{method}.jsonl")


def candidates_path(method: str, rnd: int) -> Path:
    return Path(f"data/rounds/round-{rnd}/candidates/{method}.jsonl")


def metrics_path(method: str, rnd: int) -> Path:
    return Path(f"metrics/eval/round-{rnd}/{method}.json")


def predictions_path(method: str, rnd: int) -> Path:
    return Path(f"data/eval/round-{rnd}/{method}.jsonl")


def train_metrics_path(rnd: int) -> Path:
    """Epochs used and best validation loss of every method's round `rnd`."""
    return Path(f"metrics/train/round-{rnd}.json")


def rejection_metrics_path(rnd: int) -> Path:
    """What step 2.6 kept in round `rnd` (rounds 2..K)."""
    return Path(f"metrics/rounds/round-{rnd}.json")


def judge_cache(rnd: int) -> Path:
    """The LLM judge's replies for round `rnd` (evaluate.judge llm), kept across runs."""
    return Path(f"data/eval/llm_judge/round-{rnd}.json")
