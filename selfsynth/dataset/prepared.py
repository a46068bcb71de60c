"""A prepared dataset on disk: labels, manifest of class images, and (world only) the generic corpus."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from PIL import Image
from tqdm import tqdm

from ..core.errors import InputError
from ..core.io import read_json, read_jsonl
from .images import load_rgb

NO_TRUTH = "skipped: a real dataset does not record which features each image shows"


class DatasetError(ValueError, InputError):
    pass


@dataclass(frozen=True)
class PreparedDataset:
    root: Path
    labels: list[dict]
    manifest: list[dict]
    generic: list[dict]

    def image(self, row: dict) -> Path:
        """row["image"] is relative to root (the world) or absolute (real datasets): pathlib's `/`
        keeps an absolute right-hand side as it is."""
        return self.root / row["image"]

    def split(self, name: str) -> list[dict]:
        return [r for r in self.manifest if r["split"] == name]

    @property
    def class_names(self) -> list[str]:
        return [lab["name"] for lab in self.labels]

    @property
    def has_world_truth(self) -> bool:
        """The aviary records which concepts each image shows; a real dataset has labels only, so
        the scores that need that truth (description P/R, selection P/R, grounding) are skipped."""
        return all("attributes" in lab for lab in self.labels) and all("visible" in r for r in self.manifest)


def spread_over_classes(rows: list[dict], n: int) -> list[dict]:
    """At most n rows, taken class by class in turn (each class's rows in manifest order): the
    first n of a class-sorted manifest would evaluate only the first few classes. All rows, in
    their order, when there are at most n."""
    if len(rows) <= n:
        return list(rows)
    by_class: dict = {}
    for r in rows:
        by_class.setdefault(r["label"], []).append(r)
    queues = list(by_class.values())
    out = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)][:n]
    keep = {id(r) for r in out}
    return [r for r in rows if id(r) in keep]


def load_prepared(root: str | Path) -> PreparedDataset:
    root = Path(root)
    generic = read_jsonl(root / "generic.jsonl") if (root / "generic.jsonl").exists() else []
    dataset = PreparedDataset(root, read_json(root / "labels.json"), read_jsonl(root / "manifest.jsonl"), generic)
    check_manifest(dataset)
    return dataset


MANIFEST_KEYS = ("id", "image", "label", "label_name", "split")


def check_manifest(dataset: PreparedDataset) -> None:
    """Every manifest row has the keys the stages read, every label a name in labels.json."""
    where = dataset.root / "manifest.jsonl"
    for n, row in enumerate(dataset.manifest, 1):
        missing = [k for k in MANIFEST_KEYS if k not in row]
        if missing:
            raise DatasetError(f"{where}:{n}: row {row.get('id', '?')!r} has no {', '.join(missing)}")
        if not 0 <= int(row["label"]) < len(dataset.labels):
            raise DatasetError(f"{where}:{n}: label {row['label']} is not in labels.json ({len(dataset.labels)} classes)")


def check_images(root: Path, rows: Iterable[dict], what: str) -> None:
    """Open every image once before long work, as the stages will (load_rgb), so a bad file fails fast and by name."""
    for row in tqdm(list(rows), desc=f"check {what} images", mininterval=5):
        path = root / row["image"]
        if not path.is_file():
            raise DatasetError(f"{path}: image missing (listed in {what})")
        try:
            with Image.open(path) as im:
                im.verify()  # structure and checksums; verify() leaves the file unusable, so reopen
            load_rgb(path)  # decode every pixel: a truncated file passes verify() but not this
        except Exception as e:  # noqa: BLE001 - PIL raises many types for a bad file
            raise DatasetError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def duplicates(root: Path, rows: Iterable[dict], allow_across_splits: bool, examples: int = 3) -> dict:
    """Exact duplicate image files (the same bytes) among rows, for metrics/dataset.json. One file's
    content in train and in test scores a model on an image it was trained on: a DatasetError naming
    both, unless allow_across_splits (the param dataset.allow_split_duplicates)."""
    by_digest: dict[str, list[dict]] = {}
    for row in tqdm(list(rows), desc="hash images", mininterval=5):
        with open(root / row["image"], "rb") as f:
            by_digest.setdefault(hashlib.file_digest(f, "blake2b").hexdigest(), []).append(row)
    groups = [g for g in by_digest.values() if len(g) > 1]
    leaks = [g for g in groups if len({r["split"] for r in g}) > 1]
    if leaks and not allow_across_splits:
        train, test = (next(root / r["image"] for r in leaks[0] if r["split"] == s) for s in ("train", "test"))
        raise DatasetError(f"{train} (train) and {test} (test) hold the same bytes: the model would be tested on an "
                           f"image it trained on ({len(leaks)} such group(s) in all); remove one copy, or set "
                           f"dataset.allow_split_duplicates: true to run the split as published")
    return {"groups": len(groups), "files": sum(map(len, groups)), "across_splits": len(leaks),
            "examples": [[r["image"] for r in g] for g in groups[:examples]]}
