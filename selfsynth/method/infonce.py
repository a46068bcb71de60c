"""The InfoNCE score shared by step 1.2's concept selection (method/select.py) and step 2.6's
answer score (method/reject.py): log( e^pos / (e^pos + sum of e^neg) ) over cosine similarities / tau,
summed, in float64 log-sum-exp so that nothing overflows at any tau."""
from __future__ import annotations

import numpy as np

from ..core.errors import InputError


class SelectionError(ValueError, InputError):
    pass


def unit_rows(x: np.ndarray, what: str) -> np.ndarray:
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



def log_neg_from_sims(sims_over_tau: np.ndarray) -> np.ndarray:
    """log sum_c e^{x_c} along the last axis, float64, -inf for an empty set."""
    x = np.asarray(sims_over_tau, dtype=np.float64)
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf)
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def infonce_terms(pos: np.ndarray, log_neg: np.ndarray) -> np.ndarray:
    """log( e^pos / (e^pos + e^log_neg) ) = pos - logaddexp(pos, log_neg), stably."""
    return pos - np.logaddexp(pos, log_neg)


def infonce_answer_score(answer_emb: np.ndarray, positive_emb: np.ndarray, negative_emb: np.ndarray,
                         tau: float) -> np.ndarray:
    """Score candidate answers y against the image's Z* (step 2.6), one float64 per answer.

    S(y) = sum_{z in Z*} log( e^{s(z,y)/tau} / (e^{s(z,y)/tau} + sum_{c in N} e^{s(y,c)/tau}) ).
    An answer scores high when it is closer to the image's own concepts than to every other
    concept. ``negative_emb`` is N: all concepts of all classes EXCEPT the positives (the
    authors' code forgets to exclude them; the caller builds N, this does not filter it).
    """
    if not (np.isfinite(tau) and tau > 0):
        raise SelectionError(f"tau must be a positive number, got {tau}")
    Y = unit_rows(answer_emb, "answer_emb")
    P = unit_rows(positive_emb, "positive_emb")
    Nn = np.asarray(negative_emb)
    if Nn.ndim == 2 and Nn.shape[0] == 0:
        Nn = np.zeros((0, Y.shape[1]), dtype=Y.dtype)
    else:
        Nn = unit_rows(Nn, "negative_emb")
    if not (Y.shape[1] == P.shape[1] == Nn.shape[1]):
        raise SelectionError(f"embedding dims differ: answers {Y.shape[1]}, positives {P.shape[1]}, "
                             f"negatives {Nn.shape[1]}")
    if P.shape[0] == 0:
        raise SelectionError("no positive concepts (Z* is empty)")
    pos = (Y @ P.T).astype(np.float64) / tau                             # (n_y, |Z*|)
    log_neg = log_neg_from_sims((Y @ Nn.T).astype(np.float64) / tau)    # (n_y,)
    return infonce_terms(pos, log_neg[:, None]).sum(axis=1)
