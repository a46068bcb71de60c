"""The paper's claims, defined once: each is method a above method b on one score (a method at two
rounds for "rises over the rounds"). Checked here on the means, stated, not asserted; decided from
paired intervals over test images by report.verdict."""
from __future__ import annotations

from dataclasses import dataclass

from ..layout import TEMPLATED
from .study import Study


@dataclass(frozen=True)
class Claim:
    text: str
    a: tuple[str, int]  # (method, round) claimed higher on `metric` than b
    b: tuple[str, int]
    metric: str


def claims(k: int) -> list[Claim]:
    out = [Claim("ours: accuracy rises over the rounds", ("ours", k), ("ours", 1), "accuracy")] if k > 1 else []
    out += [Claim(f"ours above {o} on CS (round {k})", ("ours", k), (o, k), "CS") for o in TEMPLATED]
    out += [Claim(f"w/o filtering below ours on {s} (round {k})", ("ours", k), ("nofilter", k), s)
            for s in ("accuracy", "CS")]
    out.append(Claim(f"ours above L+GE on accuracy (round {k})", ("ours", k), ("lge", k), "accuracy"))
    return out


def _fmt(study: Study, m: str, r: int, score: str) -> str:
    mean, sd = study.mean(m, r, score), study.spread(m, r, score)
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def check_claims(study: Study) -> list[tuple[str, bool, str]]:
    """(claim, holds on the mean, evidence). With several seeds, 'holds' compares means; read the spread."""
    return [(c.text, study.mean(*c.a, c.metric) > study.mean(*c.b, c.metric),
             f"{c.a[0]} r{c.a[1]} {_fmt(study, *c.a, c.metric)} vs {c.b[0]} r{c.b[1]} {_fmt(study, *c.b, c.metric)}")
            for c in claims(study.rounds)]


def claims_markdown(study: Study) -> str:
    return "\n".join(f"- {'holds' if ok else '**does not hold**'}: {claim} — {ev}" for claim, ok, ev in check_claims(study))
