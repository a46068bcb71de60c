"""`dvc exp show` cut to the figures that matter: one row per experiment, the params an ablation
changes and each method's accuracy and CS at the last round.

Plain `dvc exp show` prints every metric of every round and every param — over 300 columns, too
wide to read. This keeps the columns with
`--drop '.*' --keep REGEX` (the README's recipe, with the last round filled in from params.yaml)
and prints them with short headers (`ours.r4.acc`).

    python -m selfsynth table [extra dvc exp show args, e.g. -A]
"""
from __future__ import annotations

import csv
import io
import re
import subprocess

from ..core.params import load_params

PARAMS = ("seed", "select.beta", "select.encoder", "rejection.label_check")


def keep_regex(last_round: int) -> str:
    """Columns to keep; DVC matches it from the start of each column name."""
    params = "|".join(re.escape(p) for p in PARAMS)
    return (rf"^(Experiment|rev|{params})$"
            rf"|metrics/eval/(round-0/base|round-{last_round}/[a-z]+)\.json:(accuracy|CS)$")


def command(last_round: int, extra: list[str] = ()) -> list[str]:
    return ["dvc", "exp", "show", "--no-pager", "--csv", "--precision", "3", "--drop", ".*",
            "--keep", keep_regex(last_round), *extra]


def short(header: str) -> str:
    """metrics/eval/round-4/ours.json:accuracy -> ours.r4.acc; select.beta -> beta"""
    header = re.sub(r"^metrics/eval/round-(\d+)/([a-z]+)\.json:", r"\2.r\1.", header)
    return re.sub(r"^(select|rejection)\.", "", header.removesuffix("uracy"))


def align(csv_text: str) -> str:
    rows = list(csv.reader(io.StringIO(csv_text)))
    if not rows:
        return ""
    rows[0] = [short(h) for h in rows[0]]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def readable_exp_show(extra: list[str] = ()) -> str:
    proc = subprocess.run(command(load_params().last_round, list(extra)), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"dvc exp show failed:\n{proc.stderr[-2000:]}")
    return align(proc.stdout)

