"""Step 1.1: the base LMM describes every training image many times (prompts x samples, high temperature)."""
import logging
from pathlib import Path

from selfsynth.data.dataset import check_images, load_prepared
from selfsynth.describe import describe_images
from selfsynth.generation.backend import open_generator
from selfsynth.io import write_json, write_jsonl
from selfsynth.params import load_params
from selfsynth.preflight import stage_start
from selfsynth.prompts import load_prompts

OUT = Path("data/describe/descriptions.jsonl")
log = logging.getLogger("describe")


def main() -> None:
    params = load_params()
    stage_start(params, tracking=False)
    p = params.describe
    world = load_prepared("data/world")
    prompts = load_prompts(params.dataset.name).describe[: p.prompts]
    train = world.split("train")
    check_images(world.root, train, "data/world/manifest.jsonl")
    gen = open_generator(p.backend, "models/base", p.batch_size, params.seed)
    rows, stats = describe_images(gen, world, train, prompts, p)
    write_jsonl(OUT, rows)
    write_json("metrics/describe.json", stats)
    log.info("%d descriptions of %d images: %s", len(rows), len(train), stats)


if __name__ == "__main__":
    main()
