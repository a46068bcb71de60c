"""Step 2.5: the previous round's model of each sampled method answers explain / chain-of-thought
questions about every training image, several candidates per question. Questions go in shards of
`resume.shard_batches` batches, each kept as it is finished (selfsynth/process/resume.py).

Usage: python -m stages.generate <round>
"""
import logging
import sys

from selfsynth.core.io import atomic_path, dump_jsonl
from selfsynth.core.layout import DATASET, SAMPLED, candidates_path, model_dir
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import check_images, load_prepared
from selfsynth.lmm.backend import open_generator
from selfsynth.lmm.hf import Sampling
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.generate import plan_questions
from selfsynth.process.distributed import refuse_several_processes
from selfsynth.process.parallel import shard_spans
from selfsynth.process.preflight import stage_start
from selfsynth.process.resume import Partial, run_units
from stages import summarize

log = logging.getLogger("generate")


def sample(job: tuple) -> list[list[str]]:
    """One method's candidates for a shard of questions, whole batches from `offset` on; runs in a
    worker process, so it only computes."""
    params, root, method, rnd, shard, offset = job
    p = params.rejection
    gen = open_generator(p.backend, model_dir(method, rnd - 1), p.batch_size, params.seed * 1000 + rnd)
    sampling = Sampling(n=p.samples, temperature=p.temperature, top_p=p.top_p, max_new_tokens=p.max_new_tokens)
    return gen.generate([str(root / q["image"]) for q in shard], [q["question"] for q in shard], sampling,
                        desc=f"round {rnd}: {method} candidates", offset=offset)


def main(rnd: int) -> None:
    refuse_several_processes("stages.generate")
    params = load_params()
    stage_start(params, tracking=False)
    p = params.rejection
    dataset = load_prepared(DATASET)
    plan = plan_questions(dataset.split("train"), load_prompts(params.dataset.name), p.questions,
                          params.synthesize.mix, params.seed, rnd, p.explain_share)
    check_images(dataset.root, plan, "the round's questions (data/dataset/manifest.jsonl)")
    spans = shard_spans(len(plan), p.batch_size, params.resume.shard_batches)
    partial = Partial(f"generate-round-{rnd}", params,
                      [DATASET, "prompts", *(model_dir(m, rnd - 1) for m in SAMPLED)])
    shards = run_units(sample, [(params, dataset.root, m, rnd, plan[a:b], a) for m in SAMPLED for a, b in spans],
                       [f"{m}-{a}-{b}" for m in SAMPLED for a, b in spans], partial, params.workers, params.threads,
                       "shards")
    answers = [[c for shard in shards[i * len(spans):(i + 1) * len(spans)] for c in shard] for i in range(len(SAMPLED))]
    with atomic_path(candidates_path(SAMPLED[0], rnd).parent, directory=True) as tmp:
        for method, cands in zip(SAMPLED, answers):
            dump_jsonl(tmp / f"{method}.jsonl", ({**q, "candidates": a} for q, a in zip(plan, cands, strict=True)))
            log.info("round %d, %s: %d questions x %d candidates", rnd, method, len(plan), p.samples)
    partial.done()
    summarize(f"round {rnd}: {len(plan)} questions x {p.samples} candidates for {', '.join(SAMPLED)}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
