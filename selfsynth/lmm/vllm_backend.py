"""vLLM generation (GPU, optional extra) behind HFGenerator's interface.

Why it exists: the paper's sampling (30 descriptions and 24 candidates per training image) is
the expensive part on a 7B model, and vLLM's paged, continuously batched decoding makes it
several times faster than transformers' generate. Why it shares chat_prompt: both backends must
send the same text ("USER: <image>\\n{q} ASSISTANT:" for LLaVA-1.5), so switching backends
changes speed and sampling noise, never the prompts. vLLM expands the single <image>
placeholder into image tokens itself, as the HF processor does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from ..dataset.images import load_rgb
from .chat_template import chat_prompt
from .hf import Sampling


def build_requests(processor, images: Sequence, questions: Sequence[str]) -> list[dict]:
    """vLLM prompt dicts: chat_prompt text plus the RGB image (a path or a PIL image)."""
    if len(images) != len(questions):
        raise ValueError("generate: images and questions differ in length")
    return [{"prompt": chat_prompt(processor, q), "multi_modal_data": {"image": load_rgb(img)}}
            for img, q in zip(images, questions)]


class VLLMGenerator:
    """generate(images, questions, sampling) -> one list of sampling.n answers per pair, in order.

    Every request gets its own seed (seed * 1_000_003 + its index), so the samples of a pair do
    not depend on how requests were chunked or scheduled. model_dir must hold a full model
    (merge LoRA adapters first); llm_kwargs go to vllm.LLM (e.g. gpu_memory_utilization,
    tensor_parallel_size, max_model_len, dtype).
    """

    build_requests = staticmethod(build_requests)

    def __init__(self, model_dir: str | Path, processor=None, seed: int = 0, chunk_size: int = 512,
                 lora_dir: str | Path | None = None, **llm_kwargs):
        try:
            import vllm
        except ImportError:
            raise RuntimeError("generation.backend: 'vllm' is selected but vllm is not installed "
                               "(pip install '.[vllm]' on a GPU machine)") from None
        if processor is None:
            from transformers import AutoProcessor
            processor = AutoProcessor.from_pretrained(str(model_dir))
        self.processor = processor
        self.seed = seed
        self.chunk_size = chunk_size
        self._vllm = vllm
        llm_kwargs.setdefault("limit_mm_per_prompt", {"image": 1})
        # lora_dir: an adapter exported by vllm_lora.export_for_vllm, applied to every request
        # (set self.lora_request = None for the base); max_lora_rank from the adapter: vLLM's default is 16
        self.lora_request = None
        if lora_dir is not None:
            from vllm.lora.request import LoRARequest

            from .vllm_lora import adapter_rank
            llm_kwargs.setdefault("enable_lora", True)
            llm_kwargs.setdefault("max_lora_rank", adapter_rank(lora_dir))
            self.lora_request = LoRARequest("adapter", 1, str(lora_dir))
        self.llm = vllm.LLM(model=str(model_dir), seed=seed, **llm_kwargs)

    def sampling_params(self, sampling: Sampling, index: int):
        # greedy: one sequence (some vLLM versions reject n > 1 without sampling); generate copies it
        greedy = sampling.temperature <= 0
        return self._vllm.SamplingParams(n=1 if greedy else sampling.n, temperature=0.0 if greedy else sampling.temperature,
                                         top_p=1.0 if greedy else sampling.top_p,
                                         max_tokens=sampling.max_new_tokens, seed=self.seed * 1_000_003 + index)

    def generate(self, images: Sequence[str], questions: Sequence[str], sampling: Sampling,
                 desc: str = "generate", offset: int = 0) -> list[list[str]]:
        """offset: where these requests start in a longer run split into parts (their seeds follow it)."""
        if len(images) != len(questions):
            raise ValueError("generate: images and questions differ in length")
        out: list[list[str]] = []
        # chunks bound the decoded images held in memory; vLLM still batches within a chunk
        for start in tqdm(range(0, len(images), self.chunk_size), desc=desc, mininterval=5):
            stop = min(start + self.chunk_size, len(images))
            requests = build_requests(self.processor, images[start:stop], questions[start:stop])
            params = [self.sampling_params(sampling, offset + i) for i in range(start, stop)]
            results = self.llm.generate(requests, params, use_tqdm=False, lora_request=self.lora_request)
            copies = sampling.n if sampling.temperature <= 0 else 1  # greedy: n equal answers, as HF gives
            out.extend([c.text.strip() for c in r.outputs] * copies for r in results)
        return out
