"""Step 0a: build the dataset the study runs on — the aviary world by default."""
import logging
from pathlib import Path

from selfsynth.data.dataset import load_prepared
from selfsynth.io import atomic_path, write_json
from selfsynth.params import load_params
from selfsynth.plots import world_contact_sheet
from selfsynth.prompts import load_prompts
from selfsynth.world.generate import build_world

OUT = Path("data/world")
log = logging.getLogger("prepare")


def main() -> None:
    params = load_params()
    with atomic_path(OUT, directory=True) as tmp:
        summary = build_world(params.world, params.world.seed, tmp, load_prompts(params.dataset.name).describe)
    log.info("world: %s", summary)
    world = load_prepared(OUT)
    world_contact_sheet(OUT, world.labels, world.manifest, Path("reports/world.png"))
    write_json("metrics/world.json", summary)


if __name__ == "__main__":
    main()
