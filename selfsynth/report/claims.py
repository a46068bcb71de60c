"""The paper's claims, defined once: every comparison its Table 1 and Table 12 make on accuracy and
CS, each as method a above method b on one score (a method at two rounds for "rises"), with the
paper's own CUB effect beside it where the paper prints both sides. A comparison true by
construction is a sanity check: shown, never counted as evidence. Decided over seeds by
report.seeds; one seed's page only describes the differences (report.verdict)."""
from __future__ import annotations

from dataclasses import dataclass

from .paper import PAPER_TABLE1
from .study import Study


@dataclass(frozen=True)
class Claim:
    text: str
    a: tuple[str, int]  # (method, round) claimed higher on `metric` than b
    b: tuple[str, int]
    metric: str
    paper: float | None = None  # the paper's CUB effect a − b in the metric's units (accuracy: a share)
    sanity: bool = False  # true by construction: a check of the pipeline, not a finding


def claims(k: int) -> list[Claim]:
    """The paper prints CUB accuracy for every method at round 4 and ours at rounds 1-4, and CS for
    ours only: its effects stand beside the claims when k = 4, and no CS claim has one."""
    _, _, nl, lge, ours, _, nofilter = PAPER_TABLE1[0]
    cub = (lambda x: round(x / 100, 4)) if k == 4 else (lambda x: None)
    out = [Claim(f"ours above NL on accuracy (round {k})", ("ours", k), ("nl", k), "accuracy", cub(ours[3] - nl)),
           Claim(f"ours above L+GE on accuracy (round {k})", ("ours", k), ("lge", k), "accuracy", cub(ours[3] - lge)),
           Claim(f"ours above w/o filtering on accuracy (round {k})", ("ours", k), ("nofilter", k), "accuracy",
                 cub(ours[3] - nofilter)),
           Claim(f"ours above L+GE on CS (round {k})", ("ours", k), ("lge", k), "CS"),
           Claim(f"ours above w/o filtering on CS (round {k})", ("ours", k), ("nofilter", k), "CS")]
    if k > 1:
        out += [Claim(f"ours: accuracy rises from round 1 to {k}", ("ours", k), ("ours", 1), "accuracy",
                      cub(ours[3] - ours[0])),
                Claim(f"w/o filtering: accuracy rises from round 1 to {k}", ("nofilter", k), ("nofilter", 1), "accuracy")]
    out.append(Claim(f"ours above NL on CS (round {k}): NL cites no feature, so its CS is 0", ("ours", k), ("nl", k),
                     "CS", sanity=True))
    return out


def paper_effect(c: Claim) -> str:
    if c.paper is None:
        return "—"
    return f"{c.paper * 100:+.1f}" if c.metric.startswith("accuracy") else f"{c.paper:+.3f}"


def _fmt(study: Study, m: str, r: int, score: str) -> str:
    mean, sd = study.mean(m, r, score), study.spread(m, r, score)
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def check_claims(study: Study) -> list[tuple[str, bool, str]]:
    """(claim, a above b on the mean, evidence): what a study without per-image rows can say."""
    return [(c.text, study.mean(*c.a, c.metric) > study.mean(*c.b, c.metric),
             f"{c.a[0]} r{c.a[1]} {_fmt(study, *c.a, c.metric)} vs {c.b[0]} r{c.b[1]} {_fmt(study, *c.b, c.metric)}")
            for c in claims(study.rounds)]


def claims_markdown(study: Study) -> str:
    return "\n".join(f"- {'a above b' if ok else '**a not above b**'} on the means: {claim} — {ev}"
                     for claim, ok, ev in check_claims(study))
