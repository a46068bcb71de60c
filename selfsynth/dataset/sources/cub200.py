"""CUB-200-2011: the official index files decide everything (classes, labels, the train/test split),
so results match the papers that use it. Root is CUB_200_2011/ or the folder the archive unpacked in."""
from __future__ import annotations

from pathlib import Path

from ..prepared import DatasetError
from .common import Collected, Item, as_int, index_map, read_index, readable, strip_prefix, nested_root


def read(root: Path, seed: int) -> Collected:  # noqa: ARG001 - the split is the official one
    root = nested_root(root, "CUB_200_2011", "images.txt")
    classes = read_index(root / "classes.txt", "<class_id> NNN.Class_name")
    ids = [as_int(c.key, c.where, "class id") for c in classes]
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise DatasetError(f"{root / 'classes.txt'}: class ids should be 1..{len(ids)}, got {sorted(ids)}")
    by_id = dict(zip(ids, classes))
    order = sorted(ids)
    labels = index_map(read_index(root / "image_class_labels.txt", "<image_id> <class_id>"))
    splits = index_map(read_index(root / "train_test_split.txt", "<image_id> <1 train | 0 test>"))
    items = []
    for line in read_index(root / "images.txt", "<image_id> <relative path>"):
        lab, spl = _entry(labels, line, "image_class_labels.txt"), _entry(splits, line, "train_test_split.txt")
        class_id = as_int(lab.value, lab.where, "class id")
        if class_id not in by_id:
            raise DatasetError(f"{lab.where}: unknown class {class_id} (classes.txt lists 1..{len(ids)})")
        split = "train" if as_int(spl.value, spl.where, "split flag", (0, 1)) == 1 else "test"
        items.append(Item(line.key, root / "images" / line.value, split, class_id - 1, line.where))
    return Collected([readable(strip_prefix(by_id[i].value, r"^\d+\.")) for i in order],
                     [by_id[i].where for i in order], items)


def _entry(index: dict, line, filename: str):
    if line.key not in index:
        raise DatasetError(f"{line.where}: image {line.key} has no line in {filename}")
    return index[line.key]
