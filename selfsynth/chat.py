"""Ask a tuned model about one image, several turns, on the terminal — the paper's case study
(Table 2): does it name the class, and can it say which visible features it went by?

    python -m selfsynth chat --method ours --round 4 --image data/dataset/images/test/test-003-0001.png
    python -m selfsynth chat --model models/round-0 --image my_bird.png --temperature 0.7

Type a question per line; an empty line, 'quit' or end of input ends the session.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .core.offline import go_offline


def chat(path: Path, image: Path, temperature: float, max_new_tokens: int, seed: int) -> int:
    go_offline()
    from .lmm.chat_template import conversation_prompt
    from .lmm.hf import HFGenerator, Sampling
    from .lmm.load import load_lmm

    if not image.is_file():
        print(f"{image}: no such image", file=sys.stderr)
        return 2
    model, processor = load_lmm(path)
    gen = HFGenerator(model, processor, batch_size=1, seed=seed)
    sampling = Sampling(temperature=temperature, max_new_tokens=max_new_tokens)
    turns: list[tuple[str, str | None]] = []
    interactive = sys.stdin.isatty()
    print(f"[{path} on {image}] ask a question; empty line to quit", file=sys.stderr)
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
        answer = gen.generate_from_prompts([str(image)], [prompt], sampling, desc="answer")[0][0]
        print(f"model> {answer}", flush=True)
        turns.append((question, answer))

