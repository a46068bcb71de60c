"""Step 1.1: the base LMM describes every training image many times (prompts x samples, high temperature)."""
import logging
from pathlib import Path

from selfsynth.dataset.prepared import check_images, load_prepared
from selfsynth.io import write_json, write_jsonl
from selfsynth.lmm.backend import open_generator
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.describe import describe_images
from selfsynth.params import load_params
from selfsynth.preflight import stage_start
from selfsynth.training.distributed import refuse_several_processes
from stages import summarize

OUT = Path("data/describe/descriptions.jsonl")
log = logging.getLogger("describe")


def main() -> None:
    refuse_several_processes("stages.describe")
    params = load_params()
    stage_start(params, tracking=False)
    p = params.describe
    dataset = load_prepared("data/dataset")
    prompts = load_prompts(params.dataset.name).describe[: p.prompts]
    train = dataset.split("train")
    check_images(dataset.root, train, "data/dataset/manifest.jsonl")
    gen = open_generator(p.backend, "models/base", p.batch_size, params.seed)
    rows, stats = describe_images(gen, dataset, train, prompts, p)
    write_jsonl(OUT, rows)
    write_json("metrics/describe.json", stats)
    summarize(f"{len(rows)} descriptions of {len(train)} images"
              + (f", mention precision {stats['precision']:.3f} recall {stats['recall']:.3f}"
                 if "precision" in stats else ""))


if __name__ == "__main__":
    main()
