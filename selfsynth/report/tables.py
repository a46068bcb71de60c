"""Markdown tables: Table 1 (methods x rounds), the final-round scores, rejection and selection
ablations, one seed's intervals and paired differences over test images."""
from __future__ import annotations

from typing import Sequence

from .intervals import METRICS, Rows, display_scale, metric_interval, paired_difference
from .study import ROW_METHODS, Study

LABELS = {"base": "base", "nl": "NL (label only)", "lge": "L+GE (class-level explanation)",
          "ours": "ours (Z* + rejection sampling)", "nofilter": "w/o filtering"}


def _cell(study: Study, method: str, rnd: int, score: str, scale: float = 100.0, digits: int = 1) -> str:
    m = study.mean(method, rnd, score)
    if m is None:
        return "—"
    s = study.spread(method, rnd, score)
    return f"{m * scale:.{digits}f}" + (f" ± {s * scale:.{digits}f}" if s is not None else "")


def accuracy_table(study: Study) -> str:
    """Accuracy (%) per method and round; base is round 0."""
    head = "| method | round 0 | " + " | ".join(f"round {r}" for r in range(1, study.rounds + 1)) + " |"
    lines = [head, "|---" * (study.rounds + 2) + "|"]
    for m in ROW_METHODS:
        cells = [_cell(study, m, r, "accuracy") if r in study.rounds_of(m) else "" for r in range(0, study.rounds + 1)]
        lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def final_scores_table(study: Study) -> str:
    """Every score at the last round (base at round 0): accuracy strict / lenient (%), EE, CS,
    grounding, FS (perplexity, lower is better), general ability."""
    lines = ["| method | acc | acc lenient | EE | CS | grounding | FS | general ability |", "|---|---|---|---|---|---|---|---|"]
    for m in ROW_METHODS:
        r = study.rounds_of(m)[-1]
        lines.append(f"| {LABELS[m]} (round {r}) | {_cell(study, m, r, 'accuracy')} | "
                     f"{_cell(study, m, r, 'accuracy_lenient')} | {_cell(study, m, r, 'EE', 1, 2)} | "
                     f"{_cell(study, m, r, 'CS', 1, 3)} | {_cell(study, m, r, 'grounding', 1, 3)} | "
                     f"{_cell(study, m, r, 'FS', 1, 0)} | {_cell(study, m, r, 'general_ability', 1, 3)} |")
    return "\n".join(lines)


def text_quality_table(study: Study) -> str:
    """Is the explanation text sound, per method and round: well formed (every clause parses in the
    world's grammar), repeated 3-gram (looping), FS and FS with class names masked (comparable
    across methods that name different species)."""
    lines = ["| method | round | well formed | repeated 3-gram | FS | FS masked |", "|---|---|---|---|---|---|"]
    for m in ROW_METHODS:
        for r in study.rounds_of(m):
            lines.append(f"| {LABELS[m]} | {r} | {_cell(study, m, r, 'well_formed', 1, 3)} | "
                         f"{_cell(study, m, r, 'repeated_ngram', 1, 3)} | {_cell(study, m, r, 'FS', 1, 0)} | "
                         f"{_cell(study, m, r, 'FS_masked', 1, 0)} |")
    return "\n".join(lines)


def rejection_table(stats: dict[int, dict]) -> str:
    lines = ["| round | method | kept a candidate | fell back | candidates naming the label | questions with a correct "
             "candidate | distinct candidates per question | candidates looping | score's choice ≠ a random passing one |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rnd, by_method in sorted(stats.items()):
        for m, s in by_method.items():
            differs = s.get("score_differs_from_random")
            lines.append(f"| {rnd} | {m} | {s['accepted']:.3f} | {s['fallback']:.3f} | {s['candidates_name_label']:.3f} | "
                         f"{s['questions_with_a_correct_candidate']:.3f} | {s['distinct_candidates']:.2f} | "
                         f"{s.get('looping_candidates', float('nan')):.3f} | {'—' if differs is None else f'{differs:.3f}'} |")
    return "\n".join(lines)


def beta_table(sweep: dict) -> str:
    lines = ["| encoder | beta | precision | recall | F1 | concepts kept per image | F1 all class concepts | F1 random same size |",
             "|---|---|---|---|---|---|---|---|"]
    for enc, by_beta in sweep["beta"].items():
        for b, q in by_beta.items():
            lines.append(f"| {enc} | {float(b):+.2f} | {q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} | "
                         f"{q['per_image']:.2f} | {q['all_class_concepts_f1']:.3f} | {q['random_same_size_f1']:.3f} |")
    return "\n".join(lines)


def descriptions_table(sweep: dict) -> str:
    lines = ["| descriptions per image | precision | recall | F1 |", "|---|---|---|---|"]
    for k, q in sweep["descriptions_per_image"].items():
        lines.append(f"| {k} | {q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} |")
    return "\n".join(lines)


PAIRED_METRICS = ("accuracy", "accuracy_lenient", "EE", "CS", "grounding", "FS_masked", "well_formed", "repeated_ngram")


def intervals_table(rows: Rows, cells: Sequence[tuple[str, int]], n_boot: int, confidence: float, seed: int) -> str:
    """estimate [low, high] of every metric per (method, round); accuracy in %."""
    head = "| method | " + " | ".join(METRICS) + " |"
    lines = [head, "|---" * (len(METRICS) + 1) + "|"]
    for m, r in cells:
        if (m, r) not in rows:
            continue
        out = []
        for metric in METRICS:
            iv = metric_interval(rows[(m, r)], metric, n_boot, confidence, seed)
            out.append("—" if iv is None else iv.fmt(*display_scale(metric)))
        lines.append(f"| {LABELS.get(m, m)} (round {r}) | " + " | ".join(out) + " |")
    return "\n".join(lines)


def paired_table(rows: Rows, pairs: Sequence[tuple[tuple[str, int], tuple[str, int]]], n_boot: int,
                 confidence: float, seed: int) -> str:
    """a − b on the same images per metric; ✓ where the interval excludes 0."""
    lines = ["| a − b | " + " | ".join(PAIRED_METRICS) + " |", "|---" * (len(PAIRED_METRICS) + 1) + "|"]
    for a, b in pairs:
        if a not in rows or b not in rows:
            continue
        out = []
        for metric in PAIRED_METRICS:
            d = paired_difference(rows[a], rows[b], metric, n_boot, confidence, seed)
            out.append("—" if d is None else d.fmt(*display_scale(metric)) + (" ✓" if d.excludes_zero() else ""))
        lines.append(f"| {a[0]} r{a[1]} − {b[0]} r{b[1]} | " + " | ".join(out) + " |")
    return "\n".join(lines)
