"""Evaluate a method after a round: accuracy (strict and lenient), EE, CS, FS, grounding, general ability.

Usage: python -m stages.evaluate <method> <round>; method 'base' evaluates models/base as round 0.
"""
import logging
import sys
from pathlib import Path

from selfsynth.data.dataset import load_prepared
from selfsynth.evaluation import evaluate_method
from selfsynth.generation.backend import make_generator
from selfsynth.io import write_json, write_jsonl
from selfsynth.models.load import load_lmm
from selfsynth.params import load_params
from selfsynth.prompts import load_prompts
from selfsynth.tracking import flatten, mlflow_run

log = logging.getLogger("evaluate")


def main(method: str, rnd: int) -> None:
    params = load_params()
    p = params.evaluate
    world = load_prepared("data/world")
    model_dir = Path("models/base") if method == "base" else Path(f"models/{method}/round-{rnd}/model")
    model, processor = load_lmm(model_dir)
    reference, _ = load_lmm("models/base") if method != "base" else (model, processor)
    gen = make_generator(p.backend, model, processor, p.batch_size, params.seed)
    test = world.split("test")[: p.max_images]
    with mlflow_run(params, method, method=method, round=rnd, stage="evaluate") as mlf:
        metrics, predictions = evaluate_method(gen, world, test, load_prompts(params.dataset.name), reference,
                                               processor.tokenizer, p.max_new_tokens, params.seed)
        mlf.log_metrics({k: v for k, v in flatten(metrics).items() if isinstance(v, (int, float))}, step=rnd)
        write_jsonl(f"data/eval/{method}/round-{rnd}.jsonl", predictions)
        write_json(f"metrics/{method}/round-{rnd}.json", metrics)
    log.info("%s round %d: %s", method, rnd, metrics)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
