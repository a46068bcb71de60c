"""Figures people look at instead of reading tables."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .core.io import atomic_path  # noqa: E402
from .dataset.images import load_rgb  # noqa: E402


def world_contact_sheet(root: Path, labels: list[dict], manifest: list[dict], out: Path, per_class: int = 4,
                        max_classes: int = 16) -> None:
    """A few training images per class, each captioned with the concepts it really shows."""
    def shown(cls: dict, m: dict) -> str:
        hidden = len(cls["concepts"]) - len(m["visible_concepts"])
        return "\n".join(textwrap.shorten(c, 30) for c in m["visible_concepts"]) + f"\n({hidden} hidden)"

    contact_sheet(root, labels, manifest, out, "The aviary: training images per species, with the concepts each one shows",
                  shown, per_class, max_classes)


def contact_sheet(root: Path, labels: list[dict], manifest: list[dict], out: Path, title: str, caption=None,
                  per_class: int = 4, max_classes: int = 16) -> None:
    """A few training images per class; caption(class, row) titles each image when given."""
    classes = labels[:max_classes]
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 2.6, len(classes) * 2.9), squeeze=False)
    for row, cls in zip(axes, classes):
        rows = [m for m in manifest if m["label"] == cls["id"] and m["split"] == "train"][:per_class]
        for ax in row:
            ax.axis("off")
        for ax, m in zip(row, rows):
            ax.imshow(load_rgb(root / m["image"]))  # RGB always: a grey X-ray given as L would get a colour map
            if caption is not None:
                ax.set_title(caption(cls, m), fontsize=5, loc="left")
        row[0].text(-0.1, 0.5, cls["name"], transform=row[0].transAxes, rotation=90, ha="right", va="center",
                    fontsize=8, weight="bold")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out)


def loss_curve(steps: list[int], losses: list[float], out: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, losses)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    save_figure(fig, out)


def save_figure(fig, out: Path, dpi: int = 110) -> None:
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def note_figure(out: Path, title: str, note: str) -> None:
    """A declared figure that has nothing to draw on this data says why, instead of going missing."""
    fig, ax = plt.subplots(figsize=(5, 2.2))
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    ax.text(0.5, 0.5, textwrap.fill(note, 60), ha="center", va="center", fontsize=8, transform=ax.transAxes)
    save_figure(fig, out)
