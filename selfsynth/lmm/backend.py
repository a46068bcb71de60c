"""Generation backends behind one call: same prompts, chat template and output format."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from .hf import HFGenerator, Sampling


class Generator(Protocol):
    def generate(self, images: Sequence[str], questions: Sequence[str], sampling: Sampling,
                 desc: str = "generate", offset: int = 0) -> list[list[str]]: ...


def make_generator(backend: str, model, processor, batch_size: int, seed: int,
                   model_dir=None) -> Generator:
    """hf uses the loaded model; vllm loads model_dir itself (model is ignored: pass None rather
    than loading the weights twice on the GPU)."""
    if backend == "hf":
        return HFGenerator(model, processor, batch_size=batch_size, seed=seed)
    if backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise RuntimeError("generation.backend: 'vllm' is selected but vllm is not installed "
                               "(pip install '.[vllm]' on a GPU machine)") from None
        if model_dir is None:
            raise ValueError("generation.backend: 'vllm' needs the model directory (make_generator(..., model_dir=...))")
        from .vllm_backend import VLLMGenerator
        return VLLMGenerator(model_dir, processor, seed=seed)
    raise ValueError(f"generation.backend: unknown backend {backend!r}")


_opened: tuple = (None, None)  # (key, generator): the last one this process opened


def open_generator(backend: str, path, batch_size: int, seed: int) -> Generator:
    """A generator for the LLaVA directory at path (a base-stage pin is followed): hf loads the
    weights here; vllm hands the directory to vLLM, so a 7B model is not loaded twice. The last one
    opened is kept for the next shard of a stage in this process, until a file in path changes."""
    global _opened
    path = Path(path)
    files = sorted(path.iterdir()) if path.is_dir() else []
    key = (backend, str(path.resolve()), batch_size, seed,
           tuple((f.name, st.st_size, st.st_mtime_ns) for f in files if f.is_file() for st in [f.stat()]))
    if _opened[0] != key:
        _opened = (None, None)  # the old model goes before the new one loads
        _opened = (key, _open(backend, path, batch_size, seed))
    return _opened[1]


def _open(backend: str, path: Path, batch_size: int, seed: int) -> Generator:
    from .load import check_llava_dir, load_lmm

    if backend == "vllm":
        from transformers import AutoProcessor

        directory = check_llava_dir(path)
        return make_generator(backend, None, AutoProcessor.from_pretrained(directory), batch_size, seed,
                              model_dir=directory)
    model, processor = load_lmm(path)
    return make_generator(backend, model, processor, batch_size, seed)
