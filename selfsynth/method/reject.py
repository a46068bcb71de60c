"""Step 2.6, reward-model-free rejection sampling (docs/method.md, step 2.6).

Of the c candidates that step 2.5 (method/generate.py) sampled per question, one is kept:
  ours      the candidate with the highest InfoNCE score against the image's Z* (negatives: every
            other concept of every class, the positives excluded), kept only if it names the label;
            otherwise the fallback pair "This is an image of {label}." to a simple question, so
            every image keeps q pairs (the authors' code never uses its fallback).
  nofilter  a random candidate, no score and no label check.
No learned reward anywhere: only the label check and the concept score.
"""
from __future__ import annotations

import random
from typing import Sequence

import numpy as np

from ..lmm.prompts import PromptSet
from ..metrics.encoders import TextEncoder, TfidfEncoder, embed_unique
from .select import infonce_answer_score
from .synthesize import NL_ANSWER, names_label


def score_candidates(groups: Sequence[dict], zstar: dict[str, list[str]], concept_texts: Sequence[str],
                     encoder: TextEncoder, tau: float) -> list[list[float]]:
    """InfoNCE score S(y) of every candidate of every question against its image's Z*."""
    concepts = sorted(set(concept_texts))
    index = {c: i for i, c in enumerate(concepts)}
    flat = [c for g in groups for c in g["candidates"]]
    if isinstance(encoder, TfidfEncoder):
        encoder.fit(flat + concepts)
    concept_emb = embed_unique(encoder, concepts, role="passage")
    cand_emb = embed_unique(encoder, flat, role="query")
    scores, start = [], 0
    for g in groups:
        k = len(g["candidates"])
        positives = zstar[g["image_id"]]
        pos = [index[z] for z in positives]
        neg = [i for c, i in index.items() if c not in set(positives)]
        s = infonce_answer_score(cand_emb[start:start + k], concept_emb[pos], concept_emb[neg], tau)
        scores.append([float(x) for x in s])
        start += k
    return scores


def fallback_pair(group: dict, simple_questions: Sequence[str], seed: int, rnd: int) -> dict:
    rng = random.Random(f"{seed}/round-{rnd}/fallback/{group['image_id']}/{group['question_index']}")
    return {"kind": "simple", "question": rng.choice(simple_questions), "answer": NL_ANSWER.format(label=group["label"]),
            "source": "fallback"}


def keep_best(group: dict, scores: Sequence[float], label_check: str) -> tuple[int | None, float]:
    """Index of the kept candidate (None: fall back) and its score.
    after_score: the paper — the top-scored candidate, kept only if it names the label.
    before_score: the top-scored among the candidates that name the label."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if label_check == "after_score":
        best = order[0]
        return (best if names_label(group["candidates"][best], group["label"]) else None), scores[best]
    if label_check == "before_score":
        for i in order:
            if names_label(group["candidates"][i], group["label"]):
                return i, scores[i]
        return None, scores[order[0]]
    raise ValueError(f"rejection.label_check: unknown value {label_check!r}")


def pairs_for_ours(groups: Sequence[dict], scores: Sequence[Sequence[float]], prompts: PromptSet, label_check: str,
                   seed: int, rnd: int) -> list[dict]:
    out = []
    for g, s in zip(groups, scores, strict=True):
        kept, score = keep_best(g, s, label_check)
        base = {"image_id": g["image_id"], "image": g["image"], "method": "ours", "label": g["label"], "score": score}
        if kept is None:
            out.append({**base, **fallback_pair(g, prompts.simple, seed, rnd)})
        else:
            out.append({**base, "kind": g["kind"], "question": g["question"], "answer": g["candidates"][kept],
                        "source": "candidate"})
    return out


def pairs_for_nofilter(groups: Sequence[dict], seed: int, rnd: int) -> list[dict]:
    out = []
    for g in groups:
        rng = random.Random(f"{seed}/round-{rnd}/nofilter/{g['image_id']}/{g['question_index']}")
        out.append({"image_id": g["image_id"], "image": g["image"], "method": "nofilter", "label": g["label"],
                    "kind": g["kind"], "question": g["question"], "answer": rng.choice(g["candidates"]),
                    "source": "candidate"})
    return out


def rejection_stats(pairs: Sequence[dict], groups: Sequence[dict]) -> dict:
    """Acceptance and fallback rates, and how often any candidate named the label at all."""
    n = len(pairs)
    named_any = sum(any(names_label(c, g["label"]) for c in g["candidates"]) for g in groups)
    named_all = sum(names_label(c, g["label"]) for g in groups for c in g["candidates"])
    n_cand = sum(len(g["candidates"]) for g in groups)
    kept = [p for p in pairs if p.get("source") == "candidate"]
    return {"pairs": n, "accepted": len(kept) / n if n else 0.0,
            "fallback": sum(p.get("source") == "fallback" for p in pairs) / n if n else 0.0,
            "kept_names_label": sum(names_label(p["answer"], p["label"]) for p in kept) / len(kept) if kept else 0.0,
            "candidates_name_label": named_all / n_cand if n_cand else 0.0,
            "questions_with_a_correct_candidate": named_any / len(groups) if groups else 0.0,
            "distinct_candidates": float(np.mean([len(set(g["candidates"])) for g in groups])) if groups else 0.0}
