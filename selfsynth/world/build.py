"""Build the aviary on disk: species, class images with exact visibility, and a generic corpus.

Every random draw comes from a generator seeded by (seed, split, index), so the same seed
gives byte-identical files whatever the order or number of workers.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from ..core.io import dump_jsonl, write_json
from ..core.params import WorldParams
from .attributes import FAMILIES, FAMILY_BY_KEY, HIDEABLE
from .draw import Nuisance, render
from .species import Species, make_species
from .text import attribute_qa, caption

CAPTIONS_PER_IMAGE = 2
QUESTIONS_PER_IMAGE = 3


def _rng(seed: int, *key) -> random.Random:
    return random.Random("/".join(map(str, (seed,) + key)))


def _visible(rng: random.Random, hide_prob: float) -> set[str]:
    shown = {f.key for f in FAMILIES if not f.hideable}
    return shown | {k for k in HIDEABLE if rng.random() >= hide_prob}


def field_guide(species: list[Species], seed: int) -> list[dict]:
    """One expert line per attribute of each species, paraphrase drawn per species."""
    out = []
    for sp in species:
        rng = _rng(seed, "guide", sp.id)
        concepts = {f.key: rng.choice(f.value(sp.attributes[f.key]).concepts) for f in FAMILIES}
        out.append({"id": sp.id, "name": sp.name, "genus": sp.genus,
                    "attributes": sp.attributes, "concepts": concepts})
    return out


def build_world(world: WorldParams, seed: int, out: Path, describe_prompts: Sequence[str]) -> dict:
    """Write labels.json, manifest.jsonl, generic.jsonl and images/ under out; return a summary.
    Captions answer the dataset's own describe prompts, so the describe step asks what was taught."""
    counts = world.counts
    species = make_species(counts.n_genera, counts.species_per_genus, _rng(seed, "species"))
    labels = field_guide(species, seed)
    write_json(out / "labels.json", labels)

    jobs = [(split, sp, i) for sp in species for split, n in
            (("train", counts.train_per_class), ("test", counts.test_per_class)) for i in range(n)]
    manifest = []
    for split, sp, i in tqdm(jobs, desc="world: class images", mininterval=2):
        rng = _rng(seed, split, sp.id, i)
        visible = _visible(rng, world.hide_prob)
        image_id = f"{split}-{sp.id:03d}-{i:04d}"
        rel = f"images/{split}/{image_id}.png"
        render(sp.attributes, visible, Nuisance.sample(rng, world.noise), world.image_size).save(out / _mk(out, rel))
        guide = labels[sp.id]["concepts"]
        manifest.append({
            "id": image_id, "image": rel, "split": split, "label": sp.id, "label_name": sp.name,
            "visible": [f.key for f in FAMILIES if f.key in visible],
            "visible_concepts": [guide[f.key] for f in FAMILIES if f.key in visible],
        })
    dump_jsonl(out / "manifest.jsonl", manifest)

    generic = build_generic(world, seed, out, describe_prompts)
    return {"classes": len(species), "train_images": sum(r["split"] == "train" for r in manifest),
            "test_images": sum(r["split"] == "test" for r in manifest), "generic_images": len(generic),
            "families": len(FAMILIES), "attribute_values": sum(len(f.values) for f in FAMILIES),
            "hideable": len(HIDEABLE), "part_names": [FAMILY_BY_KEY[k].part for k in HIDEABLE]}


def build_generic(world: WorldParams, seed: int, out: Path, describe_prompts: Sequence[str]) -> list[dict]:
    """Write generic.jsonl and images/generic-*/ under out; return the rows. Its own draws, so it
    is the same corpus whether it sits beside the aviary's species or a real dataset's classes
    (the tiny base model is pretrained on it, and general ability is measured on it)."""
    generic = []
    counts = world.counts
    gjobs = [(split, i) for split, n in (("train", counts.generic_train), ("test", counts.generic_test)) for i in range(n)]
    for split, i in tqdm(gjobs, desc="world: generic corpus", mininterval=2):
        rng = _rng(seed, "generic", split, i)
        attributes = {f.key: rng.choice(f.values).key for f in FAMILIES}
        visible = _visible(rng, world.hide_prob)
        rel = f"images/generic-{split}/g{i:05d}.png"
        render(attributes, visible, Nuisance.sample(rng, world.noise), world.image_size).save(out / _mk(out, rel))
        examples = [{"kind": "caption", "prompt": rng.choice(describe_prompts), "answer": caption(attributes, visible, rng)}
                    for _ in range(CAPTIONS_PER_IMAGE)]
        for fam in rng.sample([f.key for f in FAMILIES], QUESTIONS_PER_IMAGE):
            q, a = attribute_qa(fam, attributes, visible, rng)
            examples.append({"kind": "attribute", "family": fam, "prompt": q, "answer": a})
        generic.append({"id": f"g-{split}-{i:05d}", "image": rel, "split": split, "attributes": attributes,
                        "visible": [f.key for f in FAMILIES if f.key in visible], "examples": examples})
    dump_jsonl(out / "generic.jsonl", generic)
    return generic


def _mk(root: Path, rel: str) -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    return rel
