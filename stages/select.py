"""Step 1.2: information-bottleneck selection of the image-level concepts Z* each image really shows.
Also the selection-only ablations (beta grid, text encoders, descriptions per image), which reuse
the same embedded descriptions and need no retraining."""
import logging
from pathlib import Path

from selfsynth.checks import check_encoders, read_concepts
from selfsynth.core.io import read_jsonl, write_json, write_jsonl
from selfsynth.core.layout import DATASET, DESCRIPTIONS, ZSTAR
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import NO_TRUTH, load_prepared
from selfsynth.method.select import (
    embed_for_selection,
    select_from,
    selection_quality,
    selection_sweep,
)
from selfsynth.process.preflight import stage_start
from selfsynth.tracking import flatten, mlflow_run
from stages import summarize

METRICS = Path("metrics/select.json")
SWEEP = Path("reports/select_sweep.json")  # a plain out, not a metric: its ~500 figures would flood `dvc exp show`
log = logging.getLogger("select")


def main() -> None:
    params = load_params()
    stage_start(params)
    p = params.select
    dataset = load_prepared(DATASET)
    check_encoders(params)  # the sweep's encoders too: before minutes of selection, not after
    concepts = read_concepts(dataset)
    descriptions = read_jsonl(DESCRIPTIONS)
    train = dataset.split("train")
    with mlflow_run(params, "select", stage="select") as mlf:
        inputs = {p.encoder: embed_for_selection(train, descriptions, concepts, p.encoder, params.workers)}
        rows = select_from(inputs[p.encoder], beta=p.beta, tau=p.tau, min_concepts=p.min_concepts)
        if dataset.has_world_truth:
            quality = selection_quality(rows, train, concepts, params.seed)
            mlf.log_metrics(flatten(quality))
            for enc in p.sweep.encoders:
                if enc not in inputs:
                    inputs[enc] = embed_for_selection(train, descriptions, concepts, enc, params.workers)
            sweep = selection_sweep(inputs, train, concepts, betas=p.sweep.betas, per_image=p.sweep.per_image,
                                    main_encoder=p.encoder, beta=p.beta, tau=p.tau, min_concepts=p.min_concepts,
                                    seed=params.seed)
        else:  # precision / recall need the concepts each image really shows: only the aviary has them
            quality = {"selected": {"per_image": sum(len(r["zstar"]) for r in rows) / max(1, len(rows))},
                       "note": NO_TRUTH}
            mlf.log_metrics({"selected.per_image": quality["selected"]["per_image"]})
            sweep = {"note": NO_TRUTH}
        write_jsonl(ZSTAR, rows)
        write_json(METRICS, quality)
        write_json(SWEEP, sweep)
    sel = quality["selected"]
    summarize(f"Z* {sel['per_image']:.2f} concepts per image (encoder {p.encoder}, beta {p.beta})"
              + (f", precision {sel['precision']:.3f} recall {sel['recall']:.3f} F1 {sel['f1']:.3f}"
                 if "f1" in sel else ""))


if __name__ == "__main__":
    main()
