"""Can this run test the paper's claims? The instrument's checks (selfsynth/instrument/checks.py),
measured from the world's truth, the frozen base tower, Z*, the candidates and the epochs: never
from a method's score. The report prints them beside Table 1 with the claims a failure leaves
untestable."""
import logging

import numpy as np
import torch

from selfsynth.core.io import read_json, read_jsonl, write_json
from selfsynth.core.layout import DATASET, ZSTAR, model_dir, rejection_metrics_path, train_metrics_path
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import load_prepared
from selfsynth.instrument.checks import epoch_cells, instrument_checks, zstar_floor_share
from selfsynth.instrument.perception import (
    attribute_probes,
    attributes_to_species,
    bayes_ceiling,
    species_probe,
    tower_features,
    with_attributes,
)
from selfsynth.lmm.load import load_lmm
from selfsynth.process.preflight import stage_start
from selfsynth.tracking import flatten, mlflow_run
from stages import summarize

OUT = "metrics/instrument.json"
log = logging.getLogger("instrument")


def perception(params, dataset) -> dict:
    """The world's Bayes ceiling and linear probes of the frozen base tower (the world only: a real
    dataset records no per-image parts, and a 7B tower's probes belong on its GPU)."""
    if not dataset.has_world_truth or not dataset.generic:
        return {}
    model, processor = load_lmm(model_dir("base", 0))
    tower = model.model.vision_tower.eval()
    feats = lambda rows: tower_features(tower, processor.image_processor, [dataset.image(r) for r in rows])
    g_train = [g for g in dataset.generic if g["split"] == "train"]
    train, test = dataset.split("train"), dataset.split("test")
    x_train, x_test = feats(train), feats(test)
    attr, predictors = attribute_probes(feats(g_train), g_train, np.concatenate([x_train, x_test]),
                                        with_attributes(dataset.labels, train + test), params.world.seed)
    return {"bayes_ceiling": bayes_ceiling(dataset.labels, test),
            "species_probe": species_probe(x_train, train, x_test, test, params.world.seed),
            "attributes_to_species": attributes_to_species(dataset.labels, predictors, x_test, test),
            "attribute_probe": attr}


def main() -> None:
    params = load_params()
    stage_start(params)
    torch.set_num_threads(max(1, params.workers * params.threads))  # alone on the cores: nothing runs beside it
    dataset = load_prepared(DATASET)
    k = params.last_round
    base = read_json("metrics/base.json")
    floor, sizes = zstar_floor_share(read_jsonl(ZSTAR), params.select.beta, params.select.min_concepts)
    rounds = {r: read_json(rejection_metrics_path(r)) for r in range(2, k + 1)}
    measures = {
        **perception(params, dataset),
        "description_precision": (base.get("description_greedy") or {}).get("precision"),
        "base_identification": base["identification"]["accuracy"], "chance": 1 / len(dataset.labels),
        "distinct_candidates": {r: s["ours"]["distinct_candidates"] for r, s in rounds.items()},
        "distinct_candidates_nofilter": {r: s["nofilter"]["distinct_candidates"] for r, s in rounds.items()},
        "looping_candidates": {r: s["ours"]["looping_candidates"] for r, s in rounds.items()},
        "score_differs_from_random": {r: s["ours"].get("score_differs_from_random") for r, s in rounds.items()},
        "zstar_floor_share": floor, "zstar_sizes": sizes,
        "epoch_cells": epoch_cells({r: read_json(train_metrics_path(r)) for r in range(1, k + 1)}),
    }
    checks = instrument_checks(measures)
    # numbers and verdicts only (`dvc metrics show` lists every scalar); the checks' words come from
    # instrument_checks(measures), their one home
    write_json(OUT, {"measures": measures, "checks": {c.name: c.passed for c in checks}})
    with mlflow_run(params, "instrument", stage="instrument") as mlf:
        numbers = {k: v for k, v in flatten({k: v for k, v in measures.items() if k != "epoch_cells"}).items()
                   if isinstance(v, (int, float)) and v is not None}
        mlf.log_metrics({**numbers, **{f"check.{c.name}": float(c.passed) for c in checks if c.passed is not None}})
    failed = [c.name for c in checks if c.passed is False]
    summarize(f"instrument: {len(checks) - len(failed)} of {len(checks)} checks pass"
              + (f"; failed: {', '.join(failed)}" if failed else ""))


if __name__ == "__main__":
    main()
