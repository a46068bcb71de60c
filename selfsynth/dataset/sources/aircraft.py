"""FGVC-Aircraft 2013b at the variant level (100 classes), the level the fine-grained papers report.
variants.txt fixes the class order; the official trainval list is train and the test list is test.
Root is fgvc-aircraft-2013b/ (holding data/) or the folder the archive unpacked in."""
from __future__ import annotations

from pathlib import Path

from ..prepared import DatasetError
from .common import Collected, Item, read_index, require_file, nested_root

LISTS = {"train": "images_variant_trainval.txt", "test": "images_variant_test.txt"}


def read(root: Path, seed: int) -> Collected:  # noqa: ARG001 - the split is the official one
    data = nested_root(root, "fgvc-aircraft-2013b", "data") / "data"
    vpath = require_file(data / "variants.txt", "one variant name per line")
    variants = [(v.strip(), f"{vpath}:{n}") for n, v in enumerate(vpath.read_text().splitlines(), 1) if v.strip()]
    index: dict[str, int] = {}
    for v, where in variants:
        if v in index:
            raise DatasetError(f"{where}: variant {v!r} listed twice")
        index[v] = len(index)
    items = []
    for split, name in LISTS.items():
        for line in read_index(data / name, "<image_id> <variant name>"):
            if line.value not in index:
                raise DatasetError(f"{line.where}: unknown variant {line.value!r} (not in {vpath})")
            items.append(Item(line.key, data / "images" / f"{line.key}.jpg", split, index[line.value], line.where))
    return Collected([v for v, _ in variants], [w for _, w in variants], items)
