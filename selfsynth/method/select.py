"""Image-level concept selection (PAPER.md step 1.2) and answer scoring (step 2.6).

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

from dataclasses import dataclass

import numpy as np

TAU = 0.1
BETA = 0.4
MIN_CONCEPTS = 3
# neg_i = G - own is recomputed exactly when it keeps less than this fraction of G: float64
# subtraction then has lost more than ~6 of its ~16 significant digits.
CANCEL_RTOL = 1e-6
# Floor on the shifted G - own before its log: when the image's own descriptions carry nearly
# all of G the subtraction can round to <= 0; it only keeps the log finite, since exactly those
# entries (below CANCEL_RTOL) are then recomputed from the other descriptions.
NEG_FLOOR = np.finfo(np.float64).tiny
CHUNK_ELEMENTS = 1 << 22  # similarity-matrix elements per block (~32 MB as float64)


class SelectionError(ValueError):
    pass


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

def _unit_rows(x: np.ndarray, what: str) -> np.ndarray:
    """Rows as cosine-ready unit vectors; already-unit input is used as is (no copy)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise SelectionError(f"{what} must be 2-D (n, d), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    if not np.all(np.isfinite(sq)):
        raise SelectionError(f"{what} has non-finite values (row {int(np.flatnonzero(~np.isfinite(sq))[0])})")
    if np.all(np.abs(sq - 1.0) < 1e-4):
        return x
    norms = np.sqrt(sq).astype(x.dtype)[:, None]
    # zero rows (e.g. TF-IDF text with no known term) stay zero: similarity 0 with everything
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _validate(desc_emb, desc_owner, concept_emb, concept_class, image_class, tau, min_concepts):
    if not (np.isfinite(tau) and tau > 0):
        raise SelectionError(f"tau must be a positive number, got {tau}")
    if min_concepts < 1:
        raise SelectionError(f"min_concepts must be >= 1, got {min_concepts}")
    D = _unit_rows(desc_emb, "desc_emb")
    C = _unit_rows(concept_emb, "concept_emb")
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


def _select(scores: np.ndarray, beta: float, min_concepts: int) -> tuple[np.ndarray, float]:
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


def _log_neg_from_sims(sims_over_tau: np.ndarray) -> np.ndarray:
    """log sum_c e^{x_c} along the last axis, float64, -inf for an empty set."""
    x = np.asarray(sims_over_tau, dtype=np.float64)
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf)
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def _infonce_terms(pos: np.ndarray, log_neg: np.ndarray) -> np.ndarray:
    """log( e^pos / (e^pos + e^log_neg) ) = pos - logaddexp(pos, log_neg), stably."""
    return pos - np.logaddexp(pos, log_neg)


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
                    concept_class: np.ndarray, image_class: np.ndarray, *, beta: float = BETA,
                    tau: float = TAU, min_concepts: int = MIN_CONCEPTS) -> list[Selection]:
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
            log_neg[r, cols] = _log_neg_from_sims((C[concepts[cols]] @ others.T).astype(np.float64) / tau)
        terms = _infonce_terms(a, np.repeat(log_neg, counts[images], axis=0))
        scores = np.add.reduceat(terms, seg, axis=0)                       # (n_img_k, m_k)
        for r, i in enumerate(images):
            keep, thr = _select(scores[r], beta, min_concepts)
            out[i] = Selection(int(i), int(k), concepts[keep], concepts, scores[r], thr)
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------------- reference

def reference_select_concepts(desc_emb: np.ndarray, desc_owner: np.ndarray, concept_emb: np.ndarray,
                              concept_class: np.ndarray, image_class: np.ndarray, *, beta: float = BETA,
                              tau: float = TAU, min_concepts: int = MIN_CONCEPTS,
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
        log_neg = _log_neg_from_sims((B @ N.T).astype(np.float64) / tau)  # (m_k,)
        scores = _infonce_terms(pos, log_neg[None, :]).sum(axis=0)
        keep, thr = _select(scores, beta, min_concepts)
        out.append(Selection(int(i), int(k), concepts[keep], concepts, scores, thr))
    return out


# ----------------------------------------------------------------------------- step 2.6

def infonce_answer_score(answer_emb: np.ndarray, positive_emb: np.ndarray, negative_emb: np.ndarray,
                         tau: float = TAU) -> np.ndarray:
    """Score candidate answers y against the image's Z* (step 2.6), one float64 per answer.

    S(y) = sum_{z in Z*} log( e^{s(z,y)/tau} / (e^{s(z,y)/tau} + sum_{c in N} e^{s(y,c)/tau}) ).
    An answer scores high when it is closer to the image's own concepts than to every other
    concept. ``negative_emb`` is N: all concepts of all classes EXCEPT the positives (the
    authors' code forgets to exclude them; the caller builds N, this does not filter it).
    """
    if not (np.isfinite(tau) and tau > 0):
        raise SelectionError(f"tau must be a positive number, got {tau}")
    Y = _unit_rows(answer_emb, "answer_emb")
    P = _unit_rows(positive_emb, "positive_emb")
    Nn = np.asarray(negative_emb)
    if Nn.ndim == 2 and Nn.shape[0] == 0:
        Nn = np.zeros((0, Y.shape[1]), dtype=Y.dtype)
    else:
        Nn = _unit_rows(Nn, "negative_emb")
    if not (Y.shape[1] == P.shape[1] == Nn.shape[1]):
        raise SelectionError(f"embedding dims differ: answers {Y.shape[1]}, positives {P.shape[1]}, "
                             f"negatives {Nn.shape[1]}")
    if P.shape[0] == 0:
        raise SelectionError("no positive concepts (Z* is empty)")
    pos = (Y @ P.T).astype(np.float64) / tau                             # (n_y, |Z*|)
    log_neg = _log_neg_from_sims((Y @ Nn.T).astype(np.float64) / tau)    # (n_y,)
    return _infonce_terms(pos, log_neg[:, None]).sum(axis=1)
