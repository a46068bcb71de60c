"""Generation backends behind one call: same prompts, chat template and output format."""
from __future__ import annotations

from typing import Protocol, Sequence

from .hf import HFGenerator, Sampling


class Generator(Protocol):
    def generate(self, images: Sequence[str], questions: Sequence[str], sampling: Sampling,
                 desc: str = "generate") -> list[list[str]]: ...


def make_generator(backend: str, model, processor, batch_size: int, seed: int) -> Generator:
    if backend == "hf":
        return HFGenerator(model, processor, batch_size=batch_size, seed=seed)
    if backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise RuntimeError("generation.backend: 'vllm' is selected but vllm is not installed "
                               "(pip install '.[vllm]' on a GPU machine)") from None
        raise NotImplementedError("generation.backend: the vllm backend is not implemented yet (issue 5)")
    raise ValueError(f"generation.backend: unknown backend {backend!r}")
