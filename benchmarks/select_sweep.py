"""Concept-selection quality on the prepared world: beta grid x text encoders, against ground truth.

Reads the describe stage's output (run `dvc repro select` first) and prints precision / recall /
F1 of Z* against the concepts each training image really shows, with the two references
(all class concepts; a random subset of Z*'s size). Also how precision grows with the number
of descriptions per image (the paper's Figure 5).

    python benchmarks/select_sweep.py --betas 0 0.4 0.8 1.2 --encoders minilm tfidf
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfsynth.data.dataset import load_prepared  # noqa: E402
from selfsynth.io import read_json, read_jsonl  # noqa: E402
from selfsynth.select_concepts import embed_for_selection, select_from, selection_quality  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.4, 0.8, 1.2])
    ap.add_argument("--encoders", nargs="+", default=["minilm", "tfidf"])
    ap.add_argument("--per-image", type=int, nargs="*", default=[1, 3, 10, 30])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    world = load_prepared("data/world")
    concepts = read_json("data/concepts.json")
    descriptions = read_jsonl("data/describe/descriptions.jsonl")
    train = world.split("train")

    print(f"{'encoder':>8} {'beta':>5} | {'P':>5} {'R':>5} {'F1':>5} {'|Z*|':>5} | all-concepts F1 | random F1 | s")
    for enc in args.encoders:
        t = time.perf_counter()
        inputs = embed_for_selection(train, descriptions, concepts, enc)
        print(f"{enc}: embedded in {time.perf_counter() - t:.1f} s")
        for beta in args.betas:
            t = time.perf_counter()
            rows = select_from(inputs, beta=beta, tau=0.1, min_concepts=3)
            q = selection_quality(rows, train, concepts, args.seed)
            s = q["selected"]
            print(f"{enc:>8} {beta:>5.2f} | {s['precision']:.3f} {s['recall']:.3f} {s['f1']:.3f} {s['per_image']:>5.2f} | "
                  f"{q['all_class_concepts']['f1']:>15.3f} | {q['random_same_size']['f1']:>9.3f} | "
                  f"{time.perf_counter() - t:.1f}")

    print("\nprecision of Z* against the number of descriptions per image (minilm, beta 0.4):")
    by_image: dict[str, list[dict]] = {}
    for d in descriptions:
        by_image.setdefault(d["id"], []).append(d)
    for k in args.per_image:
        rng = random.Random(args.seed)
        subset = [d for ds in by_image.values() for d in rng.sample(ds, min(k, len(ds)))]
        rows = select_from(embed_for_selection(train, subset, concepts, "minilm"), beta=0.4, tau=0.1, min_concepts=3)
        s = selection_quality(rows, train, concepts, args.seed)["selected"]
        print(f"  {k:>3} per image: P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f}")


if __name__ == "__main__":
    main()
