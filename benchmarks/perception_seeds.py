"""The instrument's perception checks over world seeds, without running the study: for each seed,
build the world, pretrain the base tower exactly as the `base` stage does (stage A), and probe it
(selfsynth/instrument/perception.py). `--code DIR` builds world and tower with another checkout's
code (e.g. the commit before a testbed change) while the probes stay this checkout's; `--set` tries
a param before it is adopted. The tower trains on `threads` threads, as the stage's does, so a seed's
figures are the study's (run seeds side by side, one process per core).

    python benchmarks/perception_seeds.py --seeds 0 1 2 3 4 --out /tmp/perception.json
    python benchmarks/perception_seeds.py --seeds 3 --set world.image_size=80 --out /tmp/p80.json
    git worktree add /tmp/before <commit> && python benchmarks/perception_seeds.py --code /tmp/before ...
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import tempfile
import time
from functools import reduce
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def load_probes():
    spec = importlib.util.spec_from_file_location("perception_probes", HERE / "selfsynth/instrument/perception.py",
                                                  submodule_search_locations=None)
    # the module's relative import (world.attributes) resolves inside the checkout that is on sys.path
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "selfsynth.instrument"
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--code", type=Path, default=HERE, help="the checkout whose world and tower are measured")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params overrides (YAML values)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    sys.path.insert(0, str(args.code))
    import numpy as np
    import torch

    from selfsynth.dataset.prepared import load_prepared
    from selfsynth.lmm.prompts import load_prompts
    from selfsynth.lmm.tiny_llava import build_model, build_processor, train_tokenizer
    from selfsynth.core.params import load_params
    from selfsynth.training.pretrain import tokenizer_corpus
    from selfsynth.training.vision_pretrain import pretrain_vision
    from selfsynth.world.build import build_generic, build_world
    P = load_probes()

    import yaml
    params = load_params(args.code / "params.yaml")
    if args.set:
        data = params.model_dump()
        for item in args.set:
            key, value = item.split("=", 1)
            *parents, leaf = key.split(".")
            reduce(dict.__getitem__, parents, data)[leaf] = yaml.safe_load(value)
        params = type(params).model_validate(data)
    torch.set_num_threads(params.threads)
    prompts = load_prompts("aviary", args.code / "prompts")
    vp = params.base.vision_pretrain
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for seed in args.seeds:
        if str(seed) in results:
            continue
        world = params.world.model_copy(update={"seed": seed})
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            build_world(world, seed, root, prompts.describe)
            build_generic(world, seed, root, prompts.describe)
            ds = load_prepared(root)
            tok = train_tokenizer(tokenizer_corpus(ds, prompts), params.base.text.vocab_size)
            proc = build_processor(tok, world.image_size, params.base.vision.patch_size)
            torch.manual_seed(seed)  # as stages/base.py
            model = build_model(params.base, tok, world.image_size)
            g_train = [g for g in ds.generic if g["split"] == "train"]
            g_test = [g for g in ds.generic if g["split"] == "test"]
            extra = {"shift": vp.shift} if "shift" in inspect.signature(pretrain_vision).parameters else {}
            start = time.time()
            pretrain_vision(model, proc.image_processor, g_train, [str(ds.image(g)) for g in g_train], epochs=vp.epochs,
                            batch_size=vp.batch_size, lr=vp.lr, seed=seed, **extra)
            seconds = time.time() - start
            tower = model.model.vision_tower.eval()
            feats = lambda rows: P.tower_features(tower, proc.image_processor, [ds.image(r) for r in rows])
            train, test = ds.split("train"), ds.split("test")
            x_train, x_test = feats(train), feats(test)
            x_corpus = feats(g_train)
            corpus_attr, _ = P.attribute_probes(x_corpus, g_train, feats(g_test), g_test, seed)
            attr, predictors = P.attribute_probes(x_corpus, g_train, np.concatenate([x_train, x_test]),  # as the stage
                                                  P.with_attributes(ds.labels, train + test), seed)
            results[str(seed)] = {"bayes_ceiling": P.bayes_ceiling(ds.labels, test),
                                  "species_probe": P.species_probe(x_train, train, x_test, test, seed),
                                  "attributes_to_species": P.attributes_to_species(ds.labels, predictors, x_test, test),
                                  "attribute_probe": attr, "attribute_probe_corpus_test": corpus_attr,
                                  "tower_seconds": seconds}
        args.out.write_text(json.dumps(results, indent=1))  # each seed saved as it comes
        r = results[str(seed)]
        print(f"world seed {seed}: ceiling {r['bayes_ceiling']:.3f}, species probe {r['species_probe']:.3f}, "
              f"attributes->species {r['attributes_to_species']:.3f}, attribute min {min(attr.values()):.3f} "
              f"({min(attr, key=attr.get)}), mean {sum(attr.values()) / len(attr):.3f}; tower {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
