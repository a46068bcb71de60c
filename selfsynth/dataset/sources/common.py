"""What every adapter shares: index-file reading, class-folder listing, readable names, the seeded
stratified split, and the final checks. Adapters only describe their layout; errors come from here
so that every dataset fails the same way: one DatasetError naming the file or folder."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..prepared import DatasetError

SPLITS = ("train", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Item:
    """One image of the manifest; listed_in says where it came from, for error messages."""
    id: str
    image: Path
    split: str
    label: int
    listed_in: str


@dataclass(frozen=True)
class Collected:
    """An adapter's answer: readable class names (index = class id), where each class is defined,
    and the images."""
    names: list[str]
    defined_in: list[str]
    items: list[Item]


@dataclass(frozen=True)
class Line:
    key: str
    value: str
    where: str  # "path:lineno"


def require_file(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise DatasetError(f"{path}: missing (expected {expected})")
    return path


def require_dir(path: Path, expected: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{path}: folder missing (expected {expected})")
    return path


def nested_root(root: Path, sub: str, marker: str) -> Path:
    """The dataset root itself, or its `sub` folder as archives extract it, whichever holds `marker`."""
    for cand in (root, root / sub):
        if (cand / marker).exists():
            return cand
    raise DatasetError(f"{root}: no {marker} here or in {root / sub} (is this the {sub} download?)")


def read_index(path: Path, expected: str) -> list[Line]:
    """Lines "<key> <value>" (value may contain spaces); blank lines skipped; duplicate keys rejected."""
    require_file(path, f"an index file of '{expected}' lines")
    lines, seen = [], {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip():
            continue
        parts = raw.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise DatasetError(f"{path}:{n}: expected '{expected}', got {raw!r}")
        if parts[0] in seen:
            raise DatasetError(f"{path}:{n}: {parts[0]!r} already listed on line {seen[parts[0]]}")
        seen[parts[0]] = n
        lines.append(Line(parts[0], parts[1], f"{path}:{n}"))
    return lines


def index_map(lines: list[Line]) -> dict[str, Line]:
    return {line.key: line for line in lines}


def as_int(text: str, where: str, what: str, allowed: Sequence[int] | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or (allowed is not None and value not in allowed):
        want = f"one of {list(allowed)}" if allowed is not None else "an integer"
        raise DatasetError(f"{where}: {what} should be {want}, got {text!r}")
    return value


def readable(raw: str) -> str:
    """Folder or file-list spelling to a name a prompt can use: underscores to spaces, one space."""
    return " ".join(raw.replace("_", " ").split())


def strip_prefix(raw: str, pattern: str) -> str:
    """Drop a catalogue prefix such as CUB's "001." or a WordNet id "n02085620-"."""
    return re.sub(pattern, "", raw, count=1)


def images_in(folder: Path) -> list[Path]:
    """Image files directly in folder, sorted; hidden files and non-images ignored."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def class_folders(folder: Path) -> list[Path]:
    """Sub-folders sorted by name; hidden ones and archive debris (__MACOSX) ignored."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def from_split_folders(root: Path, name: Callable[[str], str], test_folder: str = "test") -> Collected:
    """root/{train,<test_folder>}/<class>/<image>: classes are train's folders, sorted; the test
    folder may not add any."""
    dirs = {s: require_dir(root / f, f"one folder per class under {root / f}")
            for s, f in zip(SPLITS, ("train", test_folder))}
    folders = _some_class_folders(dirs["train"])
    index = {f.name: i for i, f in enumerate(folders)}
    items = []
    for split, d in dirs.items():
        for f in class_folders(d):
            if f.name not in index:
                raise DatasetError(f"{f}: class folder not in {dirs['train']} (unknown class "
                                   f"{f.name!r}; known: {', '.join(index)})")
            items += _folder_items(root, f, split, index[f.name])
    return Collected([name(f.name) for f in folders], [str(f) for f in folders], items)


def from_class_folders(root: Path, name: Callable[[str], str], seed: int, test_fraction: float) -> Collected:
    """root/<class>/<image> with no split on disk: a seeded split stratified by class."""
    folders = _some_class_folders(root)
    items = [it for i, f in enumerate(folders) for it in _folder_items(root, f, "train", i)]
    test = stratified_test([it.id for it in items], [folders[it.label].name for it in items],
                           test_fraction, seed, root)
    items = [Item(it.id, it.image, "test" if it.id in test else "train", it.label, it.listed_in) for it in items]
    return Collected([name(f.name) for f in folders], [str(f) for f in folders], items)


def _some_class_folders(folder: Path) -> list[Path]:
    folders = class_folders(folder)
    if not folders:
        raise DatasetError(f"{folder}: no class folders (expected one sub-folder of images per class)")
    return folders


def _folder_items(root: Path, folder: Path, split: str, label: int) -> list[Item]:
    images = images_in(folder)
    if not images:
        raise DatasetError(f"{folder}: class folder has no images (expected {', '.join(sorted(IMAGE_SUFFIXES))} files)")
    return [Item(p.relative_to(root).as_posix(), p, split, label, str(folder)) for p in images]


def stratified_test(keys: list[str], strata: list[str], test_fraction: float, seed: int,
                    where: Path | str, unit: str = "image") -> set[str]:
    """The keys drawn for test by scikit-learn's train_test_split, stratified by `strata`; inputs
    are sorted first so that only the seed, never listing order, decides the split."""
    from sklearn.model_selection import train_test_split

    for stratum, n in sorted(Counter(strata).items()):
        if n < 2:
            raise DatasetError(f"{where}: class {stratum!r} has {n} {unit}; a stratified split needs at least 2")
    pairs = sorted(zip(keys, strata))
    try:
        _, test = train_test_split([k for k, _ in pairs], test_size=test_fraction,
                                   stratify=[s for _, s in pairs], random_state=seed)
    except ValueError as e:
        raise DatasetError(f"{where}: cannot split {len(pairs)} {unit}s stratified by class: {e}") from None
    return set(test)


def check(c: Collected, dataset: str, root: Path) -> None:
    """The invariants every manifest keeps; existence is checked, images are not opened here."""
    seen: dict[str, Item] = {}
    for it in c.items:
        if it.id in seen:
            raise DatasetError(f"{it.listed_in}: image id {it.id!r} listed twice (also {seen[it.id].listed_in})")
        seen[it.id] = it
        if not it.image.is_file():
            raise DatasetError(f"{it.image}: image missing (listed in {it.listed_in})")
        if not it.image.resolve().is_relative_to(root):
            _outside(it, root)
    counts = Counter((it.label, it.split) for it in c.items)
    for label, (name, where) in enumerate(zip(c.names, c.defined_in)):
        if not counts[label, "train"] + counts[label, "test"]:
            raise DatasetError(f"{where}: class {name!r} has no images")
        if not counts[label, "train"]:
            raise DatasetError(f"{where}: class {name!r} has no training images")
    dupes = [n for n, k in Counter(c.names).items() if k > 1]
    if dupes:
        raise DatasetError(f"{dataset}: readable class name {dupes[0]!r} given to more than one class "
                           f"({', '.join(w for n, w in zip(c.names, c.defined_in) if n == dupes[0])})")


def _outside(it: Item, root: Path) -> None:
    """A dataset is its root folder (read in place, treated as immutable): an image that resolves
    elsewhere, through a symlink to a file or to a folder on its way, is refused, naming the link."""
    link = next((p for p in [*reversed(it.image.parents), it.image]
                 if p.is_symlink() and not p.resolve().is_relative_to(root)), None)
    how = f"{link}: symbolic link to {link.resolve()}" if link else f"{it.image}: resolves to {it.image.resolve()}"
    raise DatasetError(f"{how}, outside the dataset root {root} (listed in {it.listed_in}); copy the "
                       f"images in, or make dataset.root a folder that holds them")
