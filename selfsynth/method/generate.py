"""Step 2.5, candidate answers (docs/method.md, step 2.5): the previous round's model of each
sampled method answers q explain / chain-of-thought questions per training image, c samples each;
step 2.6 (method/reject.py) keeps one per question."""
from __future__ import annotations

import random
from typing import Sequence

from ..core.params import MixParams
from ..lmm.prompts import PromptSet


def plan_questions(images: Sequence[dict], prompts: PromptSet, n: int, mix: MixParams, seed: int,
                   rnd: int, explain_share: float | None = None) -> list[dict]:
    """n explain / CoT questions per image (never simple: the point is to sample explanations),
    explain:CoT in the synthesize mix's proportion, or explain_share : 1 - explain_share when set
    (the authors: 1:1). The same plan serves every sampled method."""
    if explain_share is not None:
        weights = (explain_share, 1.0 - explain_share)
    else:
        weights = (mix.explain, mix.cot) if mix.explain + mix.cot > 0 else (1.0, 1.0)
    out = []
    for row in images:
        rng = random.Random(f"{seed}/round-{rnd}/questions/{row['id']}")
        for q in range(n):
            kind = rng.choices(("explain", "cot"), weights=weights)[0]
            out.append({"image_id": row["id"], "image": row["image"], "label": row["label_name"], "question_index": q,
                        "kind": kind, "question": rng.choice(prompts.explain if kind == "explain" else prompts.cot)})
    return out
