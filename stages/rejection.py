"""Step 2.6: keep one candidate per question — by the InfoNCE score against Z* and the label check
(ours), at random (nofilter). nl and lge continue on their own kind of data, the same number of
pairs per image (matched compute).

Usage: python -m stages.rejection <round>
"""
import logging
import sys

from selfsynth.data.dataset import load_prepared
from selfsynth.encoders import make_encoder
from selfsynth.io import atomic_path, dump_jsonl, read_json, read_jsonl, write_json
from selfsynth.layout import candidates_path, pairs_path
from selfsynth.params import load_params
from selfsynth.prompts import load_prompts
from selfsynth.rejection import pairs_for_nofilter, pairs_for_ours, rejection_stats, score_candidates
from selfsynth.synthesis import plan_pairs, write_template_answers
from selfsynth.tracking import flatten, log_pairs, method_run

log = logging.getLogger("rejection")


def main(rnd: int) -> None:
    params = load_params()
    p = params.rejection
    world = load_prepared("data/world")
    prompts = load_prompts(params.dataset.name)
    concepts = read_json("data/concepts.json")
    zstar = {r["id"]: r["zstar"] for r in read_jsonl("data/select/zstar.jsonl")}
    groups = {m: read_jsonl(candidates_path(m, rnd)) for m in ("ours", "nofilter")}
    missing = [g["image_id"] for g in groups["ours"] if g["image_id"] not in zstar]
    if missing:
        raise ValueError(f"data/select/zstar.jsonl: no Z* for image {missing[0]} ({len(missing)} in all)")

    all_concepts = [f for c in concepts.values() for f in c["visual_features"]]
    scores = score_candidates(groups["ours"], zstar, all_concepts, make_encoder(params.select.encoder),
                              params.select.tau)
    pairs = {"ours": pairs_for_ours(groups["ours"], scores, prompts, p.label_check, params.seed, rnd),
             "nofilter": pairs_for_nofilter(groups["nofilter"], params.seed, rnd)}
    train = world.split("train")
    for method in ("nl", "lge"):  # their own data again, freshly phrased: matched compute, no sampling
        planned = [x for r in train for x in plan_pairs(
            method, r["id"], r["label_name"], concepts[str(r["label"])]["visual_features"], zstar[r["id"]], prompts,
            p.questions, params.synthesize.mix, params.seed * 1000 + rnd)]
        images = {r["id"]: r["image"] for r in train}
        pairs[method] = [{**x, "image": images[x["image_id"]], "source": "template"}
                         for x in write_template_answers(planned, params.seed * 1000 + rnd, prompts)]

    stats = {m: rejection_stats(pairs[m], groups[m]) for m in ("ours", "nofilter")}
    out = pairs_path("ours", rnd).parent
    with atomic_path(out, directory=True) as tmp:
        for method, rows in pairs.items():
            dump_jsonl(tmp / f"{method}.jsonl", rows)
    write_json(f"metrics/rounds/round-{rnd}.json", stats)
    for method, s in stats.items():
        with method_run(params, method) as mlf:
            mlf.log_metrics({f"rejection.{k}": v for k, v in flatten(s).items()}, step=rnd)
            log_pairs(mlf, pairs[method], rnd)
    log.info("round %d rejection: %s", rnd, stats)


if __name__ == "__main__":
    main(int(sys.argv[1]))
