"""The report's figures: accuracy over rounds, and the selection ablations."""
from __future__ import annotations

from pathlib import Path

from ..plots import plt, save_figure
from .intervals import Interval
from .study import ROW_METHODS, Study
from .tables import LABELS

COLORS = {"base": "#7f7f7f", "nl": "#ff7f0e", "lge": "#2ca02c", "ours": "#1f77b4", "nofilter": "#d62728"}


def accuracy_over_rounds(study: Study, out: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in ROW_METHODS[1:]:
        rounds = [0, *study.rounds_of(m)]
        means = [study.mean("base", 0, "accuracy")] + [study.mean(m, r, "accuracy") for r in rounds[1:]]
        spreads = [study.spread("base", 0, "accuracy")] + [study.spread(m, r, "accuracy") for r in rounds[1:]]
        ax.errorbar(rounds, [100 * x for x in means], yerr=[100 * (s or 0) for s in spreads], marker="o", capsize=3,
                    label=LABELS[m])
    ax.set_xlabel("round (0 = base model)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xticks(range(0, study.rounds + 1))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, out)


def curves_figure(study: Study, intervals: dict[tuple[str, int], Interval], confidence: float, out: Path,
                  title: str) -> None:
    """Accuracy (with its interval over test images) and CS over the rounds, side by side: the two curves the
    paper's claims are about. Round 0 is the base model, where every method starts."""
    fig, (acc_ax, cs_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for m in ROW_METHODS[1:]:
        rounds = [0, *study.rounds_of(m)]
        cells = [("base", 0)] + [(m, r) for r in rounds[1:]]
        acc = [100 * (study.mean(*c, "accuracy") or 0) for c in cells]
        low = [a - 100 * intervals[c].low if c in intervals else 0 for a, c in zip(acc, cells)]
        high = [100 * intervals[c].high - a if c in intervals else 0 for a, c in zip(acc, cells)]
        acc_ax.errorbar(rounds, acc, yerr=[low, high], marker="o", capsize=3, color=COLORS[m], label=LABELS[m])
        cs = [study.mean(*c, "CS") for c in cells]
        cs_ax.plot([r for r, v in zip(rounds, cs) if v is not None], [v for v in cs if v is not None], marker="o",
                   color=COLORS[m], label=LABELS[m])
    acc_ax.set_ylabel(f"accuracy (%), {confidence * 100:g}% interval")
    cs_ax.set_ylabel("CS (concept score)")
    for ax in (acc_ax, cs_ax):
        ax.set_xlabel("round (0 = base model)")
        ax.set_xticks(range(0, study.rounds + 1))
        ax.grid(alpha=0.3)
    cs_ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, out)


def selection_vs_descriptions(sweep: dict, out: Path, encoder: str, beta: float) -> None:
    ks = list(sweep["descriptions_per_image"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for score in ("precision", "recall", "f1"):
        ax.plot([int(k) for k in ks], [sweep["descriptions_per_image"][k][score] for k in ks], marker="o", label=score)
    ax.set_xscale("log")
    ax.set_xlabel("descriptions per image")
    ax.set_title(f"Z* against the visible concepts ({encoder}, beta {beta})", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, out)


def beta_sweep(sweep: dict, out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), sharex=True)
    for enc, by_beta in sweep["beta"].items():
        betas = [float(b) for b in by_beta]
        for ax, score in zip(axes, ("precision", "recall", "f1")):
            ax.plot(betas, [q[score] for q in by_beta.values()], marker="o", label=enc)
            ax.set_title(score, fontsize=9)
            ax.set_xlabel("beta")
            ax.grid(alpha=0.3)
    first = next(iter(sweep["beta"].values()))
    axes[2].plot([float(b) for b in first], [q["all_class_concepts_f1"] for q in first.values()], "k--",
                 label="all class concepts")
    axes[2].plot([float(b) for b in first], [q["random_same_size_f1"] for q in first.values()], "k:",
                 label="random, same size")
    axes[2].legend(fontsize=7)
    save_figure(fig, out)


def encoder_comparison(sweep: dict, out: Path, beta: float) -> None:
    encs = list(sweep["beta"])
    key = min(sweep["beta"][encs[0]], key=lambda b: abs(float(b) - beta))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    width = 0.8 / len(encs)
    for i, enc in enumerate(encs):
        q = sweep["beta"][enc][key]
        ax.bar([j + i * width for j in range(3)], [q["precision"], q["recall"], q["f1"]], width, label=enc)
    ax.set_xticks([j + width * (len(encs) - 1) / 2 for j in range(3)], ["precision", "recall", "F1"])
    ax.set_ylim(0, 1)
    ax.set_title(f"text encoders for selection (beta {float(key):+.2f})", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, out)
