"""Step 0b: label-level expert concepts Z per class, in the authors' {id: {name, visual_features}} format."""
import logging
from pathlib import Path

from selfsynth.concepts import concepts_from_world, validate_concepts
from selfsynth.data.dataset import load_prepared
from selfsynth.io import write_json
from selfsynth.params import load_params

OUT = Path("data/concepts.json")
log = logging.getLogger("concepts")


def main() -> None:
    load_params()
    world = load_prepared("data/world")
    concepts = validate_concepts(concepts_from_world(world.labels), world.class_names, source="world field guide")
    write_json(OUT, concepts)
    log.info("wrote %d classes, %d concepts", len(concepts), sum(len(c["visual_features"]) for c in concepts.values()))


if __name__ == "__main__":
    main()
