"""Evaluate methods after a round: accuracy (strict and lenient), EE, CS, FS, grounding, general ability.
With evaluate.judge: llm, EE and CS come from the LLM judge (the paper's), the offline ones are kept
under `offline`; its replies are cached in data/eval/llm_judge/round-<r>.json (a persistent DVC
output, so a rerun asks nothing already answered). Each method's evaluation is kept as it is
finished: a killed run, rerun, evaluates only the methods it had not finished (selfsynth/process/resume.py).

Usage: python -m stages.evaluate <round> [<method> ...]   (round 0: the base model; else every method)
"""
import logging
import sys

from selfsynth.checks import read_concepts
from selfsynth.core.io import write_json, write_jsonl
from selfsynth.core.layout import DATASET, METHODS, judge_cache, methods_of, metrics_path, model_dir, predictions_path
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import check_images, load_prepared, spread_over_classes
from selfsynth.lmm.backend import make_generator, open_generator
from selfsynth.lmm.llm_client import CachedChat
from selfsynth.lmm.load import load_lmm
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.evaluate import evaluate_method, explain_questions, judge_with_llm, scorers_for
from selfsynth.metrics.rows import explain_rows
from selfsynth.process.distributed import refuse_several_processes
from selfsynth.process.preflight import stage_start
from selfsynth.process.resume import Partial, run_units
from selfsynth.tracking import log_answers, log_round, method_run
from stages import summarize

log = logging.getLogger("evaluate")


_reference: tuple = ()  # the base model and its processor: loaded once, inherited by the forked workers, not pickled


def assess(job: tuple) -> tuple[dict, list[dict]]:
    """Evaluate one method's model; runs in a worker process, so it only computes."""
    params, dataset, concepts, method, rnd = job
    reference, ref_processor = _reference
    p = params.evaluate
    if p.backend == "hf":  # the base model is loaded once, for both roles
        model, processor = (reference, ref_processor) if rnd == 0 else load_lmm(model_dir(method, rnd))
        gen = make_generator(p.backend, model, processor, p.batch_size, params.seed)
    else:
        gen, processor = open_generator(p.backend, model_dir(method, rnd), p.batch_size, params.seed), ref_processor
    rows = spread_over_classes(dataset.split("test"), p.max_images)
    scorers = scorers_for(dataset, concepts, p.offline_judge, reference, processor.tokenizer)
    return evaluate_method(gen, dataset, rows, explain_questions(load_prompts(params.dataset.name), len(rows), params.seed),
                           scorers, p.max_new_tokens)


def main(rnd: int, methods: list[str]) -> None:
    refuse_several_processes("stages.evaluate")
    params = load_params()
    stage_start(params)
    dataset = load_prepared(DATASET)
    concepts = read_concepts(dataset)
    check_images(dataset.root, spread_over_classes(dataset.split("test"), params.evaluate.max_images)
                 + [g for g in dataset.generic if g["split"] == "test"], "data/dataset (test images)")
    cache = judge_cache(rnd)
    if not cache.exists():  # a declared DVC output, kept across runs (persist): exists even when unused
        write_json(cache, {})
    if params.evaluate.judge == "llm":  # before generating, not after
        llm = params.evaluate.llm_judge
        CachedChat(base_url=llm.base_url, model=llm.model, api_key_env=llm.api_key_env, cache_path=None).check_reachable()
    global _reference
    _reference = load_lmm(model_dir("base", 0))  # FS: perplexity under the untuned model
    jobs = [(params, dataset, concepts, m, rnd) for m in methods]
    partial = Partial(f"evaluate-round-{rnd}", params, [DATASET, "data/concepts.json", "prompts",
                                                        *{model_dir(m, r) for *_, m, r in jobs}])
    results = run_units(assess, jobs, [f"{m}-round-{r}" for *_, m, r in jobs], partial, params.workers,
                        params.threads, "methods")
    if params.evaluate.judge == "llm":  # one process, one cache file: every method judged before anything is written
        results = [(judge_with_llm(metrics, predictions, concepts, params.evaluate.llm_judge, cache), predictions)
                   for metrics, predictions in results]
    for (*_, method, r), (metrics, predictions) in zip(jobs, results):
        write_jsonl(predictions_path(method, r), predictions)
        write_json(metrics_path(method, r), metrics)
        for run in (METHODS if method == "base" else (method,)):  # round 0, the base model, starts every method's curve
            with method_run(params, run) as mlf:
                log_round(mlf, metrics, r)
                log_answers(mlf, explain_rows(predictions), dataset.class_names, r)
        log.info("%s round %d: %s", method, r, metrics)
    partial.done()
    summarize(", ".join(f"{m} r{r} accuracy {x['accuracy']:.3f} CS {x['CS']:.3f}"
                        for (*_, m, r), (x, _) in zip(jobs, results)))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:] or list(methods_of(int(sys.argv[1]))))
