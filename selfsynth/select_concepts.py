"""Step 1.2 on a prepared dataset: embed descriptions and concepts, select Z* per image, and score
the selection against the world's ground truth next to two references."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .encoders import TfidfEncoder, embed_unique, make_encoder
from .selection import SelectionError, select_concepts


@dataclass(frozen=True)
class SelectionInputs:
    """Embedded descriptions and concepts of a set of images: embed once, select at any beta."""
    images: list
    desc_emb: np.ndarray
    desc_owner: np.ndarray
    concept_emb: np.ndarray
    concept_class: np.ndarray
    concept_texts: list


def embed_for_selection(images: Sequence[dict], descriptions: Sequence[dict], concepts: dict,
                        encoder: str) -> SelectionInputs:
    by_image = defaultdict(list)
    for d in descriptions:
        by_image[d["id"]].append(d["text"])
    for row in images:
        if not by_image.get(row["id"]):
            raise SelectionError(f"image {row['id']} ({row['image']}) has no descriptions in the describe output")
    desc_texts, desc_owner = [], []
    for i, row in enumerate(images):
        desc_texts += by_image[row["id"]]
        desc_owner += [i] * len(by_image[row["id"]])
    concept_texts, concept_class = [], []
    for k in sorted({r["label"] for r in images}):
        feats = concepts.get(str(k), {}).get("visual_features") or []
        if not feats:
            raise SelectionError(f"class {k} has no concepts in data/concepts.json")
        concept_texts += feats
        concept_class += [k] * len(feats)

    enc = make_encoder(encoder)
    if isinstance(enc, TfidfEncoder):
        enc.fit(desc_texts + concept_texts)
    return SelectionInputs(list(images), embed_unique(enc, desc_texts, role="query"), np.asarray(desc_owner),
                           embed_unique(enc, concept_texts, role="passage"), np.asarray(concept_class), concept_texts)


def select_from(inputs: SelectionInputs, *, beta: float, tau: float, min_concepts: int) -> list[dict]:
    """One row per image: Z* (best first) and the score of every concept of its class."""
    sels = select_concepts(inputs.desc_emb, inputs.desc_owner, inputs.concept_emb, inputs.concept_class,
                           np.asarray([r["label"] for r in inputs.images]), beta=beta, tau=tau,
                           min_concepts=min_concepts)
    texts = inputs.concept_texts
    return [{"id": row["id"], "label": row["label"], "zstar": [texts[j] for j in sel.selected],
             "scores": {texts[j]: float(s) for j, s in zip(sel.concepts, sel.scores)}}
            for row, sel in zip(inputs.images, sels, strict=True)]


def select_for_images(images: Sequence[dict], descriptions: Sequence[dict], concepts: dict, *, encoder: str,
                      beta: float, tau: float, min_concepts: int) -> list[dict]:
    return select_from(embed_for_selection(images, descriptions, concepts, encoder), beta=beta, tau=tau,
                       min_concepts=min_concepts)


def _prf(selected: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> dict:
    tp = sum(len(set(s) & set(t)) for s, t in zip(selected, truth))
    n_sel = sum(len(s) for s in selected)
    n_true = sum(len(t) for t in truth)
    p = tp / n_sel if n_sel else 0.0
    r = tp / n_true if n_true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "per_image": n_sel / max(1, len(selected))}


def selection_quality(rows: Sequence[dict], images: Sequence[dict], concepts: dict, seed: int) -> dict:
    """Z* against the concepts each image really shows, beside 'all class concepts' and a random
    subset of the same size (the selection must beat both to be worth its compute)."""
    truth = [img["visible_concepts"] for img in images]
    rng = random.Random(seed)
    every = [concepts[str(r["label"])]["visual_features"] for r in rows]
    rand = [rng.sample(all_c, len(r["zstar"])) for r, all_c in zip(rows, every)]
    return {"selected": _prf([r["zstar"] for r in rows], truth), "all_class_concepts": _prf(every, truth),
            "random_same_size": _prf(rand, truth)}


def keep_descriptions(inputs: SelectionInputs, per_image: int, seed: int) -> SelectionInputs:
    """The same embeddings with at most `per_image` descriptions per image (the paper's Figure 5
    axis) — a subset of rows, so no text is embedded twice."""
    rng = np.random.default_rng(seed)
    keep = []
    for i in range(len(inputs.images)):
        rows = np.flatnonzero(inputs.desc_owner == i)
        keep.extend(rows if len(rows) <= per_image else np.sort(rng.choice(rows, per_image, replace=False)))
    keep = np.asarray(keep, dtype=int)
    return SelectionInputs(inputs.images, inputs.desc_emb[keep], inputs.desc_owner[keep], inputs.concept_emb,
                           inputs.concept_class, inputs.concept_texts)


def selection_sweep(inputs_by_encoder: dict[str, SelectionInputs], images: Sequence[dict], concepts: dict, *,
                    betas: Sequence[float], per_image: Sequence[int], main_encoder: str, beta: float, tau: float,
                    min_concepts: int, seed: int) -> dict:
    """Selection quality over the beta grid for each text encoder, and against the number of
    descriptions per image: the ablations that need no retraining."""
    def quality(inputs, b):
        rows = select_from(inputs, beta=b, tau=tau, min_concepts=min_concepts)
        q = selection_quality(rows, images, concepts, seed)
        return {**q["selected"], "all_class_concepts_f1": q["all_class_concepts"]["f1"],
                "random_same_size_f1": q["random_same_size"]["f1"]}

    return {"beta": {enc: {str(b): quality(inputs, b) for b in betas} for enc, inputs in inputs_by_encoder.items()},
            "descriptions_per_image": {str(k): quality(keep_descriptions(inputs_by_encoder[main_encoder], k, seed), beta)
                                       for k in per_image}}
