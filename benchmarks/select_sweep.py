"""Concept-selection quality on the prepared world: beta grid x text encoders, against ground truth.

The select stage computes the same sweep for params.yaml's grid (reports/ablations.md); this
script runs any grid on the current describe output (`dvc repro select` first) and prints it.

    python benchmarks/select_sweep.py --betas 0 0.4 0.8 1.2 --encoders minilm tfidf
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfsynth.dataset.prepared import load_prepared  # noqa: E402
from selfsynth.io import read_json, read_jsonl  # noqa: E402
from selfsynth.method.select import embed_for_selection, selection_sweep  # noqa: E402
from selfsynth.report.tables import beta_table, descriptions_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.4, 0.8, 1.2])
    ap.add_argument("--encoders", nargs="+", default=["minilm", "tfidf"])
    ap.add_argument("--per-image", type=int, nargs="*", default=[1, 3, 10, 30])
    ap.add_argument("--beta", type=float, default=0.4, help="for the descriptions-per-image sweep")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    world = load_prepared("data/dataset")
    concepts = read_json("data/concepts.json")
    descriptions = read_jsonl("data/describe/descriptions.jsonl")
    train = world.split("train")
    inputs = {}
    for enc in args.encoders:
        t = time.perf_counter()
        inputs[enc] = embed_for_selection(train, descriptions, concepts, enc)
        print(f"{enc}: embedded in {time.perf_counter() - t:.1f} s")
    sweep = selection_sweep(inputs, train, concepts, betas=args.betas, per_image=args.per_image,
                            main_encoder=args.encoders[0], beta=args.beta, tau=0.1, min_concepts=3, seed=args.seed)
    print(beta_table(sweep))
    print(f"\nZ* against the number of descriptions per image ({args.encoders[0]}, beta {args.beta}):")
    print(descriptions_table(sweep))


if __name__ == "__main__":
    main()
