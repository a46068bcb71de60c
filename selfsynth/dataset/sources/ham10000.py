"""HAM10000 dermatoscopy (ISIC 2018 task 3 training set). It ships without a split, so we draw one:
50/50, stratified by diagnosis, seeded, and grouped by lesion: the dataset holds several images of
one lesion, and letting them straddle the split would test on lesions seen in training. Lesions
(each with one diagnosis) are split by scikit-learn's train_test_split(stratify=dx, random_state=seed)
and every image follows its lesion, so the image-level split is stratified up to lesion sizes.
Classes are the diagnoses present in the metadata, in code order, named in words."""
from __future__ import annotations

import csv
from pathlib import Path

from ..prepared import DatasetError
from .common import Collected, Item, require_file, stratified_test

NAMES = {"akiec": "actinic keratosis", "bcc": "basal cell carcinoma", "bkl": "benign keratosis",
         "df": "dermatofibroma", "mel": "melanoma", "nv": "melanocytic nevus", "vasc": "vascular lesion"}
IMAGE_DIRS = ("HAM10000_images_part_1", "HAM10000_images_part_2", "images")
COLUMNS = ("lesion_id", "image_id", "dx")
TEST_FRACTION = 0.5


def read(root: Path, seed: int) -> Collected:
    meta = require_file(root / "HAM10000_metadata.csv", f"a CSV with columns {', '.join(COLUMNS)}")
    found = _image_files(root)
    rows, lesion_dx = [], {}
    with open(meta, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{meta}: no {', '.join(missing)} column (header: {reader.fieldnames})")
        for row in reader:
            where = f"{meta}:{reader.line_num}"
            lesion, image, dx = (row[c].strip() if row[c] else "" for c in COLUMNS)
            if not (lesion and image) or dx not in NAMES:
                raise DatasetError(f"{where}: expected lesion_id, image_id and dx in {sorted(NAMES)}, "
                                   f"got {lesion!r}, {image!r}, {dx!r}")
            if lesion_dx.setdefault(lesion, dx) != dx:
                raise DatasetError(f"{where}: lesion {lesion} has diagnosis {dx!r} here but {lesion_dx[lesion]!r} earlier")
            if image not in found:
                raise DatasetError(f"{where}: image {image}.jpg not found in any of "
                                   f"{', '.join(str(root / d) for d in IMAGE_DIRS)}")
            rows.append((image, lesion, dx, where))
    codes = sorted({dx for *_, dx, _ in rows})
    lesions = sorted(lesion_dx)
    test = stratified_test(lesions, [NAMES[lesion_dx[k]] for k in lesions], TEST_FRACTION, seed, meta, unit="lesion")
    items = [Item(image, found[image], "test" if lesion in test else "train", codes.index(dx), where)
             for image, lesion, dx, where in rows]
    return Collected([NAMES[c] for c in codes], [f"{meta} (dx={c})" for c in codes], items)


def _image_files(root: Path) -> dict[str, Path]:
    """image_id -> file, from whichever of the known image folders exist (one listing each)."""
    dirs = [root / d for d in IMAGE_DIRS if (root / d).is_dir()]
    if not dirs:
        raise DatasetError(f"{root}: no image folder (expected {' and/or '.join(IMAGE_DIRS[:2])}, or {IMAGE_DIRS[2]}/)")
    found: dict[str, Path] = {}
    for d in dirs:
        for p in sorted(d.iterdir()):
            if p.suffix.lower() == ".jpg":
                found.setdefault(p.stem, p)
    return found
