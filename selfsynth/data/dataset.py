"""A prepared dataset on disk: labels, manifest of class images, and (world only) the generic corpus."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from PIL import Image
from tqdm import tqdm

from ..io import read_json, read_jsonl


class DatasetError(ValueError):
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


def load_prepared(root: str | Path) -> PreparedDataset:
    root = Path(root)
    generic = read_jsonl(root / "generic.jsonl") if (root / "generic.jsonl").exists() else []
    return PreparedDataset(root, read_json(root / "labels.json"), read_jsonl(root / "manifest.jsonl"), generic)


def check_images(root: Path, rows: Iterable[dict], what: str) -> None:
    """Open every image once before long work, so a bad file fails fast and by name."""
    for row in tqdm(list(rows), desc=f"check {what} images", mininterval=5):
        path = root / row["image"]
        if not path.is_file():
            raise DatasetError(f"{path}: image missing (listed in {what})")
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as e:  # noqa: BLE001 - PIL raises many types for a bad file
            raise DatasetError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
