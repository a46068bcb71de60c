"""Stanford Dogs: classes are the breed folders under Images/ (sorted, as the official 1-based labels
are), the split is the official lists/{train,test}_list.mat. A label that disagrees with its file's
folder is an error: it would mean the lists and the images come from different releases.
The lists may sit in lists/ or, as lists.tar unpacks, directly in the root."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..prepared import DatasetError
from .common import Collected, Item, class_folders, readable, require_dir, strip_prefix

LISTS = {"train": "train_list.mat", "test": "test_list.mat"}


def read(root: Path, seed: int) -> Collected:  # noqa: ARG001 - the split is the official one
    images = require_dir(root / "Images", "one folder per breed, e.g. Images/n02085620-Chihuahua")
    folders = class_folders(images)
    index = {f.name: i for i, f in enumerate(folders)}
    items = []
    for split, name in LISTS.items():
        path = root / "lists" / name
        if not path.is_file() and (root / name).is_file():
            path = root / name
        for n, (rel, label) in enumerate(_read_mat(path), 1):
            where = f"{path} entry {n}"
            breed = rel.split("/")[0]
            if breed not in index:
                raise DatasetError(f"{where}: {rel!r} is in unknown class folder {breed!r} (not under {images})")
            if label != index[breed] + 1:
                raise DatasetError(f"{where}: label {label} disagrees with folder {breed!r} (label {index[breed] + 1})")
            items.append(Item(rel.rsplit(".", 1)[0], images / rel, split, index[breed], where))
    return Collected([readable(strip_prefix(f.name, r"^n\d+-")) for f in folders], [str(f) for f in folders], items)


def _read_mat(path: Path) -> list[tuple[str, int]]:
    """(relative path, 1-based label) pairs. The real files hold file_list as an N x 1 cell array of
    1-element char arrays and labels as N x 1; flat arrays (other savers) are accepted too."""
    from scipy.io import loadmat

    if not path.is_file():
        raise DatasetError(f"{path}: missing (expected a MATLAB file with 'file_list' and 'labels')")
    try:
        mat = loadmat(str(path))
    except Exception as e:  # noqa: BLE001 - scipy raises several types for a bad file
        raise DatasetError(f"{path}: not a readable .mat file ({type(e).__name__}: {e})") from None
    missing = [k for k in ("file_list", "labels") if k not in mat]
    if missing:
        raise DatasetError(f"{path}: no {' or '.join(missing)} variable (has {', '.join(k for k in mat if not k.startswith('__'))})")
    files, labels = np.ravel(mat["file_list"]), np.ravel(mat["labels"])
    if len(files) != len(labels):
        raise DatasetError(f"{path}: {len(files)} files but {len(labels)} labels")
    return [(_text(f, path, n), int(lab)) for n, (f, lab) in enumerate(zip(files, labels), 1)]


def _text(cell, path: Path, n: int) -> str:
    while isinstance(cell, np.ndarray):
        if cell.size != 1:
            raise DatasetError(f"{path} entry {n}: expected one path per file_list cell, got {cell.size} values")
        cell = cell.ravel()[0]
    return str(cell).replace("\\", "/")
