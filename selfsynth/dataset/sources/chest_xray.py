"""Chest X-ray pneumonia (Kermany et al.): chest_xray/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg. The
root may be the download folder holding chest_xray/ or chest_xray/ itself. The tiny official val/
(16 images) is left out, as is common. Names are the folder names in lower case."""
from __future__ import annotations

from pathlib import Path

from .common import Collected, from_split_folders, nested_root


def read(root: Path, seed: int) -> Collected:  # noqa: ARG001 - the split is on disk
    return from_split_folders(nested_root(root, "chest_xray", "train"), str.lower)
