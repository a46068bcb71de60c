"""Markdown tables: Table 1 (methods x rounds), the final-round scores, rejection and selection
ablations, one seed's intervals and paired differences over test images."""
from __future__ import annotations

from typing import Iterable, Sequence

from .intervals import METRICS, Rows, display_scale, fmt_interval, metric_interval, paired_difference
from .study import ROW_METHODS, Study

LABELS = {"base": "base", "nl": "NL (label only)", "lge": "L+GE (class-level explanation)",
          "ours": "ours (Z* + rejection sampling)", "nofilter": "w/o filtering"}
# the scores after the last round: (score, header here, header on the page, scale, digits)
FINAL_SCORES = (("accuracy", "acc", "acc %", 100, 1), ("accuracy_lenient", "acc lenient", "acc lenient %", 100, 1),
                ("EE", "EE", "EE", 1, 2), ("CS", "CS", "CS", 1, 3), ("grounding", "grounding", "grounding", 1, 3),
                ("FS", "FS", "FS ↓", 1, 0), ("general_ability", "general ability", "general ability", 1, 3))
PAIRED_METRICS = ("accuracy", "accuracy_lenient", "EE", "CS", "grounding", "FS_masked", "well_formed", "repeated_ngram")


def md_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|---" * len(head) + "|",
                      *("| " + " | ".join(row) + " |" for row in rows)])


def _cell(study: Study, method: str, rnd: int, score: str, scale: float = 100.0, digits: int = 1) -> str:
    m = study.mean(method, rnd, score)
    if m is None:
        return "—"
    s = study.spread(method, rnd, score)
    return f"{m * scale:.{digits}f}" + (f" ± {s * scale:.{digits}f}" if s is not None else "")


def accuracy_table(study: Study) -> str:
    """Accuracy (%) per method and round; base is round 0."""
    return md_table(["method", *(f"round {r}" for r in range(0, study.rounds + 1))],
                    ([LABELS[m], *(_cell(study, m, r, "accuracy") if r in study.rounds_of(m) else ""
                                   for r in range(0, study.rounds + 1))] for m in ROW_METHODS))


def final_scores_table(study: Study) -> str:
    """Every score at the last round (base at round 0): accuracy strict / lenient (%), EE, CS,
    grounding, FS (perplexity, lower is better), general ability."""
    return md_table(["method", *(head for _, head, _, _, _ in FINAL_SCORES)],
                    ([f"{LABELS[m]} (round {r})", *(_cell(study, m, r, k, s, d) for k, _, _, s, d in FINAL_SCORES)]
                     for m in ROW_METHODS for r in study.rounds_of(m)[-1:]))


def text_quality_table(study: Study) -> str:
    """Is the explanation text sound, per method and round: well formed (every clause parses in the
    world's grammar), repeated 3-gram (looping), FS and FS with class names masked (comparable
    across methods that name different species)."""
    return md_table(["method", "round", "well formed", "repeated 3-gram", "FS", "FS masked"],
                    ([LABELS[m], str(r), _cell(study, m, r, "well_formed", 1, 3), _cell(study, m, r, "repeated_ngram", 1, 3),
                      _cell(study, m, r, "FS", 1, 0), _cell(study, m, r, "FS_masked", 1, 0)]
                     for m in ROW_METHODS for r in study.rounds_of(m)))


def rejection_table(stats: dict[int, dict]) -> str:
    head = ["round", "method", "kept a candidate", "fell back", "candidates naming the label",
            "questions with a correct candidate", "distinct candidates per question", "candidates looping",
            "score's choice ≠ a random passing one"]
    return md_table(head, ([str(rnd), m, f"{s['accepted']:.3f}", f"{s['fallback']:.3f}", f"{s['candidates_name_label']:.3f}",
                            f"{s['questions_with_a_correct_candidate']:.3f}", f"{s['distinct_candidates']:.2f}",
                            f"{s.get('looping_candidates', float('nan')):.3f}",
                            '—' if (d := s.get("score_differs_from_random")) is None else f"{d:.3f}"]
                           for rnd, by_method in sorted(stats.items()) for m, s in by_method.items()))


def beta_table(sweep: dict) -> str:
    head = ["encoder", "beta", "precision", "recall", "F1", "concepts kept per image", "F1 all class concepts",
            "F1 random same size"]
    return md_table(head, ([enc, f"{float(b):+.2f}", f"{q['precision']:.3f}", f"{q['recall']:.3f}", f"{q['f1']:.3f}",
                            f"{q['per_image']:.2f}", f"{q['all_class_concepts_f1']:.3f}", f"{q['random_same_size_f1']:.3f}"]
                           for enc, by_beta in sweep["beta"].items() for b, q in by_beta.items()))


def descriptions_table(sweep: dict) -> str:
    return md_table(["descriptions per image", "precision", "recall", "F1"],
                    ([k, f"{q['precision']:.3f}", f"{q['recall']:.3f}", f"{q['f1']:.3f}"]
                     for k, q in sweep["descriptions_per_image"].items()))


def intervals_table(rows: Rows, cells: Sequence[tuple[str, int]], n_boot: int, confidence: float, seed: int) -> str:
    """estimate [low, high] of every metric per (method, round); accuracy in %."""
    return md_table(["method", *METRICS], ([f"{LABELS.get(m, m)} (round {r})",
                                           *(fmt_interval(metric_interval(rows[(m, r)], metric, n_boot, confidence, seed), metric)
                                             for metric in METRICS)] for m, r in cells if (m, r) in rows))


def paired_table(rows: Rows, pairs: Sequence[tuple[tuple[str, int], tuple[str, int]]], n_boot: int,
                 confidence: float, seed: int) -> str:
    """a − b on the same images per metric; ✓ where the interval excludes 0."""
    def fmt(d, metric):
        return "—" if d is None else d.fmt(*display_scale(metric)) + (" ✓" if d.excludes_zero() else "")
    return md_table(["a − b", *PAIRED_METRICS], ([f"{a[0]} r{a[1]} − {b[0]} r{b[1]}",
                                                  *(fmt(paired_difference(rows[a], rows[b], metric, n_boot, confidence, seed),
                                                        metric) for metric in PAIRED_METRICS)]
                                                 for a, b in pairs if a in rows and b in rows))
