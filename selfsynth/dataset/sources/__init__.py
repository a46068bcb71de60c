"""Real datasets into the pipeline's prepared format. Each adapter reads one dataset's layout as
published; prepare_dataset checks the result once and writes labels.json, manifest.jsonl (absolute
image paths, so the images stay where they were downloaded) and source.json. Every check runs before
the first write: bad input leaves out_dir as it was, with one DatasetError naming the file."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...core.io import dump_jsonl, write_json
from ..prepared import DatasetError
from . import aircraft, chest_xray, cub200, dogs, folder, ham10000, pld
from .common import Collected, check

ADAPTERS: dict[str, Callable[[Path, int], Collected]] = {
    "cub200": cub200.read,
    "aircraft": aircraft.read,
    "dogs": dogs.read,
    "ham10000": ham10000.read,
    "pld": pld.read,
    "chest_xray": chest_xray.read,
    "folder": folder.read,
}


def prepare_dataset(name: str, root: str | Path, out_dir: Path, seed: int) -> dict:
    """Write the prepared dataset `name` found at `root` into the existing directory out_dir;
    return {"classes", "train", "test"} counts."""
    if name not in ADAPTERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(ADAPTERS)}")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root not found (dataset {name!r})")
    collected = ADAPTERS[name](root, seed)
    check(collected, name, root)
    out_dir = Path(out_dir)
    write_json(out_dir / "labels.json", [{"id": i, "name": n} for i, n in enumerate(collected.names)])
    dump_jsonl(out_dir / "manifest.jsonl", (
        {"id": it.id, "image": str(it.image), "split": it.split, "label": it.label,
         "label_name": collected.names[it.label]} for it in collected.items))
    write_json(out_dir / "source.json", {"dataset": name, "root": str(root), "images": len(collected.items)})
    return {"classes": len(collected.names), "train": sum(it.split == "train" for it in collected.items),
            "test": sum(it.split == "test" for it in collected.items)}
