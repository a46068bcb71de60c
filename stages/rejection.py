"""Step 2.6: keep one candidate per question — by the InfoNCE score against Z* (ours) or at random
(nofilter), each kept only if it names the label. nl and lge continue on their own kind of data,
the same number of pairs per image (matched compute).

Usage: python -m stages.rejection <round>
"""
import logging
import sys

from selfsynth.checks import read_concepts
from selfsynth.core.io import atomic_path, dump_jsonl, read_jsonl, write_json
from selfsynth.core.layout import DATASET, SAMPLED, TEMPLATED, ZSTAR, candidates_path, pairs_path, rejection_metrics_path
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import load_prepared
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.reject import (
    choice_matters,
    label_check_for,
    pairs_for_nofilter,
    pairs_for_ours,
    rejection_stats,
    score_candidates,
)
from selfsynth.method.synthesize import template_pairs
from selfsynth.metrics.encoders import make_encoder
from selfsynth.process.preflight import stage_start
from selfsynth.tracking import flatten, log_pairs, method_run
from stages import summarize

log = logging.getLogger("rejection")


def main(rnd: int) -> None:
    params = load_params()
    stage_start(params)
    p = params.rejection
    dataset = load_prepared(DATASET)
    prompts = load_prompts(params.dataset.name)
    concepts = read_concepts(dataset)
    zstar = {r["id"]: r["zstar"] for r in read_jsonl(ZSTAR)}
    groups = {m: read_jsonl(candidates_path(m, rnd)) for m in SAMPLED}
    missing = [g["image_id"] for g in groups["ours"] if g["image_id"] not in zstar]
    if missing:
        raise ValueError(f"{ZSTAR}: no Z* for image {missing[0]} ({len(missing)} in all)")

    all_concepts = [f for c in concepts.values() for f in c["visual_features"]]
    scores = score_candidates(groups["ours"], zstar, all_concepts,
                              make_encoder(params.select.encoder, workers=params.workers),
                              params.select.tau)
    names = label_check_for(p.label_match, dataset.class_names)
    pairs = {"ours": pairs_for_ours(groups["ours"], scores, prompts, p.label_check, params.seed, rnd, names),
             "nofilter": pairs_for_nofilter(groups["nofilter"], params.seed, rnd, p.nofilter, prompts, names)}
    train = dataset.split("train")
    for method in TEMPLATED:  # their own data again, freshly phrased: matched compute, no sampling
        pairs[method] = template_pairs(method, train, concepts, zstar, prompts, p.questions, params.synthesize.mix,
                                       params.seed * 1000 + rnd)

    stats = {m: rejection_stats(pairs[m], groups[m], dataset.class_names) for m in SAMPLED}
    stats["ours"]["score_differs_from_random"] = choice_matters(groups["ours"], scores, names)
    out = pairs_path("ours", rnd).parent
    with atomic_path(out, directory=True) as tmp:
        for method, rows in pairs.items():
            dump_jsonl(tmp / f"{method}.jsonl", rows)
    write_json(rejection_metrics_path(rnd), stats)
    for method, s in stats.items():
        with method_run(params, method) as mlf:
            mlf.log_metrics({f"rejection.{k}": v for k, v in flatten(s).items()}, step=rnd)
            log_pairs(mlf, pairs[method], rnd)
    summarize(f"round {rnd}: " + ", ".join(f"{m} {s['pairs']} pairs, {s['accepted']:.0%} kept a candidate"
                                          for m, s in stats.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]))
