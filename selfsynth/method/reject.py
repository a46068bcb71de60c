"""Step 2.6, reward-model-free rejection sampling (docs/method.md, step 2.6).

Of the c candidates that step 2.5 (method/generate.py) sampled per question, one is kept:
  ours      the candidate with the highest InfoNCE score against the image's Z* (negatives: every
            other concept of every class, the positives excluded), kept only if it names the label;
            otherwise the fallback pair "This is an image of {label}." to a simple question, so
            every image keeps q pairs (the authors' code never uses its fallback).
  nofilter  rejection.nofilter gated (default): a random candidate, then ours' label gate and
            fallback — the paper's w/o filtering, differing from ours only in the score's choice.
            Ablations: label_checked, a random candidate among those that name the label (a gate
            before choosing, so it falls back less than ours); random, no label check at all.
"Names the label" is rejection.label_match: anywhere (the label string occurs, lenient) or first
(the first species named is the label, the strict accuracy's rule).
No learned reward anywhere: only the label check and the concept score.
"""
from __future__ import annotations

import random
from typing import Callable, Sequence

import numpy as np

from ..lmm.prompts import PromptSet
from ..metrics.encoders import TextEncoder, TfidfEncoder, embed_unique
from ..metrics.identification import NameMatcher
from ..metrics.wellformed import has_repeated_ngram
from .infonce import infonce_answer_score
from .synthesize import NL_ANSWER, names_label


LabelCheck = Callable[[str, str], bool]  # (answer, label name) -> does the answer name the label


def label_check_for(mode: str, class_names: Sequence[str]) -> LabelCheck:
    """anywhere: the label occurs (several species may be named); first: the first species the
    answer names is the label — as strict as the headline accuracy."""
    if mode == "anywhere":
        return names_label
    if mode == "first":
        matcher = NameMatcher(class_names)
        index = {name: i for i, name in enumerate(class_names)}
        return lambda answer, label: matcher.predict(answer) == index[label]
    raise ValueError(f"rejection.label_match: unknown value {mode!r}")


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


def keep_best(group: dict, scores: Sequence[float], label_check: str,
              names: LabelCheck = names_label) -> tuple[int | None, float]:
    """Index of the kept candidate (None: fall back) and its score.
    after_score: the paper — the top-scored candidate, kept only if it names the label.
    before_score: the top-scored among the candidates that name the label.
    names: what naming the label means (label_check_for)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if label_check == "after_score":
        best = order[0]
        return (best if names(group["candidates"][best], group["label"]) else None), scores[best]
    if label_check == "before_score":
        for i in order:
            if names(group["candidates"][i], group["label"]):
                return i, scores[i]
        return None, scores[order[0]]
    raise ValueError(f"rejection.label_check: unknown value {label_check!r}")


def pairs_for_ours(groups: Sequence[dict], scores: Sequence[Sequence[float]], prompts: PromptSet, label_check: str,
                   seed: int, rnd: int, names: LabelCheck = names_label) -> list[dict]:
    out = []
    for g, s in zip(groups, scores, strict=True):
        kept, score = keep_best(g, s, label_check, names)
        base = {"image_id": g["image_id"], "image": g["image"], "method": "ours", "label": g["label"], "score": score}
        if kept is None:
            out.append({**base, **fallback_pair(g, prompts.simple, seed, rnd)})
        else:
            out.append({**base, "kind": g["kind"], "question": g["question"], "answer": g["candidates"][kept],
                        "source": "candidate"})
    return out


def pairs_for_nofilter(groups: Sequence[dict], seed: int, rnd: int, variant: str = "gated",
                       prompts: PromptSet | None = None, names: LabelCheck = names_label) -> list[dict]:
    """gated: a random candidate, kept only if it names the label, else the fallback pair — ours
    with a random pick in place of the concept score. label_checked: a random candidate among those
    that name the label, else the fallback. random: any candidate, wrong labels included."""
    if variant not in ("gated", "random", "label_checked"):
        raise ValueError(f"rejection.nofilter: unknown value {variant!r}")
    if variant != "random" and prompts is None:
        raise ValueError(f"nofilter {variant} needs the prompts for its fallback pairs")
    out = []
    for g in groups:
        rng = random.Random(f"{seed}/round-{rnd}/nofilter/{g['image_id']}/{g['question_index']}")
        base = {"image_id": g["image_id"], "image": g["image"], "method": "nofilter", "label": g["label"]}
        pool = [c for c in g["candidates"] if names(c, g["label"])] if variant == "label_checked" else g["candidates"]
        pick = rng.choice(pool) if pool else None
        if pick is not None and (variant == "random" or names(pick, g["label"])):
            out.append({**base, "kind": g["kind"], "question": g["question"], "answer": pick, "source": "candidate"})
        else:
            out.append({**base, **fallback_pair(g, prompts.simple, seed, rnd)})
    return out


def choice_matters(groups: Sequence[dict], scores: Sequence[Sequence[float]], names: LabelCheck = names_label) -> float:
    """How often the score's choice differs from a random pick among the label-passing candidates:
    the chance, averaged over questions with one, that a random passing candidate is another text
    than the top-scored passing one. 0 means step 2.6's score had nothing to choose."""
    differ = []
    for g, s in zip(groups, scores, strict=True):
        passing = [i for i, c in enumerate(g["candidates"]) if names(c, g["label"])]
        if passing:
            best = g["candidates"][max(passing, key=lambda i: (s[i], -i))]
            differ.append(sum(g["candidates"][i] != best for i in passing) / len(passing))
    return float(np.mean(differ)) if differ else 0.0


def rejection_stats(pairs: Sequence[dict], groups: Sequence[dict], class_names: Sequence[str] | None = None) -> dict:
    """Acceptance and fallback rates, and how often any candidate named the label at all. With the
    class names also how strict the kept answers are: the share naming the label first, and the
    share naming more than one species."""
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
            "distinct_candidates": float(np.mean([len(set(g["candidates"])) for g in groups])) if groups else 0.0,
            "looping_candidates": (sum(has_repeated_ngram(c) for g in groups for c in g["candidates"]) / n_cand
                                   if n_cand else 0.0),
            **(kept_strictness(kept, class_names) if class_names is not None else {})}


def kept_strictness(kept: Sequence[dict], class_names: Sequence[str]) -> dict:
    first = label_check_for("first", class_names)
    matcher = NameMatcher(class_names)
    several = sum(len(set(matcher.named(p["answer"]))) > 1 for p in kept)
    return {"kept_names_label_first": sum(first(p["answer"], p["label"]) for p in kept) / len(kept) if kept else 0.0,
            "kept_names_several_species": several / len(kept) if kept else 0.0}
