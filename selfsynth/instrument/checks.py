"""The instrument's checks: one threshold each, a sentence saying what it guards, and the claims a
failure leaves untestable. Measured from the world, the base model and the method's own traces
(Z*, candidates, epochs), never from a method's score, so they can decide testbed changes
before any method's result of a new setting is read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from ..method.select import threshold_select


class Claim(Protocol):  # report.claims.Claim: a above b on metric
    text: str
    a: tuple[str, int]
    b: tuple[str, int]
    metric: str

# the thresholds, defined here only
ATTRIBUTE_MIN, ATTRIBUTE_MEAN = 0.90, 0.95  # frozen-tower probe on visible parts: every family / on average
DESCRIPTION_PRECISION = 0.85  # base model's greedy descriptions
CHANCE_FACTOR = 2.0  # base identification at most this times chance
CEILING = 0.85  # the Bayes ceiling of the test set
DISTINCT = 2.0  # distinct candidates per question (of rejection.samples), every round
LOOPING = 0.2  # share of candidates that loop (a repeated word 3-gram), every round
FLOOR_SHARE = 0.5  # images whose Z* the min_concepts floor decides


def _accuracy(c: Claim) -> bool:
    return c.metric.startswith("accuracy")


def _filtering(c: Claim) -> bool:  # the score's choice: ours against w/o filtering, and ours' rise
    return "nofilter" in (c.a[0], c.b[0]) or c.a[0] == c.b[0] == "ours"


def _selection(c: Claim) -> bool:  # what Z* decides: the cited concepts
    return c.metric == "CS" and "ours" in (c.a[0], c.b[0])


def _every(c: Claim) -> bool:
    return True


@dataclass(frozen=True)
class Check:
    name: str
    guards: str  # what a pass protects, in one sentence
    threshold: str
    passed: bool | None  # None: cannot be computed on this dataset ("—")
    value: str
    affects: Callable[[Claim], bool]
    affected: str  # the claims it leaves untestable, in words


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def instrument_checks(m: dict) -> list[Check]:
    """m: the measures of metrics/instrument.json (None where a dataset cannot have them)."""
    attr = m.get("attribute_probe")
    attr_ok = None if not attr else (min(attr.values()) >= ATTRIBUTE_MIN and float(np.mean(list(attr.values()))) >= ATTRIBUTE_MEAN)
    attr_value = "—" if not attr else f"min {min(attr.values()):.3f} ({min(attr, key=attr.get)}), mean {np.mean(list(attr.values())):.3f}"
    prec = m.get("description_precision")
    ident, chance = m.get("base_identification"), m.get("chance")
    ceiling = m.get("bayes_ceiling")
    distinct = m.get("distinct_candidates") or {}
    looping = m.get("looping_candidates") or {}
    low = min(distinct.values()) if distinct else None
    loops = max(looping.values()) if looping else None
    floor = m.get("zstar_floor_share")
    cells = m.get("epoch_cells") or []
    at_cap = [c for c in cells if c["at_cap"]]
    return [
        Check("perception", "the frozen tower sees every part the field guide names: else every method's accuracy "
              "measures the tower, which no supervision changes",
              f"attribute probe on visible parts ≥ {ATTRIBUTE_MIN} per family, ≥ {ATTRIBUTE_MEAN} mean",
              attr_ok, attr_value, _accuracy, "every accuracy claim"),
        Check("description", "the base model describes what it sees (the paper's premise), so Z* can be selected "
              "from its descriptions", f"greedy description precision ≥ {DESCRIPTION_PRECISION}",
              None if prec is None else prec >= DESCRIPTION_PRECISION, _fmt(prec), _selection,
              "CS claims that involve ours"),
        Check("cannot name", "the base model cannot name the species (LLaVA-1.5 on CUB: 2.7 %), so identification "
              "is learned from the synthesized data", f"base accuracy ≤ {CHANCE_FACTOR:g} × chance",
              None if ident is None or chance is None else ident <= CHANCE_FACTOR * chance,
              "—" if ident is None else f"{ident:.3f} (chance {chance:.3f})", _every, "every claim"),
        Check("ceiling", "the test images show enough to single out the species, so accuracy can separate methods",
              f"Bayes ceiling ≥ {CEILING}", None if ceiling is None else ceiling >= CEILING, _fmt(ceiling),
              _accuracy, "every accuracy claim"),
        Check("diversity", "rejection sampling has fluent candidates to choose among, so step 2.6's score is "
              "exercised (a looping text is another string, not another answer)",
              f"≥ {DISTINCT:g} distinct candidates per question and ≤ {LOOPING:g} of candidates looping, every round",
              None if low is None else low >= DISTINCT and (loops is None or loops <= LOOPING),
              "—" if not distinct else ", ".join(f"r{k} {v:.2f}" + (f" ({looping[k]:.2f} looping)" if k in looping else "")
                                                 for k, v in sorted(distinct.items())),
              _filtering, "ours against w/o filtering, and ours' rise"),
        Check("selection", "β acts: the threshold, not the min-concepts floor, decides most images' Z*",
              f"share of images at the floor ≤ {FLOOR_SHARE}", None if floor is None else floor <= FLOOR_SHARE,
              _fmt(floor), _selection, "CS claims that involve ours"),
        Check("convergence", "every method trains to convergence, not to the epoch cap, so a comparison measures "
              "the data and not a budget", "best epoch below the cap in every (method, round)",
              None if not cells else not at_cap,
              "—" if not cells else f"{len(at_cap)} of {len(cells)} at the cap"
              + (f" ({', '.join(c['method'] + ' r' + str(c['round']) for c in at_cap)})" if at_cap else ""),
              _every, "every claim"),
    ]


def untestable(claim: Claim, checks: Sequence[Check]) -> list[str]:
    """The failed checks that leave this claim untestable on this run."""
    return [c.name for c in checks if c.passed is False and c.affects(claim)]


_SCOPE = {c.name: c.affects for c in instrument_checks({})}  # check name -> the claims its failure leaves untestable


def untestable_by_name(claim: Claim, failed: Sequence[str]) -> list[str]:
    """The same, from the names of the failed checks (what a seed's record keeps)."""
    return [name for name in failed if name in _SCOPE and _SCOPE[name](claim)]


def checks_markdown(checks: Sequence[Check], claims: Sequence[Claim]) -> str:
    mark = {True: "passes", False: "**fails**", None: "—"}
    lines = ["| check | measured | threshold | result | guards |", "|---|---|---|---|---|"]
    lines += [f"| {c.name} | {c.value} | {c.threshold} | {mark[c.passed]} | {c.guards} |" for c in checks]
    blocked = [(cl.text, untestable(cl, checks)) for cl in claims]
    blocked = [(t, names) for t, names in blocked if names]
    if blocked:
        lines += ["", "Claims this run cannot test (the failed checks in brackets):", ""]
        lines += [f"- {t} ({', '.join(names)})" for t, names in blocked]
    else:
        lines += ["", "Every check that can be computed passes: the claims below are testable on this run."]
    return "\n".join(lines)


def zstar_floor_share(rows: Sequence[dict], beta: float, min_concepts: int) -> tuple[float, dict]:
    """Share of images whose threshold mean + β·std kept fewer than min_concepts (so the floor set Z*),
    by selection's own rule, and the distribution of |Z*|."""
    at_floor, sizes = 0, {}
    for r in rows:
        s = np.asarray(list(r["scores"].values()), dtype=float)
        keep, thr = threshold_select(s, beta, min_concepts)
        at_floor += len(keep) > int(np.count_nonzero(s > thr))
        sizes[len(r["zstar"])] = sizes.get(len(r["zstar"]), 0) + 1
    return (at_floor / len(rows) if rows else float("nan")), {str(k): sizes[k] for k in sorted(sizes)}


def epoch_cells(train_metrics: dict[int, dict]) -> list[dict]:
    """(method, round) cells of convergence training: best epoch against the cap."""
    out = []
    for rnd, by_method in sorted(train_metrics.items()):
        for method, t in sorted(by_method.items()):
            if t.get("convergence") and t.get("best_epoch") is not None:
                out.append({"method": method, "round": rnd, "best_epoch": t["best_epoch"], "cap": t["epochs_cap"],
                            "at_cap": t["best_epoch"] >= t["epochs_cap"]})
    return out
