"""The project's commands besides its stages (`dvc repro` runs those), in one place:

    python -m selfsynth chat --method ours --round 4 --image data/dataset/images/test/test-003-0001.png
    python -m selfsynth seeds [--seeds 1 2] [--jobs 1]     # more seeds as DVC experiments, then their report
    python -m selfsynth ablations [--only beta-0] [--rounds 2] [--encoder DIR] [-S key=value] [--dry-run]
    python -m selfsynth table [-A]                        # `dvc exp show`, only the figures that matter
    python -m selfsynth seeds-report [--min-seeds 2]      # Table 1 and the claims over seeds, alone
    python -m selfsynth ablations-report [--names beta-0]
    python -m selfsynth llava15 OUT_DIR [--full] [--device cuda]   # an offline llava-1.5-shaped checkpoint
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.layout import METHODS


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m selfsynth", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split(":", 1)[1])
    sub = ap.add_subparsers(dest="command", required=True, metavar="command")

    chat = sub.add_parser("chat", help="ask a model about one image, several turns (the paper's case study)")
    which = chat.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="a LLaVA model directory")
    which.add_argument("--method", choices=["base", *METHODS], help="a model of the study")
    chat.add_argument("--round", type=int, default=1, help="with --method: after which round (default 1)")
    chat.add_argument("--image", type=Path, required=True)
    chat.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    chat.add_argument("--max-new-tokens", type=int, default=96)
    chat.add_argument("--seed", type=int, default=0)

    for what, help_ in [("seeds", "queue and run more seeds as DVC experiments, then the seeds report"),
                        ("ablations", "queue and run the paper's ablations as DVC experiments, then their report")]:
        exp = sub.add_parser(what, help=help_)
        if what == "seeds":
            exp.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 10)),
                             help="seeds besides the workspace's own (seed 0): 10 in all; a subset per session adds "
                                  "to reports/seeds.json")
        else:
            exp.add_argument("--encoder", action="append", default=[], help="a local sentence-transformers dir to compare")
            exp.add_argument("--only", nargs="+", help="a subset of the ablations by name")
        exp.add_argument("-S", "--set", dest="extra", action="append", default=[], help="a param change for every experiment")
        exp.add_argument("--rounds", type=int, help="stop each experiment after this round (cheaper ablations)")
        exp.add_argument("--jobs", type=int, default=1,
                         help="experiments at once (each already uses every core, and two base stages side by side "
                              "oversubscribe them: docs/verdict.md, 'The seeds of the 6-epoch decoder')")
        exp.add_argument("--prefix", default="", help="prefix for the experiment names (names must be new)")
        exp.add_argument("--dry-run", action="store_true", help="print the dvc commands only")

    table = sub.add_parser("table", help="`dvc exp show` cut to each method's accuracy and CS at the last round")
    table.add_argument("dvc_args", nargs=argparse.REMAINDER, help="extra `dvc exp show` arguments, e.g. -A")

    seeds = sub.add_parser("seeds-report", help="Table 1 and the claims over the seeds MLflow and reports/seeds.json hold")
    seeds.add_argument("--min-seeds", type=int, default=2)
    seeds.add_argument("--out", type=Path, default=Path("reports"))

    abl = sub.add_parser("ablations-report", help="the study-level ablations against the workspace's study")
    abl.add_argument("--names", nargs="+", help="DVC experiment names (default: every one in MLflow but the seeds)")
    abl.add_argument("--out", type=Path, default=Path("reports"))

    llava = sub.add_parser("llava15", help="write a llava-1.5-7b-hf-shaped checkpoint with random weights, offline")
    llava.add_argument("out_dir")
    llava.add_argument("--full", action="store_true", help="the real 7B widths (random weights, bf16, ~14 GB)")
    llava.add_argument("--device", default="cpu", help="where to initialise the weights (cuda for --full)")
    llava.add_argument("--seed", type=int, default=0)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    if a.command == "chat":
        from .chat import chat
        from .core.layout import model_dir
        return chat(a.model or model_dir(a.method, a.round), a.image, a.temperature, a.max_new_tokens, a.seed)
    if a.command in ("seeds", "ablations"):
        from .experiments import planned, run
        try:
            experiments = planned(a.command, getattr(a, "seeds", ()), getattr(a, "encoder", ()), getattr(a, "only", None))
        except KeyError as e:
            ap.error(e.args[0])
        return run(a.command, experiments, a.extra, a.rounds, a.jobs, a.prefix, a.dry_run)
    if a.command == "table":
        from .report.exp_table import readable_exp_show
        print(readable_exp_show(a.dvc_args))
        return 0
    if a.command == "seeds-report":
        from .report.seeds import write_report
        return write_report(a.min_seeds, a.out)
    if a.command == "ablations-report":
        from .report.ablations import write_report
        return write_report(a.names, a.out)
    from .lmm.llava15 import build
    out = build(a.out_dir, full=a.full, device=a.device, seed=a.seed)
    print(f"wrote {out} ({'full 7B' if a.full else 'tiny'} llava-1.5 shape)")
    return 0
