"""The aviary: fine-grained species, exact visibility ground truth, reproducible per seed."""
import hashlib
import itertools
import json
from pathlib import Path

import pytest

from selfsynth.core.params import WorldParams
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.concepts import concepts_from_world
from selfsynth.world.attributes import FAMILIES, HIDEABLE, contains_attribute_word, mentioned_attributes
from selfsynth.world.build import build_world

MICRO = WorldParams(seed=0, size="micro", image_size=64, hide_prob=0.3, noise=0.03)
PROMPTS = load_prompts("aviary", Path(__file__).resolve().parents[1] / "prompts").describe


def digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    build_world(MICRO, 7, root, PROMPTS)
    return root


def load(root):
    labels = json.loads((root / "labels.json").read_text())
    manifest = [json.loads(x) for x in (root / "manifest.jsonl").read_text().splitlines()]
    generic = [json.loads(x) for x in (root / "generic.jsonl").read_text().splitlines()]
    return labels, manifest, generic


def test_same_seed_gives_byte_identical_world_and_concepts(world, tmp_path):
    build_world(MICRO, 7, tmp_path, PROMPTS)
    assert digest(world) == digest(tmp_path)
    assert json.dumps(concepts_from_world(load(world)[0])) == json.dumps(concepts_from_world(load(tmp_path)[0]))


def test_another_seed_gives_another_world(world, tmp_path):
    build_world(MICRO, 8, tmp_path, PROMPTS)
    assert (world / "manifest.jsonl").read_bytes() != (tmp_path / "manifest.jsonl").read_bytes()


def test_at_least_eight_families_with_field_guide_paraphrases():
    assert len(FAMILIES) >= 8
    for fam in FAMILIES:
        for value in fam.values:
            assert len(value.concepts) >= 2, (fam.key, value.key)
            assert len(set(value.concepts)) == len(value.concepts)
            # a concept line never just repeats a caption phrasing: linking them needs an encoder
            for concept in value.concepts:
                assert mentioned_attributes(concept) == {(fam.key, value.key)}, concept


def test_species_are_fine_grained(world):
    labels, _, _ = load(world)
    attrs = [lab["attributes"] for lab in labels]
    dist = lambda a, b: sum(a[k] != b[k] for k in a)  # noqa: E731
    for a, b in itertools.combinations(attrs, 2):
        assert dist(a, b) >= 2
    for i, a in enumerate(attrs):
        siblings = [b for j, b in enumerate(attrs) if j != i and labels[j]["genus"] == labels[i]["genus"]]
        assert siblings and min(dist(a, b) for b in siblings) <= 3
    for lab in labels:
        assert not contains_attribute_word(lab["name"]), lab["name"]


def test_manifest_records_what_each_image_really_shows(world):
    labels, manifest, _ = load(world)
    assert {r["split"] for r in manifest} == {"train", "test"}
    hid_some = False
    for row in manifest:
        guide = labels[row["label"]]["concepts"]
        assert "plumage" in row["visible"]
        assert row["visible_concepts"] == [guide[f] for f in row["visible"]]
        hid_some |= len(row["visible"]) < len(FAMILIES)
        assert (world / row["image"]).is_file()
    assert hid_some


def test_generic_corpus_describes_visible_parts_and_never_names_a_species(world):
    labels, _, generic = load(world)
    names = [lab["name"].lower() for lab in labels]
    for g in generic:
        truth = {(f, g["attributes"][f]) for f in g["visible"]}
        for ex in g["examples"]:
            assert not any(n.split()[0] in ex["answer"].lower() for n in names)
            if ex["kind"] == "caption":
                assert mentioned_attributes(ex["answer"]) == truth, ex["answer"]
    assert set(HIDEABLE) <= {f.key for f in FAMILIES}



@pytest.mark.parametrize("plumage", ["ochre", "charcoal", "azure"])
def test_every_two_breast_patterns_differ_clearly_in_the_64_pixel_image(plumage):
    """Thin streaks and scallops drawn dark on a small pale patch half under the wing differed by
    ~11-18 grey levels from plain and from each other, and the frozen tower's breast probe fell to
    0.89 on two world seeds of ten (docs/verdict.md): the breast is larger, clear of the wing, and
    its patterns are told apart by more than fine texture."""
    import numpy as np

    from selfsynth.world.draw import Nuisance, render

    still = Nuisance(mirror=False, angle=0.0, scale=1.0, dx=0, dy=0, background=(215, 215, 220), noise=0.0, seed=1)
    bird = {f.key: f.values[0].key for f in FAMILIES} | {"plumage": plumage}

    def breast(pattern):  # the breast's box in the 64-pixel image (the 128-pixel canvas, halved)
        img = render(bird | {"breast": pattern}, {f.key for f in FAMILIES}, still, 64)
        return np.asarray(img.convert("L"), dtype=float)[30:46, 29:48]

    patterns = [v.key for v in FAMILIES[[f.key for f in FAMILIES].index("breast")].values]
    for a, b in itertools.combinations(patterns, 2):
        assert np.abs(breast(a) - breast(b)).mean() > 20, (a, b)
