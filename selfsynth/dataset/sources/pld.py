"""Plant leaf disease (PlantVillage-style folders): root/{train,test}/<Plant___Condition>/<image>,
or Kaggle's "New Plant Diseases Dataset" layout, root/{train,valid}/... (valid is the test split).
Names read "<Plant> <condition>": "Tomato___Late_blight" -> "Tomato late blight"; the condition is
lower-cased so the name reads as one phrase in a prompt."""
from __future__ import annotations

from pathlib import Path

from .common import Collected, from_split_folders, readable


def name(folder: str) -> str:
    plant, _, condition = folder.partition("___")
    return " ".join(filter(None, (readable(plant), readable(condition).lower())))


def read(root: Path, seed: int) -> Collected:  # noqa: ARG001 - the split is on disk
    test = "valid" if not (root / "test").is_dir() and (root / "valid").is_dir() else "test"
    return from_split_folders(root, name, test)
