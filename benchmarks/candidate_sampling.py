"""The instrument's diversity measures under other sampling settings, without rerunning the study:
a finished study's round r-1 model samples round r's candidates for the first questions of the
plan, and the script prints distinct candidates per question, the share that loop (a repeated
3-gram) and the share naming the label. docs/verdict.md's top-p choice came from this.

    python benchmarks/candidate_sampling.py --round 4 --top-p 0.6 1.0 --temperature 0.7 [--questions 360]

Run it in a study's workspace (models/ and data/dataset/ present).
"""
from __future__ import annotations

import argparse
import itertools

import torch

from selfsynth.core.layout import model_dir
from selfsynth.dataset.prepared import load_prepared
from selfsynth.lmm.backend import open_generator
from selfsynth.lmm.hf import Sampling
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.generate import plan_questions
from selfsynth.method.reject import rejection_stats
from selfsynth.method.synthesize import names_label


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--round", type=int, required=True, help="the round whose candidates are sampled (>= 2)")
    ap.add_argument("--method", default="ours")
    ap.add_argument("--temperature", type=float, nargs="+", default=[0.7])
    ap.add_argument("--top-p", type=float, nargs="+", default=[0.6, 1.0])
    ap.add_argument("--questions", type=int, default=360)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from selfsynth.core.params import load_params
    params = load_params()
    p = params.rejection
    dataset = load_prepared("data/dataset")
    plan = plan_questions(dataset.split("train"), load_prompts(params.dataset.name), p.questions, params.synthesize.mix,
                          params.seed, args.round, p.explain_share)[:args.questions]
    gen = open_generator(p.backend, model_dir(args.method, args.round - 1), p.batch_size, params.seed * 1000 + args.round)
    for t, top_p in itertools.product(args.temperature, args.top_p):
        cands = gen.generate([str(dataset.root / q["image"]) for q in plan], [q["question"] for q in plan],
                             Sampling(n=p.samples, temperature=t, top_p=top_p, max_new_tokens=p.max_new_tokens),
                             desc=f"T {t} top-p {top_p}")
        groups = [{**q, "candidates": c} for q, c in zip(plan, cands)]
        s = rejection_stats([], groups)
        named = sum(names_label(c, g["label"]) for g in groups for c in g["candidates"]) / (len(groups) * p.samples)
        print(f"round {args.round} {args.method} T {t} top-p {top_p}: distinct {s['distinct_candidates']:.2f}, "
              f"looping {s['looping_candidates']:.2f}, naming the label {named:.2f} ({len(groups)} questions)")


if __name__ == "__main__":
    main()
