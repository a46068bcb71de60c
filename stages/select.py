"""Step 1.2: information-bottleneck selection of the image-level concepts Z* each image really shows."""
import logging
from pathlib import Path

from selfsynth.data.dataset import load_prepared
from selfsynth.io import read_json, read_jsonl, write_json, write_jsonl
from selfsynth.params import load_params
from selfsynth.select_concepts import select_for_images, selection_quality
from selfsynth.tracking import flatten, mlflow_run

OUT = Path("data/select/zstar.jsonl")
METRICS = Path("metrics/select.json")
log = logging.getLogger("select")


def main() -> None:
    params = load_params()
    p = params.select
    world = load_prepared("data/world")
    concepts = read_json("data/concepts.json")
    descriptions = read_jsonl("data/describe/descriptions.jsonl")
    train = world.split("train")
    with mlflow_run(params, "select", stage="select") as mlf:
        rows = select_for_images(train, descriptions, concepts, encoder=p.encoder, beta=p.beta, tau=p.tau,
                                 min_concepts=p.min_concepts)
        quality = selection_quality(rows, train, concepts, params.seed)
        mlf.log_metrics(flatten(quality))
        write_jsonl(OUT, rows)
        write_json(METRICS, quality)
    log.info("selection: %s", quality)


if __name__ == "__main__":
    main()
