"""The world's generic text: captions and attribute questions that describe, never identify.

This is what the base model is pretrained on, so it learns to describe what it sees in
many phrasings but has never seen a species name — the state LLaVA-1.5 is in on CUB.
"""
from __future__ import annotations

import random

from .attributes import FAMILIES, FAMILY_BY_KEY

def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def phrase(family: str, value: str, rng: random.Random) -> str:
    fam = FAMILY_BY_KEY[family]
    return rng.choice(fam.caption_templates).format(w=rng.choice(fam.value(value).words))


def caption(attributes: dict, visible: set[str], rng: random.Random) -> str:
    """All visible parts, head to tail, each in a random phrasing; hidden parts unmentioned."""
    clauses = [phrase(f.key, attributes[f.key], rng) for f in FAMILIES if f.key in visible]
    sentences, i = [], 0
    while i < len(clauses):
        take = 2 if i + 1 < len(clauses) and rng.random() < 0.5 else 1
        sentences.append(_cap(" and ".join(clauses[i:i + take])) + ".")
        i += take
    return " ".join(sentences)


def attribute_qa(family: str, attributes: dict, visible: set[str], rng: random.Random) -> tuple[str, str]:
    fam = FAMILY_BY_KEY[family]
    question = rng.choice(fam.questions)
    if family in visible:
        return question, _cap(phrase(family, attributes[family], rng)) + "."
    return question, f"The {fam.part} {'are' if fam.part.endswith('s') else 'is'} not visible in this image."
