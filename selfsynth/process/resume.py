"""Work a long stage has finished, kept until the stage completes, so that a stage killed at any
point (kill -9, OOM, Ctrl-C) and rerun goes on from its last finished unit: a shard of generation
or a training checkpoint.

The work lives under .resume/<stage>/<fingerprint>/: not a DVC output (DVC never commits it), ignored
by git, and named by a fingerprint of the stage's params and inputs, so that a changed input or
param starts afresh (the folders of other fingerprints are removed). The stage removes its folder
when its outputs are written. A shard is written atomically: half a shard is never read back.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from ..core.io import atomic_path
from .parallel import run_jobs

ROOT = Path(".resume")
CODE = Path(__file__).resolve().parents[2]  # selfsynth/ and stages/ below it: part of every fingerprint
J = TypeVar("J")
R = TypeVar("R")
log = logging.getLogger(__name__)


def fingerprint(params, inputs: Sequence[str | Path]) -> str:
    """The code (every .py of selfsynth/ and stages/), the params, and for every file under
    `inputs` its path, size and modification time (a write changes it; no input is read whole, so a
    7B model costs nothing to fingerprint)."""
    h = hashlib.sha256(json.dumps(params.model_dump(mode="json") if hasattr(params, "model_dump") else params,
                                  sort_keys=True, default=str).encode())
    for source in sorted(p for package in ("selfsynth", "stages") for p in (CODE / package).rglob("*.py")):
        h.update(source.read_bytes())
    for top in sorted(map(Path, inputs)):
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for f in files:
            st = f.stat()
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


class Partial:
    """The finished units of one stage's run on these params and inputs."""

    def __init__(self, stage: str, params, inputs: Sequence[str | Path]):
        self.stage_dir = ROOT / stage
        self.dir = self.stage_dir / fingerprint(params, inputs)
        if self.stage_dir.is_dir():
            for other in self.stage_dir.iterdir():
                if other != self.dir:  # another fingerprint's work: stale
                    shutil.rmtree(other, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    def load(self, unit: str):
        path = self.dir / f"{unit}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, unit: str, value) -> str:
        """Keep a unit's result; return the JSON written."""
        text = json.dumps(value)
        with atomic_path(self.dir / f"{unit}.json") as tmp:
            tmp.write_text(text)
        return text

    def checkpoints(self, unit: str) -> Path:
        """A folder for a training unit's checkpoints (transformers' output_dir)."""
        return self.dir / unit

    def done(self) -> None:
        """The stage's outputs are written: its partial work goes."""
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        if ROOT.is_dir() and not any(ROOT.iterdir()):
            os.rmdir(ROOT)


def run_units(fn: Callable[[J], R], jobs: Sequence[J], units: Sequence[str], partial: Partial, workers: int,
              threads: int = 1, what: str = "units") -> list[R]:
    """run_jobs over the jobs whose unit `partial` has not finished; each result saved as it comes
    (JSON), the finished ones read back. Results in job order, as one uninterrupted run's."""
    results: list = [partial.load(u) for u in units]
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) < len(jobs):
        log.info("resuming: %d of %d %s already done (%s)", len(jobs) - len(todo), len(jobs), what, partial.dir)

    def keep(k: int, result) -> None:
        # what JSON gives back (lists for tuples), as for a result read back: a resumed run and an
        # uninterrupted one return the same values
        results[todo[k]] = json.loads(partial.save(units[todo[k]], result))

    run_jobs(fn, [jobs[i] for i in todo], workers, threads, on_result=keep)
    return results
