"""A user's own domain: root/<class name>/<image>, class ids in folder-name order. If root holds
train/ and test/, those are the split (each with the same class folders); otherwise a seeded split
stratified by class puts a quarter of each class in test."""
from __future__ import annotations

from pathlib import Path

from ..prepared import DatasetError
from .common import Collected, from_class_folders, from_split_folders, readable

TEST_FRACTION = 0.25


def read(root: Path, seed: int) -> Collected:
    has = [s for s in ("train", "test") if (root / s).is_dir()]
    if len(has) == 1:
        missing = {"train", "test"} - set(has)
        raise DatasetError(f"{root}: has {has[0]}/ but no {missing.pop()}/ (use both, or neither and "
                           f"one folder per class directly under {root})")
    if has:
        return from_split_folders(root, readable)
    return from_class_folders(root, readable, seed, TEST_FRACTION)
