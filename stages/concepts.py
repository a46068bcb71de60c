"""Step 0b: label-level expert concepts Z per class, in the authors' {id: {name, visual_features}} format,
from the source params.concepts.source names: the aviary's field guide, a JSON file, CUB-200's
attribute annotations, or an OpenAI-compatible LLM (replies cached in LLM_CACHE, a persistent DVC
output: a rerun makes no calls)."""
import logging
from pathlib import Path

from selfsynth.concept_sources import concepts_from_cub_attributes, concepts_from_json, concepts_from_llm
from selfsynth.concepts import concepts_from_world, validate_concepts
from selfsynth.data.dataset import load_prepared
from selfsynth.io import write_json
from selfsynth.params import Params, load_params
from selfsynth.preflight import stage_start

OUT = Path("data/concepts.json")
LLM_CACHE = Path("data/concepts_llm_cache.json")
log = logging.getLogger("concepts")


def load_concepts(params: Params, labels: list[dict]) -> tuple[dict, str]:
    """The concepts and a name for their source (used in error messages)."""
    c = params.concepts
    names = [lab["name"] for lab in labels]
    if c.source == "world":
        return concepts_from_world(labels), "world field guide"
    if c.source == "json":
        return concepts_from_json(c.path, names), c.path
    if c.source == "cub_attributes":
        return (concepts_from_cub_attributes(params.dataset.root, names, c.threshold, c.max_per_class),
                f"CUB attributes at {params.dataset.root}")
    if c.source == "llm":
        return (concepts_from_llm(names, base_url=c.llm.base_url, model=c.llm.model, api_key_env=c.llm.api_key_env,
                                  domain=c.llm.domain, cache_path=LLM_CACHE),
                f"LLM {c.llm.model!r} at {c.llm.base_url}")
    raise ValueError(f"params.yaml: concepts.source: unknown source {c.source!r}")


def main() -> None:
    params = load_params()
    stage_start(params, tracking=False)
    world = load_prepared("data/world")
    concepts, source = load_concepts(params, world.labels)
    concepts = validate_concepts(concepts, world.class_names, source=source)
    write_json(OUT, concepts)
    if not LLM_CACHE.exists():  # declared output: present even when no LLM was asked (kept, not wiped, if it was)
        write_json(LLM_CACHE, {})
    log.info("%s: wrote %d classes, %d concepts", source, len(concepts),
             sum(len(c["visual_features"]) for c in concepts.values()))


if __name__ == "__main__":
    main()
