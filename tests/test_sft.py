"""What a tuned model learns from: the answer after the prompt, never the prompt or its image tokens."""
from __future__ import annotations

import pytest
from PIL import Image

from selfsynth.lmm.chat_template import chat_prompt
from selfsynth.lmm.llava15 import IMAGE_TOKEN_ID, build
from selfsynth.training.sft import Example, SFTCollator
from tests.test_verdict import tiny_model


def processor_of(kind: str, tmp_path):
    if kind == "aviary":
        return tiny_model()[1]
    from transformers import AutoProcessor
    return AutoProcessor.from_pretrained(build(tmp_path / "llava"))


@pytest.mark.parametrize("kind", ["aviary", "llava-1.5"])
def test_the_collator_masks_the_prompt_and_its_image_tokens_and_keeps_the_answer(kind, tmp_path):
    processor = processor_of(kind, tmp_path)
    for i, size in enumerate([(32, 32), (48, 40)]):
        Image.new("RGB", size, (60 * i, 90, 0)).save(tmp_path / f"{i}.png")
    batch = [Example(str(tmp_path / "0.png"), "what is this bird", "it is a red bird with a crest"),
             Example(str(tmp_path / "1.png"), "what is this", "a crest")]  # shorter: padded
    enc = SFTCollator(processor)(batch)
    # the oracle: the prompts encoded with their images, as the model sees them before the answer
    prompts = processor(images=[Image.open(ex.image).convert("RGB") for ex in batch],
                        text=[chat_prompt(processor, ex.prompt) for ex in batch], padding=True, return_tensors="pt")
    tok = processor.tokenizer
    image_token = IMAGE_TOKEN_ID if kind == "llava-1.5" else tok.convert_tokens_to_ids("<image>")
    for row, ex in enumerate(batch):
        ids, labels, real = enc["input_ids"][row], enc["labels"][row], enc["attention_mask"][row].bool()
        prompt_len = int(prompts["attention_mask"][row].sum())
        assert (labels[:prompt_len] == -100).all() and (labels[prompt_len:][real[prompt_len:]] != -100).all()
        assert (labels[ids == image_token] == -100).all() and (ids == image_token).sum() > 1  # expanded, and masked
        assert (labels[~real] == -100).all()  # padding
        answer = tok.decode(labels[labels != -100], skip_special_tokens=True)
        assert answer.strip() == ex.answer
        assert labels[labels != -100][-1] == tok.eos_token_id
