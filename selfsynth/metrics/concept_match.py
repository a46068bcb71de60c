"""Offline EE and CS on real data, where nobody recorded which features an image shows.

The aviary's judge parses (part, value) pairs exactly; a real dataset has only each class's
concept list, so a clause of an answer cites a concept when their text embeddings are close:
  EE  share of answers with at least one clause whose best cosine to any concept of any class
      reaches `threshold` (the answer cites a visual feature).
  CS  per answer, the share of its citing clauses whose best-matching concept is one of the true
      label's concepts (0 when nothing is cited), averaged: the world judge's definition.
A concept text listed for several classes (CUB attributes are shared) counts for each of them.
Grounding needs the image's own truth and is not computed here.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from .encoders import TfidfEncoder, embed_unique, make_encoder

_CLAUSE_SPLIT = re.compile(r"[.;:!?\n,]|\band\b|\bbecause\b|\bwhich\b")


def clauses(answer: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_SPLIT.split(answer) if re.search(r"\w", c)]


def concept_explanation_rows(answers: Sequence[str], labels: Sequence[int], concepts: dict, *, encoder: str,
                             threshold: float) -> list[dict]:
    """concepts is the concepts file ({id: {name, visual_features}}); labels[i] is answers[i]'s true class.
    Each answer's EE (0/1), CS and the number of clauses that cite a concept."""
    if len(answers) != len(labels):
        raise ValueError(f"{len(answers)} answers but {len(labels)} labels")
    texts = sorted({f for entry in concepts.values() for f in entry["visual_features"]})
    owners: dict[str, set[str]] = {t: set() for t in texts}
    for key, entry in concepts.items():
        for f in entry["visual_features"]:
            owners[f].add(str(key))
    per_answer = [clauses(a) for a in answers]
    flat = [c for cs in per_answer for c in cs]
    if not answers or not texts:
        return [{"EE": 0.0, "CS": 0.0, "cited": 0} for _ in answers]
    enc = make_encoder(encoder)
    if isinstance(enc, TfidfEncoder):
        enc.fit(flat + texts)
    concept_emb = embed_unique(enc, texts, role="passage")
    clause_emb = embed_unique(enc, flat, role="query") if flat else np.zeros((0, concept_emb.shape[1]), np.float32)
    sims = clause_emb @ concept_emb.T  # (clauses, concepts); zero rows when no answer has a clause
    best, best_sim = sims.argmax(axis=1), sims.max(axis=1)
    rows, start = [], 0
    for cs, label in zip(per_answer, labels):
        hits = [best[j] for j in range(start, start + len(cs)) if best_sim[j] >= threshold]
        start += len(cs)
        rows.append({"EE": 1.0 if hits else 0.0,
                     "CS": sum(str(label) in owners[texts[k]] for k in hits) / len(hits) if hits else 0.0,
                     "cited": len(hits)})
    return rows
