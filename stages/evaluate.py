"""Evaluate methods after a round: accuracy (strict and lenient), EE, CS, FS, grounding, general ability.

Usage: python -m stages.evaluate <round> <method> [<method> ...]; 'base' is always evaluated as round 0.
"""
import logging
import sys

from selfsynth.data.dataset import load_prepared
from selfsynth.evaluation import evaluate_method
from selfsynth.generation.backend import make_generator
from selfsynth.io import write_json, write_jsonl
from selfsynth.layout import metrics_path, model_dir, predictions_path
from selfsynth.models.load import load_lmm
from selfsynth.parallel import run_jobs
from selfsynth.params import load_params
from selfsynth.prompts import load_prompts
from selfsynth.tracking import flatten, method_run

log = logging.getLogger("evaluate")


def assess(job: tuple) -> tuple[dict, list[dict]]:
    """Evaluate one method's model; runs in a worker process, so it only computes."""
    params, world, method, rnd = job
    p = params.evaluate
    reference, ref_processor = load_lmm(model_dir("base", 0))  # FS: perplexity under the untuned model
    model, processor = (reference, ref_processor) if rnd == 0 else load_lmm(model_dir(method, rnd))
    gen = make_generator(p.backend, model, processor, p.batch_size, params.seed)
    return evaluate_method(gen, world, world.split("test")[: p.max_images], load_prompts(params.dataset.name),
                           reference, processor.tokenizer, p.max_new_tokens, params.seed)


def main(rnd: int, methods: list[str]) -> None:
    params = load_params()
    world = load_prepared("data/world")
    jobs = [(params, world, m, 0 if m == "base" else rnd) for m in methods]
    for (_, _, method, r), (metrics, predictions) in zip(jobs, run_jobs(assess, jobs, params.workers)):
        write_jsonl(predictions_path(method, r), predictions)
        write_json(metrics_path(method, r), metrics)
        with method_run(params, method) as mlf:
            mlf.log_metrics({k: v for k, v in flatten(metrics).items() if isinstance(v, (int, float))}, step=r)
        log.info("%s round %d: %s", method, r, metrics)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
