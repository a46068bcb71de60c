"""Step 1.1: the base LMM describes every training image many times (prompts x samples, high temperature).
Images go in shards of `resume.shard_batches` batches, each kept as it is finished: a killed run,
rerun, describes only the shards it had not finished (selfsynth/process/resume.py)."""
import logging

from selfsynth.core.io import write_json, write_jsonl
from selfsynth.core.layout import BASE_MODEL, DATASET, DESCRIPTIONS
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import check_images, load_prepared
from selfsynth.lmm.backend import open_generator
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.describe import describe_sampling, description_rows, sample_descriptions
from selfsynth.process.distributed import refuse_several_processes
from selfsynth.process.parallel import shard_spans
from selfsynth.process.preflight import stage_start
from selfsynth.process.resume import Partial, run_units
from stages import summarize

log = logging.getLogger("describe")


def describe_part(job: tuple) -> list[list[list[str]]]:
    """One shard of images, whole batches from `offset` on: its samples are those the whole run
    would draw for them (a worker process; it writes nothing)."""
    params, images, prompts, offset = job
    p = params.describe
    gen = open_generator(p.backend, BASE_MODEL, p.batch_size, params.seed)
    return sample_descriptions(gen, images, prompts, describe_sampling(p), offset)


def main() -> None:
    refuse_several_processes("stages.describe")
    params = load_params()
    stage_start(params, tracking=False)
    p = params.describe
    dataset = load_prepared(DATASET)
    prompts = load_prompts(params.dataset.name).describe[: p.prompts]
    train = dataset.split("train")
    check_images(dataset.root, train, "data/dataset/manifest.jsonl")
    images = [str(dataset.image(r)) for r in train]
    spans = shard_spans(len(images), p.batch_size, params.resume.shard_batches)
    partial = Partial("describe", params, [DATASET, "prompts", BASE_MODEL])
    parts = run_units(describe_part, [(params, images[a:b], prompts, a) for a, b in spans],
                      [f"images-{a}-{b}" for a, b in spans], partial, params.workers, params.threads, "shards")
    texts = [[samples for part in parts for samples in part[k]] for k in range(len(prompts))]
    rows, stats = description_rows(dataset, train, texts)
    write_jsonl(DESCRIPTIONS, rows)
    write_json("metrics/describe.json", stats)
    partial.done()
    summarize(f"{len(rows)} descriptions of {len(train)} images"
              + (f", mention precision {stats['precision']:.3f} recall {stats['recall']:.3f}"
                 if "precision" in stats else ""))


if __name__ == "__main__":
    main()
