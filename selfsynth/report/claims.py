"""The paper's claims, checked on this study's numbers — stated, not asserted."""
from __future__ import annotations

from ..layout import TEMPLATED
from .study import Study


def _fmt(study: Study, m: str, r: int, score: str) -> str:
    mean, sd = study.mean(m, r, score), study.spread(m, r, score)
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def check_claims(study: Study) -> list[tuple[str, bool, str]]:
    """(claim, holds on the mean, evidence). With several seeds, 'holds' compares means; read the spread.
    The same claims decided from paired intervals over test images: verdict.claims (keep in step)."""
    k = study.rounds
    out = []
    if k > 1:
        first, last = study.mean("ours", 1, "accuracy"), study.mean("ours", k, "accuracy")
        out.append(("ours: accuracy rises over the rounds", last > first,
                    f"round 1 {_fmt(study, 'ours', 1, 'accuracy')} → round {k} {_fmt(study, 'ours', k, 'accuracy')}"))
    for other in TEMPLATED:
        out.append((f"ours above {other} on CS (round {k})",
                    study.mean("ours", k, "CS") > study.mean(other, k, "CS"),
                    f"ours {_fmt(study, 'ours', k, 'CS')} vs {other} {_fmt(study, other, k, 'CS')}"))
    for score in ("accuracy", "CS"):
        out.append((f"w/o filtering below ours on {score} (round {k})",
                    study.mean("nofilter", k, score) < study.mean("ours", k, score),
                    f"nofilter {_fmt(study, 'nofilter', k, score)} vs ours {_fmt(study, 'ours', k, score)}"))
    out.append((f"ours above L+GE on accuracy (round {k})",
                study.mean("ours", k, "accuracy") > study.mean("lge", k, "accuracy"),
                f"ours {_fmt(study, 'ours', k, 'accuracy')} vs lge {_fmt(study, 'lge', k, 'accuracy')}"))
    return out


def claims_markdown(study: Study) -> str:
    return "\n".join(f"- {'holds' if ok else '**does not hold**'}: {claim} — {ev}" for claim, ok, ev in check_claims(study))
