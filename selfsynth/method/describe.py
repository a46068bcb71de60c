"""Step 1.1: many descriptions per image, the raw material of concept selection."""
from __future__ import annotations

from typing import Sequence

from ..dataset.prepared import NO_TRUTH, PreparedDataset
from ..lmm.hf import Sampling
from ..metrics.attributes import mention_prf
from .evaluate import visible_truth


def describe_images(gen, dataset: PreparedDataset, rows: Sequence[dict], prompts: Sequence[str], p) -> tuple[list, dict]:
    """One row per description; stats say how faithful the descriptions are to what each image shows."""
    sampling = Sampling(n=p.samples, temperature=p.temperature, top_p=p.top_p, max_new_tokens=p.max_new_tokens)
    images = [str(dataset.image(r)) for r in rows]
    out = []
    for k, prompt in enumerate(prompts):
        texts = gen.generate(images, [prompt] * len(rows), sampling, desc=f"describe prompt {k + 1}/{len(prompts)}")
        for row, samples in zip(rows, texts, strict=True):
            out.extend({"id": row["id"], "prompt": k, "sample": s, "text": t} for s, t in enumerate(samples))
    by_id = {r["id"]: r for r in rows}
    stats = (mention_prf([d["text"] for d in out], [visible_truth(dataset, by_id[d["id"]]) for d in out])
             if dataset.has_world_truth else {"note": NO_TRUTH})
    stats.update(descriptions=len(out), images=len(rows), per_image=len(out) / max(1, len(rows)))
    return out, stats
