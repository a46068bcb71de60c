"""Step 1.2 concept selection and the step 2.6 answer score."""
from __future__ import annotations

import numpy as np
import pytest

from selfsynth.method.infonce import infonce_answer_score
from selfsynth.method.select import (SelectionError, reference_select_concepts,
                                 select_concepts)


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def random_problem(seed=0, n_images=40, n_classes=6, d=32):
    """Uneven descriptions per image and concepts per class, descriptions not grouped by image."""
    rng = np.random.default_rng(seed)
    image_class = rng.integers(0, n_classes, n_images)
    image_class[:n_classes] = np.arange(n_classes)
    desc_owner = rng.permutation(np.repeat(np.arange(n_images), rng.integers(1, 9, n_images)))
    concept_class = np.repeat(np.arange(n_classes), rng.integers(1, 9, n_classes))
    return unit(rng, desc_owner.size, d), desc_owner, unit(rng, concept_class.size, d), concept_class, image_class


def onehot(d, *idx, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((len(idx), d), np.float32)
    x[np.arange(len(idx)), idx] = 1
    x += noise * rng.standard_normal(x.shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("tau,beta", [(0.1, 0.4), (0.05, 0.0), (0.01, 1.0), (1.0, -0.5)])
def test_fast_equals_reference(tau, beta):
    prob = random_problem(seed=int(tau * 1000))
    kw = dict(beta=beta, tau=tau, min_concepts=3)
    fast = select_concepts(*prob, **kw)
    ref = reference_select_concepts(*prob, **kw)
    assert len(fast) == len(ref) == prob[4].size
    for f, r in zip(fast, ref):
        assert (f.image, f.cls) == (r.image, r.cls)
        np.testing.assert_array_equal(f.concepts, r.concepts)
        # float32 similarities from differently shaped matrix products differ in the last bit
        np.testing.assert_allclose(f.scores, r.scores, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(f.selected, r.selected)


def test_reference_on_a_subset_matches():
    prob = random_problem(seed=3)
    sub = np.array([5, 1, 17])
    ref = reference_select_concepts(*prob, beta=0.4, tau=0.1, min_concepts=3, images=sub)
    fast = select_concepts(*prob, beta=0.4, tau=0.1, min_concepts=3)
    assert [r.image for r in ref] == [5, 1, 17]
    for r in ref:
        np.testing.assert_array_equal(r.selected, fast[r.image].selected)


def test_beta_rule():
    prob = random_problem(seed=1, n_images=30)
    concept_class = prob[3]
    sizes = np.bincount(concept_class)
    previous = None
    for beta in (-2.0, -0.5, 0.0, 0.4, 1.0, 3.0):
        sels = select_concepts(*prob, beta=beta, tau=0.1, min_concepts=3)
        counts = np.array([s.selected.size for s in sels])
        for s in sels:
            m = sizes[s.cls]
            assert s.selected.size >= min(3, m)          # never fewer than min_concepts
            assert set(s.selected) <= set(s.concepts)
            picked = s.scores[np.searchsorted(s.concepts, s.selected)]
            assert np.all(np.diff(picked) <= 0)           # best first
            if s.selected.size > min(3, m):               # extra ones passed the threshold
                assert np.all(picked > s.threshold)
            if m <= 3:
                assert s.selected.size == m               # a small class: all its concepts
        if previous is not None:
            assert np.all(counts <= previous)             # more compression, fewer concepts
        previous = counts
    assert previous.min() == min(3, sizes.min())


def test_matching_concept_scores_higher():
    d = 8
    # class 0 concepts: "red" (axis 0), "forked tail" (axis 1), "long bill" (axis 2); class 1: axis 3
    concepts = onehot(d, 0, 1, 2, 3)
    concept_class = np.array([0, 0, 0, 1])
    # image 0 (class 0) is described as red, image 1 (class 0) as forked, image 2 (class 1) as axis 3
    descs = np.concatenate([onehot(d, 0, 0, 0, noise=0.1, seed=1), onehot(d, 1, 1, 1, noise=0.1, seed=2),
                            onehot(d, 3, 3, noise=0.1, seed=3)])
    owner = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    image_class = np.array([0, 0, 1])
    sels = select_concepts(descs, owner, concepts, concept_class, image_class, beta=0.4, tau=0.1, min_concepts=1)
    s0, s1 = sels[0], sels[1]
    assert s0.scores[0] > s0.scores[1] and s0.scores[0] > s0.scores[2]
    assert s1.scores[1] > s1.scores[0] and s1.scores[1] > s1.scores[2]
    assert s0.selected[0] == 0 and s1.selected[0] == 1
    assert list(sels[2].selected) == [3]


def test_cancellation_is_exact_at_small_tau():
    """The image's own descriptions carry nearly all of G(z): the subtraction would cancel."""
    d = 6
    concepts = onehot(d, 0, 1, 2)
    concept_class = np.array([0, 0, 0])
    descs = np.concatenate([onehot(d, 0, 0), onehot(d, 4, 5, 4, 5, noise=0.05, seed=4)])
    owner = np.array([0, 0, 1, 1, 2, 2])
    image_class = np.array([0, 0, 0])
    for tau in (0.1, 0.01, 0.002):
        fast = select_concepts(descs, owner, concepts, concept_class, image_class, beta=0.4, tau=tau, min_concepts=1)
        ref = reference_select_concepts(descs, owner, concepts, concept_class, image_class, beta=0.4, tau=tau,
                                        min_concepts=1)
        for f, r in zip(fast, ref):
            assert np.all(np.isfinite(f.scores))
            np.testing.assert_allclose(f.scores, r.scores, rtol=1e-7, atol=1e-7)
            np.testing.assert_array_equal(f.selected, r.selected)
        assert fast[0].selected[0] == 0


def test_lone_image_has_no_negatives():
    concepts = onehot(4, 0, 1, 2)
    descs = onehot(4, 0, 1)
    args = (descs, np.array([0, 0]), concepts, np.array([0, 0, 0]), np.array([0]))
    fast = select_concepts(*args, beta=0.4, tau=0.1, min_concepts=3)
    ref = reference_select_concepts(*args, beta=0.4, tau=0.1, min_concepts=3)
    np.testing.assert_allclose(fast[0].scores, ref[0].scores, atol=1e-12)
    np.testing.assert_array_equal(fast[0].selected, ref[0].selected)


def test_unnormalised_input_is_cosine():
    prob = random_problem(seed=5)
    scaled = (prob[0] * 3.0, prob[1], prob[2] * 0.5, prob[3], prob[4])
    a = select_concepts(*prob, beta=0.4, tau=0.1, min_concepts=3)
    b = select_concepts(*scaled, beta=0.4, tau=0.1, min_concepts=3)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.scores, y.scores, rtol=1e-4, atol=1e-4)


def test_image_without_descriptions_is_named():
    prob = list(random_problem(seed=2, n_images=10))
    keep = prob[1] != 7
    prob[0], prob[1] = prob[0][keep], prob[1][keep]
    with pytest.raises(SelectionError, match=r"image 7 has no descriptions"):
        select_concepts(*prob, beta=0.4, tau=0.1, min_concepts=3)
    with pytest.raises(SelectionError, match=r"image 7 has no descriptions"):
        reference_select_concepts(*prob, beta=0.4, tau=0.1, min_concepts=3)


def test_class_without_concepts_is_named():
    prob = list(random_problem(seed=2, n_images=10, n_classes=4))
    keep = prob[3] != 2
    prob[2], prob[3] = prob[2][keep], prob[3][keep]
    with pytest.raises(SelectionError, match=r"class 2 has no concepts"):
        select_concepts(*prob, beta=0.4, tau=0.1, min_concepts=3)


def test_bad_arguments():
    prob = random_problem(seed=2, n_images=10)
    with pytest.raises(SelectionError, match="tau"):
        select_concepts(*prob, beta=0.4, tau=0.0, min_concepts=3)
    with pytest.raises(SelectionError, match="dim"):
        select_concepts(prob[0][:, :5], *prob[1:], beta=0.4, tau=0.1, min_concepts=3)
    with pytest.raises(SelectionError, match="desc_owner names image 99"):
        select_concepts(prob[0], np.where(prob[1] == 0, 99, prob[1]), *prob[2:], beta=0.4, tau=0.1, min_concepts=3)


def test_infonce_answer_score_prefers_grounded_answer():
    d = 8
    positives = onehot(d, 0, 1)                 # Z* of the image
    negatives = onehot(d, 2, 3, 4, 5)           # every other concept
    answers = np.stack([onehot(d, 0)[0] + onehot(d, 1)[0],      # names both image concepts
                        onehot(d, 0)[0] + 0.3 * onehot(d, 2)[0],  # one of them
                        onehot(d, 2)[0] + onehot(d, 3)[0]])      # other classes' concepts
    scores = infonce_answer_score(answers, positives, negatives, tau=0.1)
    assert scores.shape == (3,)
    assert scores[0] > scores[1] > scores[2]


def test_infonce_answer_score_matches_formula():
    rng = np.random.default_rng(9)
    Y, P, N = unit(rng, 5, 16), unit(rng, 3, 16), unit(rng, 20, 16)
    tau = 0.1
    got = infonce_answer_score(Y, P, N, tau)
    want = [sum(np.log(np.exp(z @ y / tau) / (np.exp(z @ y / tau) + np.exp(N @ y / tau).sum())) for z in P)
            for y in Y.astype(np.float64)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # no negatives at all: every term is log(1) = 0
    np.testing.assert_allclose(infonce_answer_score(Y, P, np.zeros((0, 16), np.float32), tau), 0.0)
    with pytest.raises(SelectionError, match="positive"):
        infonce_answer_score(Y, P[:0], N, tau)
