"""Ask a tuned model about one image, several turns, on the terminal — the paper's case study
(Table 2): does it name the class, and can it say which visible features it went by?

    python -m selfsynth.chat --method ours --round 4 --image data/dataset/images/test/test-003-0001.png
    python -m selfsynth.chat --model models/base --image my_bird.png --temperature 0.7

Type a question per line; an empty line, 'quit' or end of input ends the session.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.layout import METHODS, model_dir
from .core.offline import go_offline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m selfsynth.chat", description=__doc__.split("\n\n")[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="a LLaVA model directory")
    which.add_argument("--method", choices=["base", *METHODS], help="a model of the study")
    ap.add_argument("--round", type=int, default=1, help="with --method: after which round (default 1)")
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    go_offline()
    from .lmm.hf import HFGenerator, Sampling
    from .lmm.chat_template import conversation_prompt
    from .lmm.load import load_lmm

    path = args.model if args.model else model_dir(args.method, args.round)
    if not args.image.is_file():
        print(f"{args.image}: no such image", file=sys.stderr)
        return 2
    model, processor = load_lmm(path)
    gen = HFGenerator(model, processor, batch_size=1, seed=args.seed)
    sampling = Sampling(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    turns: list[tuple[str, str | None]] = []
    interactive = sys.stdin.isatty()
    print(f"[{path} on {args.image}] ask a question; empty line to quit", file=sys.stderr)
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        question = line.strip()
        if not question or question.lower() in ("quit", "exit"):
            return 0
        if not interactive:
            print(f"you> {question}")
        prompt = conversation_prompt(processor, [*turns, (question, None)])
        answer = gen.generate_from_prompts([str(args.image)], [prompt], sampling, desc="answer")[0][0]
        print(f"model> {answer}", flush=True)
        turns.append((question, answer))


if __name__ == "__main__":
    sys.exit(main())
