"""Step 1.3: round-1 QA pairs that name the label and justify it with concepts.

Each method differs only in which concepts an image's answers may cite:
  nl       none — "This is an image of {label}."
  lge      the class's full concept list (label-level explanation, same for every image)
  ours     Z*, the image-level concepts kept by the information-bottleneck selection
  nofilter a random subset of the class's concepts, of the same size as Z* (no selection)
The stored pair is the bare question and the answer: the model must learn to produce the
grounded answer from the image alone.
"""
from __future__ import annotations

import random
from typing import Sequence

from ..core.layout import METHODS
from ..core.params import MixParams as Mix
from ..lmm.prompts import PromptSet
from ..metrics.identification import NameMatcher

NL_ANSWER = "This is an image of {label}."

# {object} and {category} come from the dataset's prompt file ("bird" / "species" on the aviary)
_SIMPLE = ("This is a {label}.", "The {object} in this image is a {label}.", "It is a {label}.",
           "This {object} is a {label}.")
_EXPLAIN = ("This is a {label}. It can be recognised by {features}.",
            "The {object} is a {label}, identified by {features}.",
            "This {object} is a {label}: note {features}.",
            "I believe this is a {label}, because it shows {features}.",
            "A {label}. The telling features are {features}.",
            "This looks like a {label}; what gives it away is {features}.",
            "The {category} is {label}, which the image supports with {features}.",
            "It is a {label}. You can tell from {features}.")
_COT = ("The {object} shows {features}. These features identify it as a {label}.",
        "Looking at the {object}, I see {features}. Therefore it is a {label}.",
        "First, the features: {features}. Based on them, this is a {label}.",
        "It has {features}, so the {category} is {label}.",
        "Let me look closely: {features}. Together these point to a {label}.",
        "I notice {features}. A {object} with these features is a {label}.",
        "Step by step: the image shows {features}. That combination means the {category} is {label}.",
        "Visible here are {features}. So this {object} must be a {label}.")
_TEMPLATES = {"simple": _SIMPLE, "explain": _EXPLAIN, "cot": _COT}


def join_features(features: Sequence[str]) -> str:
    feats = list(features)
    if len(feats) <= 1:
        return "".join(feats)
    return ", ".join(feats[:-1]) + " and " + feats[-1]


def template_answer(kind: str, label: str, features: Sequence[str], rng: random.Random, prompts: PromptSet) -> str:
    """Offline writer: always names the label; cites the features unless the question is simple, in
    the order given (method_features: the class's) and one of eight phrasings. With four phrasings,
    an image's answers were nearly one sentence (~1.25 distinct candidates per question by round 4);
    with features in an image-specific order (shuffled, or Z*'s by score) the tiny decoder lost track
    of what it had cited and looped (a repeated 3-gram in 29-38 % of round-2 candidates, 0 % of its
    training answers; 6 % in the class's order). docs/verdict.md, "The instrument"."""
    words = {"object": prompts.object, "category": prompts.category}
    if kind == "simple" or not features:
        return rng.choice(_SIMPLE).format(label=label, **words)
    return rng.choice(_TEMPLATES[kind]).format(label=label, features=join_features(features), **words)


def rewrite_prompt(label: str, features: Sequence[str], question: str) -> str:
    """The paper's answer-writing prompt (step 1.3), for the `lmm` writer."""
    listed = "\n".join(f"- {f}" for f in features)
    return (f"This is a picture of a {label} with the following visual features:\n{listed}\n"
            f"Based on the information provided, answer: {question}")


def names_label(answer: str, label: str) -> bool:
    return NameMatcher([label]).lenient(answer, 0)


def method_features(method: str, class_concepts: Sequence[str], zstar: Sequence[str], rng: random.Random) -> list[str]:
    """The concepts a method's answers cite, listed in the class's own order (the field guide's, head
    to tail), so that methods differ only in which concepts they cite, never in how they order them."""
    if method == "nl":
        return []
    if method == "lge":
        chosen = list(class_concepts)
    elif method == "ours":
        chosen = list(zstar)
    elif method == "nofilter":
        chosen = rng.sample(list(class_concepts), min(len(zstar), len(class_concepts)))
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    position = {c: i for i, c in enumerate(class_concepts)}
    return sorted(chosen, key=lambda c: position.get(c, len(position)))


def plan_pairs(method: str, image_id: str, label: str, class_concepts: Sequence[str], zstar: Sequence[str],
               prompts: PromptSet, n_pairs: int, mix: Mix, seed: int) -> list[dict]:
    """The questions, kinds and cited features of one image's pairs (answers still to be written)."""
    rng = random.Random(f"{seed}/{method}/{image_id}")
    features = method_features(method, class_concepts, zstar, rng)
    pools = {"simple": prompts.simple, "explain": prompts.explain, "cot": prompts.cot}
    rows = []
    for kind in mix.kinds(n_pairs, rng):
        rows.append({"image_id": image_id, "method": method, "kind": kind, "question": rng.choice(pools[kind]),
                     "label": label, "features": features})
    return rows


def write_template_answers(rows: list[dict], seed: int, prompts: PromptSet) -> list[dict]:
    out = []
    for i, row in enumerate(rows):
        rng = random.Random(f"{seed}/answer/{row['method']}/{row['image_id']}/{i}")
        answer = (NL_ANSWER.format(label=row["label"]) if row["method"] == "nl"
                  else template_answer(row["kind"], row["label"], row["features"], rng, prompts))
        out.append({**row, "answer": answer, "writer": "template"})
    return out


def accept_lmm_answers(rows: list[dict], answers: Sequence[str], seed: int, prompts: PromptSet) -> tuple[list[dict], int]:
    """Keep an LMM answer only if it names the label; otherwise fall back to the template writer,
    so no image is left without pairs (the authors' code drops them). Returns rows and fallback count."""
    fallback = write_template_answers(rows, seed, prompts)
    out, n_fallback = [], 0
    for row, answer, backup in zip(rows, answers, fallback, strict=True):
        if row["method"] != "nl" and names_label(answer, row["label"]):
            out.append({**row, "answer": answer.strip(), "writer": "lmm"})
        else:
            out.append(backup)
            n_fallback += row["method"] != "nl"
    return out, n_fallback


def template_pairs(method: str, images: Sequence[dict], concepts: dict, zstar: dict[str, list[str]],
                   prompts: PromptSet, n_pairs: int, mix: Mix, seed: int) -> list[dict]:
    """A method's pairs for every image, answered by the template writer: what nl and lge train on
    in rounds 2..K (their own kind of data, freshly phrased by the round's seed; no sampling)."""
    planned = [x for r in images for x in plan_pairs(
        method, r["id"], r["label_name"], concepts[str(r["label"])]["visual_features"], zstar[r["id"]], prompts,
        n_pairs, mix, seed)]
    paths = {r["id"]: r["image"] for r in images}
    return [{**x, "image": paths[x["image_id"]], "source": "template"}
            for x in write_template_answers(planned, seed, prompts)]
