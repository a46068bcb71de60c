"""Steps 2.5 / 2.6 as specifications: which candidate is kept, when the fallback is used, and that
the concept score excludes the image's own concepts from the negatives."""
import random

import numpy as np
import pytest

from selfsynth.core.params import MixParams
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.generate import plan_questions
from selfsynth.method.reject import keep_best, pairs_for_nofilter, pairs_for_ours, rejection_stats, score_candidates
from tests.conftest import REPO

PROMPTS = load_prompts("aviary", REPO / "prompts")


def group(candidates, label="Bothis Kinglet", image_id="img-1", q=0):
    return {"image_id": image_id, "image": "images/x.png", "label": label, "question_index": q, "kind": "explain",
            "question": "Why?", "candidates": candidates}


def test_questions_are_explain_or_cot_only_and_shared_across_methods():
    images = [{"id": f"i{k}", "image": f"{k}.png", "label_name": "A b"} for k in range(5)]
    plan = plan_questions(images, PROMPTS, 4, MixParams(simple=0.4, explain=0.2, cot=0.4), seed=0, rnd=2)
    assert len(plan) == 20
    assert {q["kind"] for q in plan} <= {"explain", "cot"}
    assert all(q["question"] in PROMPTS.explain + PROMPTS.cot for q in plan)
    assert plan == plan_questions(images, PROMPTS, 4, MixParams(simple=0.4, explain=0.2, cot=0.4), seed=0, rnd=2)
    assert plan != plan_questions(images, PROMPTS, 4, MixParams(simple=0.4, explain=0.2, cot=0.4), seed=0, rnd=3)


def test_paper_order_takes_the_top_candidate_and_falls_back_when_it_misses_the_label():
    g = group(["It is a Mossy Wren.", "This is a Bothis Kinglet with a crest.", "A bird."])
    assert keep_best(g, [3.0, 2.0, 1.0], "after_score") == (None, 3.0)     # top one names the wrong class
    assert keep_best(g, [1.0, 2.0, 3.0], "after_score") == (None, 3.0)     # top one names none
    assert keep_best(g, [1.0, 3.0, 2.0], "after_score") == (1, 3.0)
    assert keep_best(g, [3.0, 2.0, 1.0], "before_score") == (1, 2.0)       # label first, then the score


def test_ours_keeps_one_pair_per_question_with_a_named_label_or_the_fallback():
    groups = [group(["This is a Bothis Kinglet.", "no idea"], q=0), group(["no idea", "Mossy Wren"], q=1)]
    pairs = pairs_for_ours(groups, [[1.0, 0.5], [2.0, 1.0]], PROMPTS, "after_score", seed=0, rnd=2)
    assert [p["source"] for p in pairs] == ["candidate", "fallback"]
    assert pairs[0]["answer"] == "This is a Bothis Kinglet." and pairs[0]["question"] == "Why?"
    assert pairs[1]["answer"] == "This is an image of Bothis Kinglet." and pairs[1]["kind"] == "simple"
    assert pairs[1]["question"] in PROMPTS.simple
    stats = rejection_stats(pairs, groups)
    assert stats["accepted"] == 0.5 and stats["fallback"] == 0.5 and stats["candidates_name_label"] == 0.25


def test_nofilter_takes_a_seeded_random_candidate_without_any_check():
    groups = [group([f"answer {k}" for k in range(5)], q=q) for q in range(20)]
    pairs = pairs_for_nofilter(groups, seed=0, rnd=2, variant="random")
    assert all(p["source"] == "candidate" and p["answer"].startswith("answer") for p in pairs)
    assert len({p["answer"] for p in pairs}) > 1
    assert pairs == pairs_for_nofilter(groups, seed=0, rnd=2, variant="random")


class BagOfWords:
    """A transparent text encoder: one dimension per vocabulary word."""
    vocab = ["red", "blue", "crest", "forked", "tail", "bars", "spots"]

    def encode(self, texts, *, role="query"):
        x = np.array([[t.lower().count(w) for w in self.vocab] for t in texts], dtype=float) + 1e-3
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_score_prefers_candidates_citing_the_images_own_concepts():
    concepts = ["red plumage", "a crest", "forked tail", "blue plumage", "wing bars", "spots"]
    zstar = {"img-1": ["red plumage", "a crest"]}
    g = group(["red and a crest", "blue with spots", "forked tail"])
    (scores,) = score_candidates([g], zstar, concepts, BagOfWords(), tau=0.1)
    assert scores[0] == max(scores)
    assert scores[1] < scores[0] and scores[2] < scores[0]


def test_positives_are_excluded_from_the_negatives():
    """If Z* were left among the negatives (the authors' bug), a candidate matching Z* perfectly
    would be penalised by its own concepts; excluded, its score approaches the maximum, 0."""
    concepts = ["red plumage", "blue plumage"]
    (scores,) = score_candidates([group(["red"])], {"img-1": ["red plumage"]}, concepts, BagOfWords(), tau=0.1)
    assert scores[0] > -0.01
