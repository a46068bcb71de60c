"""Step 1.1: many descriptions per image, the raw material of concept selection."""
from __future__ import annotations

from typing import Sequence

from ..dataset.prepared import NO_TRUTH, PreparedDataset
from ..lmm.hf import Sampling
from ..metrics.attributes import mention_prf
from .evaluate import visible_truth


def describe_sampling(p) -> Sampling:
    return Sampling(n=p.samples, temperature=p.temperature, top_p=p.top_p, max_new_tokens=p.max_new_tokens)


def sample_descriptions(gen, images: Sequence[str], prompts: Sequence[str], sampling: Sampling,
                        offset: int = 0) -> list[list[list[str]]]:
    """texts[k][i]: the samples of prompt k for image i. offset: where `images` start among all
    the images described, for a part described in a process of its own (the seeds follow it)."""
    return [gen.generate(images, [prompt] * len(images), sampling, offset=offset,
                         desc=f"describe prompt {k + 1}/{len(prompts)}" + (f", images from {offset}" if offset else ""))
            for k, prompt in enumerate(prompts)]


def description_rows(dataset: PreparedDataset, rows: Sequence[dict], texts: list[list[list[str]]]) -> tuple[list, dict]:
    """One row per description, prompt by prompt; stats say how faithful the descriptions are to
    what each image shows."""
    out = []
    for k, per_image in enumerate(texts):
        for row, samples in zip(rows, per_image, strict=True):
            out.extend({"id": row["id"], "prompt": k, "sample": s, "text": t} for s, t in enumerate(samples))
    by_id = {r["id"]: r for r in rows}
    stats = (mention_prf([d["text"] for d in out], [visible_truth(dataset, by_id[d["id"]]) for d in out])
             if dataset.has_world_truth else {"note": NO_TRUTH})
    stats.update(descriptions=len(out), images=len(rows), per_image=len(out) / max(1, len(rows)))
    return out, stats


def describe_images(gen, dataset: PreparedDataset, rows: Sequence[dict], prompts: Sequence[str], p) -> tuple[list, dict]:
    """Every image described in this process: the rows and their stats."""
    texts = sample_descriptions(gen, [str(dataset.image(r)) for r in rows], prompts, describe_sampling(p))
    return description_rows(dataset, rows, texts)
