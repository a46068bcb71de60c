"""Species of the aviary: one attribute combination each, grouped in genera of near-twins.

Fine-grained means siblings look alike: every species has a sibling that differs in only
2-3 attributes, and no two species are closer than 2 attributes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .attributes import FAMILIES, contains_attribute_word

GENUS_NOUNS = (
    "Warbler", "Finch", "Thrush", "Tanager", "Shrike", "Wren", "Sparrow", "Oriole",
    "Flycatcher", "Vireo", "Bunting", "Pipit", "Kinglet", "Grosbeak", "Starling", "Lark",
)
# drawn from only where a world has more genera than GENUS_NOUNS, so that smaller worlds keep their names
MORE_GENUS_NOUNS = (
    "Swallow", "Swift", "Martin", "Nuthatch", "Creeper", "Titmouse", "Chickadee", "Bushtit", "Gnatcatcher",
    "Thrasher", "Mockingbird", "Catbird", "Towhee", "Junco", "Cowbird", "Grackle", "Meadowlark", "Bobolink",
    "Phoebe", "Pewee", "Kingbird", "Ovenbird", "Cuckoo", "Nightjar", "Kingfisher", "Woodpecker", "Flicker",
    "Magpie", "Nutcracker", "Dipper", "Bulbul", "Babbler", "Sunbird", "Weaver", "Siskin", "Linnet", "Wagtail",
    "Drongo", "Minivet", "Manakin",
)
_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "br", "gr", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei")
_CODAS = ("n", "l", "r", "s", "th", "x", "m", "")


@dataclass(frozen=True)
class Species:
    id: int
    name: str
    genus: str
    attributes: dict  # family key -> value key


def _epithet(rng: random.Random) -> str:
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 2)))
    return (word + rng.choice(_CODAS)).capitalize()


def _distance(a: dict, b: dict) -> int:
    return sum(a[k] != b[k] for k in a)


def make_species(n_genera: int, per_genus: int, rng: random.Random) -> list[Species]:
    nouns = GENUS_NOUNS if n_genera <= len(GENUS_NOUNS) else GENUS_NOUNS + MORE_GENUS_NOUNS
    if n_genera > len(nouns):
        raise ValueError(f"world.n_genera: at most {len(nouns)} genera, got {n_genera}")
    genus_names = rng.sample(nouns, n_genera)
    combos: list[dict] = []
    species: list[Species] = []
    used_names: set[str] = set()
    for genus in genus_names:
        siblings: list[dict] = []
        for _ in range(per_genus):
            combo = _next_sibling(siblings, combos, rng)
            siblings.append(combo)
            combos.append(combo)
            name = _species_name(genus, rng, used_names)
            species.append(Species(len(species), name, genus, combo))
    return species


def _random_combo(rng: random.Random) -> dict:
    return {f.key: rng.choice(f.values).key for f in FAMILIES}


def _next_sibling(siblings: list[dict], everyone: list[dict], rng: random.Random) -> dict:
    for _ in range(10_000):
        if not siblings:
            combo = _random_combo(rng)
        else:
            combo = dict(rng.choice(siblings))
            for fam in rng.sample(FAMILIES, rng.choice((2, 3))):
                combo[fam.key] = rng.choice([v.key for v in fam.values if v.key != combo[fam.key]])
            if min(_distance(combo, s) for s in siblings) < 2:
                continue
        if all(_distance(combo, other) >= 2 for other in everyone):
            return combo
    raise RuntimeError("could not place a new species: the world is too crowded for its attribute space")


def _species_name(genus: str, rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{_epithet(rng)} {genus}"
        # a name must never give away an attribute ("Redd Finch" would read as red plumage)
        if name not in used and not contains_attribute_word(name) and len(name.split()[0]) >= 4:
            used.add(name)
            return name
