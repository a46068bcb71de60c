"""Step 1.2, image-level concept selection (docs/method.md, step 1.2), with the InfoNCE math of
method/infonce.py.

Step 1.2 approximates the information-bottleneck objective argmax I(D;Z') - beta*I(Z';Z) with
an InfoNCE score per concept z of the image's class over the image's descriptions D_i:

    S(z) = sum_{d in D_i} log( e^{s(d,z)/tau} / (e^{s(d,z)/tau} + sum_{c in N_i} e^{s(z,c)/tau}) )

with s the cosine similarity and N_i the descriptions of every OTHER training image. A concept
scores high when the image's descriptions mention it more than the rest of the data does.

The negative sum depends on (z, i) only through the image's own descriptions, so the fast
path computes G(z) = sum over ALL descriptions once per concept (one pass over the
description matrix for all concepts) and subtracts the image's own share:
neg_i(z) = G(z) - sum_{d in D_i} e^{s(z,d)/tau}. Sums are kept as max-shifted float64
(log-sum-exp), so nothing overflows at any tau; where the subtraction cancels (the image's own
descriptions carry almost all of G(z)) the value is recomputed exactly from the other
descriptions, and a tiny positive floor guards the log. ``reference_select_concepts`` is the
authors' per-image algorithm (rebuild N_i, sum from scratch), kept for tests and benchmarks.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..metrics.encoders import TfidfEncoder, embed_unique, make_encoder
from .infonce import SelectionError, infonce_terms, log_neg_from_sims, unit_rows

# neg_i = G - own is recomputed exactly when it keeps less than this fraction of G: float64
# subtraction then has lost more than ~6 of its ~16 significant digits.
CANCEL_RTOL = 1e-6
# Floor on the shifted G - own before its log: when the image's own descriptions carry nearly
# all of G the subtraction can round to <= 0; it only keeps the log finite, since exactly those
# entries (below CANCEL_RTOL) are then recomputed from the other descriptions.
NEG_FLOOR = np.finfo(np.float64).tiny
CHUNK_ELEMENTS = 1 << 22  # similarity-matrix elements per block (~32 MB as float64)


@dataclass(frozen=True)
class Selection:
    """Z* of one image.

    selected: global concept indices kept, best score first.
    concepts: global indices of all the concepts of the image's class (ascending).
    scores:   S(z) for each of ``concepts``, same order.
    threshold: mean(scores) + beta * std(scores).
    """
    image: int
    cls: int
    selected: np.ndarray
    concepts: np.ndarray
    scores: np.ndarray
    threshold: float


# ----------------------------------------------------------------------------- validation

def _validate(desc_emb, desc_owner, concept_emb, concept_class, image_class, tau, min_concepts):
    if not (np.isfinite(tau) and tau > 0):
        raise SelectionError(f"tau must be a positive number, got {tau}")
    if min_concepts < 1:
        raise SelectionError(f"min_concepts must be >= 1, got {min_concepts}")
    D = unit_rows(desc_emb, "desc_emb")
    C = unit_rows(concept_emb, "concept_emb")
    if D.shape[1] != C.shape[1]:
        raise SelectionError(f"desc_emb has dim {D.shape[1]} but concept_emb has dim {C.shape[1]}")
    owner = np.asarray(desc_owner)
    cclass = np.asarray(concept_class)
    iclass = np.asarray(image_class)
    for arr, what, n in ((owner, "desc_owner", D.shape[0]), (cclass, "concept_class", C.shape[0]),
                         (iclass, "image_class", None)):
        if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
            raise SelectionError(f"{what} must be 1-D of length {n if n is not None else 'n_images'}, "
                                 f"got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise SelectionError(f"{what} must hold integers, got {arr.dtype}")
    owner, cclass, iclass = (a.astype(np.int64) for a in (owner, cclass, iclass))
    n_images = iclass.shape[0]
    if owner.size and (owner.min() < 0 or owner.max() >= n_images):
        bad = owner[(owner < 0) | (owner >= n_images)][0]
        raise SelectionError(f"desc_owner names image {bad}, but there are {n_images} images")
    counts = np.bincount(owner, minlength=n_images)
    if n_images and counts.min() == 0:
        raise SelectionError(f"image {int(np.flatnonzero(counts == 0)[0])} has no descriptions")
    for k in np.unique(iclass):
        if not np.any(cclass == k):
            raise SelectionError(f"class {int(k)} has no concepts (needed by image "
                                 f"{int(np.flatnonzero(iclass == k)[0])})")
    return D, owner, C, cclass, iclass


def threshold_select(scores: np.ndarray, beta: float, min_concepts: int) -> tuple[np.ndarray, float]:
    """Local positions kept by mean + beta*std (at least min_concepts), best first.

    std is the sample std (ddof=1), as torch.std in the authors' code. Concepts above the
    threshold are always a prefix of the score order, so "pad with the top ones" = "top-k".
    Ties keep the class's concept order (stable sort).
    """
    m = scores.shape[0]
    std = float(np.std(scores, ddof=1)) if m > 1 else 0.0
    threshold = float(np.mean(scores)) + beta * std
    order = np.argsort(-scores, kind="stable")
    k = max(int(np.count_nonzero(scores > threshold)), min(min_concepts, m))
    return order[:k], threshold


# ----------------------------------------------------------------------------- fast path

def _global_logsumexp(D: np.ndarray, C: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Per concept z: shift M(z) = max_c s(z,c)/tau and g(z) = sum_c e^{s(z,c)/tau - M(z)}
    over ALL descriptions c, streamed over description blocks (running max rescaling).
    Buffers are reused across blocks: fresh 30 MB arrays per block cost as much as the exp."""
    K = C.shape[0]
    M = np.full(K, -np.inf)
    g = np.zeros(K)
    rows = max(1, CHUNK_ELEMENTS // max(K, 1))
    Ct = np.ascontiguousarray(C.T)
    sims = np.empty((min(rows, D.shape[0]), K), dtype=np.result_type(D.dtype, C.dtype))
    x = np.empty(sims.shape, dtype=np.float64)
    for s in range(0, D.shape[0], rows):
        n = min(rows, D.shape[0] - s)
        np.matmul(D[s:s + n], Ct, out=sims[:n])
        xs = x[:n]
        np.divide(sims[:n], tau, out=xs, dtype=np.float64)  # = sims.astype(float64) / tau
        m_new = np.maximum(M, xs.max(axis=0))
        g *= np.exp(M - m_new)              # exp(-inf) = 0 on the first block
        xs -= m_new
        np.exp(xs, out=xs)
        g += xs.sum(axis=0)
        M = m_new
    return M, g


def select_concepts(desc_emb: np.ndarray, desc_owner: np.ndarray, concept_emb: np.ndarray,
                    concept_class: np.ndarray, image_class: np.ndarray, *, beta: float,
                    tau: float, min_concepts: int) -> list[Selection]:
    """Z* for every image (index i = position in ``image_class``), vectorised.

    desc_emb (n_desc, d) with desc_owner[j] = image of description j; concept_emb (n_conc, d)
    with concept_class[k] = class of concept k; image_class[i] = class of image i.
    Cost: one pass over all descriptions x all concepts for G, then per class only the
    class's own descriptions x its concepts, instead of per image x all descriptions.
    """
    D, owner, C, cclass, iclass = _validate(desc_emb, desc_owner, concept_emb, concept_class,
                                            image_class, tau, min_concepts)
    n_images = iclass.shape[0]
    if n_images == 0:
        return []
    needed = np.unique(iclass)
    used = np.flatnonzero(np.isin(cclass, needed))  # concepts of classes that have images
    M_all, g_all = _global_logsumexp(D, C[used], tau)
    M = np.full(C.shape[0], np.nan)
    g = np.full(C.shape[0], np.nan)
    M[used], g[used] = M_all, g_all

    order = np.argsort(owner, kind="stable")          # descriptions grouped by image
    counts = np.bincount(owner, minlength=n_images)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out: list[Selection | None] = [None] * n_images
    for k in needed:
        concepts = np.flatnonzero(cclass == k)
        images = np.flatnonzero(iclass == k)
        rows = np.concatenate([order[starts[i]:starts[i] + counts[i]] for i in images])
        seg = np.concatenate(([0], np.cumsum(counts[images])[:-1]))
        # positives: a[d, z] = s(d, z)/tau for the class's descriptions x the class's concepts
        a = (D[rows] @ C[concepts].T).astype(np.float64) / tau
        # own share of G per (image, concept), in the same shift as g
        own = np.add.reduceat(np.exp(a - M[concepts]), seg, axis=0)        # (n_img_k, m_k)
        diff = g[concepts] - own
        log_neg = M[concepts] + np.log(np.maximum(diff, NEG_FLOOR))
        cancelled = diff <= g[concepts] * CANCEL_RTOL
        for r in np.flatnonzero(cancelled.any(axis=1)):                    # rare: exact recompute
            cols = np.flatnonzero(cancelled[r])
            others = D[owner != images[r]]
            log_neg[r, cols] = log_neg_from_sims((C[concepts[cols]] @ others.T).astype(np.float64) / tau)
        terms = infonce_terms(a, np.repeat(log_neg, counts[images], axis=0))
        scores = np.add.reduceat(terms, seg, axis=0)                       # (n_img_k, m_k)
        for r, i in enumerate(images):
            keep, thr = threshold_select(scores[r], beta, min_concepts)
            out[i] = Selection(int(i), int(k), concepts[keep], concepts, scores[r], thr)
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------------- reference

def reference_select_concepts(desc_emb: np.ndarray, desc_owner: np.ndarray, concept_emb: np.ndarray,
                              concept_class: np.ndarray, image_class: np.ndarray, *, beta: float,
                              tau: float, min_concepts: int,
                              images: np.ndarray | None = None) -> list[Selection]:
    """The authors' algorithm: per image, rebuild N_i (all other images' descriptions) and sum.

    For tests and benchmarks only (cost: n_images x n_desc x m_k). ``images`` restricts the
    run to a subset of image indices (the negatives are still all other images'
    descriptions); the result then lists only those images, in that order.
    """
    D, owner, C, cclass, iclass = _validate(desc_emb, desc_owner, concept_emb, concept_class,
                                            image_class, tau, min_concepts)
    todo = np.arange(iclass.shape[0]) if images is None else np.asarray(images, dtype=np.int64)
    out = []
    for i in todo:
        k = iclass[i]
        concepts = np.flatnonzero(cclass == k)
        A = D[owner == i]                     # the image's descriptions
        B = C[concepts]                       # its class's concepts
        N = D[owner != i]                     # negatives, rebuilt per image
        pos = (A @ B.T).astype(np.float64) / tau                      # (n_i, m_k)
        log_neg = log_neg_from_sims((B @ N.T).astype(np.float64) / tau)  # (m_k,)
        scores = infonce_terms(pos, log_neg[None, :]).sum(axis=0)
        keep, thr = threshold_select(scores, beta, min_concepts)
        out.append(Selection(int(i), int(k), concepts[keep], concepts, scores, thr))
    return out


# ----------------------------------------------------------------------------- step 1.2 on a dataset
# Embed descriptions and concepts, select Z* per image, and score the selection against the
# world's ground truth next to two references.

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
                        encoder: str, workers: int = 1) -> SelectionInputs:
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

    enc = make_encoder(encoder, workers=workers)
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
