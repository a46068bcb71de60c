"""The vllm backend sends the same prompt text as the hf one; without vllm, selecting it fails clearly.
(vLLM itself needs a GPU and is not installed here: its generate loop is not run in these tests.)"""
from __future__ import annotations

import importlib.util

import pytest
import torch
from PIL import Image

from selfsynth.lmm.backend import make_generator
from selfsynth.lmm.hf import HFGenerator, Sampling
from selfsynth.lmm.tiny_llava import build_processor, train_tokenizer
from selfsynth.lmm.vllm_backend import VLLMGenerator, build_requests

HAS_VLLM = importlib.util.find_spec("vllm") is not None
QUESTIONS = ["What is the name of this bird? Explain your reasoning.", "Describe the bird's appearance."]


@pytest.fixture(scope="module")
def processor():
    tok = train_tokenizer(["USER: ASSISTANT: what is the name of this bird describe"] * 4, vocab_size=300)
    return build_processor(tok, image_size=32, patch_size=8)


@pytest.fixture
def images(tmp_path):
    paths = []
    for i, color in enumerate(["red", "blue"]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (40, 30), color).save(paths[-1])
    return paths


class Captured(Exception):
    pass


class RecordingProcessor:
    """The real processor, except that its call records the text HFGenerator sends and stops there."""

    def __init__(self, processor):
        self._p, self.texts = processor, None

    def __getattr__(self, name):
        return getattr(self._p, name)

    def __call__(self, *, images, text, **kwargs):
        self.texts = list(text)
        raise Captured


class StubModel:
    device, dtype = torch.device("cpu"), torch.float32

    def eval(self):
        return self


def hf_prompt_texts(processor, images, questions):
    rec = RecordingProcessor(processor)
    with pytest.raises(Captured):
        HFGenerator(StubModel(), rec, batch_size=len(images)).generate(images, questions, Sampling())
    return rec.texts


def test_vllm_requests_carry_the_hf_prompt_text(processor, images):
    requests = VLLMGenerator.build_requests(processor, images, QUESTIONS)
    assert [r["prompt"] for r in requests] == hf_prompt_texts(processor, images, QUESTIONS)
    # LLaVA-1.5's format, one <image> placeholder that vLLM expands itself
    assert requests[0]["prompt"] == f"USER: <image>\n{QUESTIONS[0]} ASSISTANT:"
    img = requests[1]["multi_modal_data"]["image"]
    assert img.mode == "RGB" and img.size == (40, 30) and img.getpixel((0, 0)) == (0, 0, 255)


def test_build_requests_checks_lengths(processor, images):
    with pytest.raises(ValueError, match="differ in length"):
        build_requests(processor, images, QUESTIONS[:1])


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_vllm_not_installed_is_a_clear_error(processor, tmp_path):
    for make in (lambda: make_generator("vllm", None, processor, 4, 0, model_dir=tmp_path),
                 lambda: VLLMGenerator(tmp_path, processor)):
        with pytest.raises(RuntimeError, match=r"'vllm' is selected but vllm is not installed \(pip install '.\[vllm\]'"):
            make()


def test_make_generator_hf_unchanged_and_unknown_backend(processor):
    assert isinstance(make_generator("hf", StubModel(), processor, 4, 0), HFGenerator)
    with pytest.raises(ValueError, match="unknown backend 'tgi'"):
        make_generator("tgi", None, processor, 4, 0)


@pytest.mark.skipif(not HAS_VLLM, reason="vllm not installed")
def test_vllm_needs_model_dir(processor):
    with pytest.raises(ValueError, match="needs the model directory"):
        make_generator("vllm", None, processor, 4, 0)
