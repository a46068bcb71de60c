"""Step 0a: build the dataset the study runs on — the aviary world by default, or a real dataset
read in place from dataset.root (its images stay where they were downloaded; the manifest holds
their absolute paths). Every stage reads data/dataset, whichever it is."""
import logging
from pathlib import Path

from selfsynth.core.io import atomic_path, write_json
from selfsynth.core.layout import DATASET
from selfsynth.core.params import Params, load_params
from selfsynth.dataset.prepared import check_images, duplicates, load_prepared
from selfsynth.dataset.sources import prepare_dataset
from selfsynth.lmm.prompts import load_prompts
from selfsynth.plots import contact_sheet, world_contact_sheet
from selfsynth.process.preflight import stage_start
from selfsynth.world.build import build_generic, build_world
from stages import summarize

PLOT = Path("reports/dataset.png")
log = logging.getLogger("prepare")


def prepare_real(params: Params, describe_prompts: list[str]) -> dict:
    """The dataset's manifest, then (tiny base model only) the aviary's generic corpus beside it:
    the tiny model is pretrained on that corpus and its general ability is measured there."""
    name, root = params.dataset.name, params.dataset.root
    with atomic_path(DATASET, directory=True) as tmp:
        summary = prepare_dataset(name, root, tmp, params.world.seed)
        manifest = load_prepared(tmp).manifest
        summary["duplicates"] = duplicates(tmp, manifest, params.dataset.allow_split_duplicates)
        check_images(tmp, manifest, f"dataset {name!r} at {root}")
        if not params.base.model_dir:
            summary["generic_images"] = len(build_generic(params.world, params.world.seed, tmp, describe_prompts))
    return summary


def main() -> None:
    params = load_params()
    stage_start(params, tracking=False)
    name = params.dataset.name
    prompts = load_prompts(name)  # before any work: a dataset without a prompt file stops here
    if name == "aviary":
        with atomic_path(DATASET, directory=True) as tmp:
            summary = build_world(params.world, params.world.seed, tmp, prompts.describe)
            summary["duplicates"] = duplicates(tmp, load_prepared(tmp).manifest, params.dataset.allow_split_duplicates)
        dataset = load_prepared(DATASET)
        world_contact_sheet(DATASET, dataset.labels, dataset.manifest, PLOT)
    else:
        summary = prepare_real(params, prompts.describe)
        dataset = load_prepared(DATASET)
        contact_sheet(DATASET, dataset.labels, dataset.manifest, PLOT, f"{name}: training images per class (first 16 classes)")
    log.info("%s: %s", name, summary)
    summarize(f"{name}: {len(dataset.labels)} classes, {len(dataset.split('train'))} train / "
              f"{len(dataset.split('test'))} test images")
    write_json("metrics/dataset.json", summary)


if __name__ == "__main__":
    main()
