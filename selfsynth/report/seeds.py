"""Table 1 with mean ± spread over seeds, from MLflow: `make seeds` runs the seeds, then this.

    python -m selfsynth.report.seeds [--min-seeds 3]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..io import atomic_path
from ..params import load_params
from ..tracking import params_key, tracking_uri
from .claims import claims_markdown
from .figures import accuracy_over_rounds
from .tables import accuracy_table, final_scores_table, text_quality_table
from .tracked import study_from_mlflow

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m selfsynth.report.seeds")
    ap.add_argument("--min-seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    args = ap.parse_args(argv)
    params = load_params()
    config = params_key(params, ("seed",))
    study = study_from_mlflow(tracking_uri(params), params.tracking.experiment or params.dataset.name, config)
    if len(study.seeds) < args.min_seeds:
        print(f"MLflow has seeds {study.seeds} for config {config}; need {args.min_seeds} (run `make seeds`)", file=sys.stderr)
        return 1
    title = f"{params.dataset.name} ({params.world.size}), seeds {', '.join(map(str, study.seeds))}, config {config}"
    text = f"""# Table 1 over seeds — {title}

Mean ± standard deviation over {len(study.seeds)} seeds (`seed` varies descriptions, selection,
pairs, LoRA initialisation and sampling; the world and the base model stay fixed, as a dataset
and a checkpoint would). Accuracy in %, strict.

{accuracy_table(study)}

{final_scores_table(study)}

Explanation text per method and round (well formed, repeated 3-gram, FS, FS with class names masked):

{text_quality_table(study)}

## The paper's claims, on the means (read the spread before believing one)

{claims_markdown(study)}
"""
    with atomic_path(args.out / "table1-seeds.md") as tmp:
        tmp.write_text(text)
    accuracy_over_rounds(study, args.out / "accuracy-seeds.png", f"accuracy per round, mean ± sd — {title}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
