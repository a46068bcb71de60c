"""Step 0b: label-level expert concepts Z per class, in the authors' {id: {name, visual_features}} format,
from the source params.concepts.source names: the aviary's field guide, a JSON file, CUB-200's
attribute annotations, or an OpenAI-compatible LLM (replies cached in LLM_CACHE, a persistent DVC
output: a rerun makes no calls)."""
import logging
from pathlib import Path

from selfsynth.core.io import write_json
from selfsynth.core.layout import DATASET
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import load_prepared
from selfsynth.method.concepts import load_concepts, validate_concepts
from selfsynth.process.preflight import stage_start
from stages import summarize

OUT = Path("data/concepts.json")
LLM_CACHE = Path("data/concepts_llm_cache.json")
log = logging.getLogger("concepts")


def main() -> None:
    params = load_params()
    stage_start(params, tracking=False)
    dataset = load_prepared(DATASET)
    concepts, source = load_concepts(params, dataset.labels, LLM_CACHE)
    concepts = validate_concepts(concepts, dataset.class_names, source=source)
    write_json(OUT, concepts)
    if not LLM_CACHE.exists():  # declared output: present even when no LLM was asked (kept, not wiped, if it was)
        write_json(LLM_CACHE, {})
    n = sum(len(c["visual_features"]) for c in concepts.values())
    summarize(f"{source}: {len(concepts)} classes, {n} concepts")


if __name__ == "__main__":
    main()
