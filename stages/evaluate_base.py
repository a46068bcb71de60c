"""Evaluate the base LMM: it should describe what it sees, answer attribute questions, and not identify."""
import logging
from pathlib import Path

from selfsynth.core.io import write_json, write_jsonl
from selfsynth.core.layout import BASE_MODEL, DATASET
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import check_images, load_prepared, spread_over_classes
from selfsynth.lmm.hf import HFGenerator, Sampling
from selfsynth.lmm.load import load_lmm
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.evaluate import (
    evaluate_descriptions,
    evaluate_general_ability,
    evaluate_identification,
)
from selfsynth.process.distributed import refuse_several_processes
from selfsynth.process.preflight import stage_start
from selfsynth.tracking import flatten, mlflow_run
from stages import summarize

METRICS = Path("metrics/base.json")
PREDICTIONS = Path("data/eval/describe-base.jsonl")
log = logging.getLogger("evaluate_base")


def main() -> None:
    refuse_several_processes("stages.evaluate_base")
    params = load_params()
    stage_start(params)
    dataset = load_prepared(DATASET)
    model, processor = load_lmm(BASE_MODEL)
    g = params.eval_base.generation
    gen = HFGenerator(model, processor, batch_size=g.batch_size, seed=params.world.seed)
    test = spread_over_classes(dataset.split("test"), params.eval_base.max_images)
    check_images(dataset.root, test + [g for g in dataset.generic if g["split"] == "test"], "data/dataset (test images)")
    with mlflow_run(params, "evaluate-base", stage="evaluate_base") as mlf:
        prompts = load_prompts(params.dataset.name)
        ident = evaluate_identification(gen, dataset, test, prompts.identify, g.max_new_tokens)
        greedy = evaluate_descriptions(gen, dataset, test, prompts.describe, Sampling(max_new_tokens=g.max_new_tokens),
                                       "describe_greedy")
        sampled = evaluate_descriptions(gen, dataset, test, prompts.describe, Sampling(temperature=1.0, max_new_tokens=g.max_new_tokens),
                                        "describe_t1")
        general = evaluate_general_ability(gen, dataset, g.max_new_tokens)
        metrics = {"identification": ident.metrics, "description_greedy": greedy.metrics,
                   "description_t1": sampled.metrics, "general_ability": general.metrics}
        mlf.log_metrics({k: v for k, v in flatten(metrics).items() if isinstance(v, (int, float))}, step=0)
        write_jsonl(PREDICTIONS, ident.predictions + greedy.predictions + sampled.predictions + general.predictions)
        write_json(METRICS, metrics)
        mlf.log_artifact(str(PREDICTIONS))
    summarize(f"base: accuracy {metrics['identification']['accuracy']:.3f}, descriptions F1 "
              f"{_figure(metrics['description_greedy'], 'f1')} (greedy) / {_figure(metrics['description_t1'], 'f1')} "
              f"(sampled), general ability {_figure(metrics['general_ability'], 'attribute_accuracy')}")


def _figure(metrics: dict, key: str) -> str:
    """A figure for the summary line; real data has none for what it cannot score (a note instead)."""
    value = metrics.get(key)
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"


if __name__ == "__main__":
    main()
