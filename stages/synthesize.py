"""Step 1.3: round-1 QA pairs for every method — label plus nothing (nl), the class's concepts (lge),
Z* (ours), or a random same-size subset (nofilter)."""
import logging

from selfsynth.checks import read_concepts
from selfsynth.core.io import atomic_path, dump_jsonl, read_jsonl, write_json
from selfsynth.core.layout import BASE_MODEL, DATASET, METHODS, ZSTAR, pairs_path
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import check_images, load_prepared
from selfsynth.lmm.backend import open_generator
from selfsynth.lmm.hf import Sampling
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.synthesize import accept_lmm_answers, plan_pairs, rewrite_prompt, write_template_answers
from selfsynth.process.distributed import refuse_several_processes
from selfsynth.process.preflight import stage_start
from stages import summarize

log = logging.getLogger("synthesize")


def main() -> None:
    refuse_several_processes("stages.synthesize")
    params = load_params()
    stage_start(params, tracking=False)
    p = params.synthesize
    dataset = load_prepared(DATASET)
    concepts = read_concepts(dataset)  # a class without concepts stops here, named
    zstar = {r["id"]: r["zstar"] for r in read_jsonl(ZSTAR)}
    prompts = load_prompts(params.dataset.name)
    mix = p.mix
    train = dataset.split("train")
    missing = [r["id"] for r in train if r["id"] not in zstar]
    if missing:
        raise ValueError(f"{ZSTAR}: no Z* for {len(missing)} training images (first: {missing[0]})")
    gen = None
    if p.writer == "lmm":
        check_images(dataset.root, train, "data/dataset/manifest.jsonl")
        gen = open_generator(p.backend, BASE_MODEL, p.batch_size, params.seed)
    stats = {}
    with atomic_path(pairs_path("nl", 1).parent, directory=True) as tmp:
        for method in METHODS:
            planned = [pair for r in train for pair in plan_pairs(
                method, r["id"], r["label_name"], concepts[str(r["label"])]["visual_features"], zstar[r["id"]],
                prompts, p.pairs_per_image, mix, params.seed)]
            images = {r["id"]: r["image"] for r in train}
            if gen is None or method == "nl":
                rows, fallbacks = write_template_answers(planned, params.seed, prompts), 0
            else:
                answers = gen.generate([str(dataset.root / images[x["image_id"]]) for x in planned],
                                       [rewrite_prompt(x["label"], x["features"], x["question"]) for x in planned],
                                       Sampling(temperature=p.temperature, max_new_tokens=p.max_new_tokens),
                                       desc=f"write {method}")
                rows, fallbacks = accept_lmm_answers(planned, [a[0] for a in answers], params.seed, prompts)
            for row in rows:
                row["image"] = images[row["image_id"]]
            dump_jsonl(tmp / pairs_path(method, 1).name, rows)
            stats[method] = {"pairs": len(rows), "images": len(train), "fallbacks": fallbacks,
                             "features_per_answer": sum(len(r["features"]) for r in rows) / max(1, len(rows))}
    write_json("metrics/synthesize.json", stats)
    summarize(", ".join(f"{m} {s['pairs']} pairs ({s['fallbacks']} fallbacks)" for m, s in stats.items()))


if __name__ == "__main__":
    main()
