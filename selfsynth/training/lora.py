"""LoRA on the language model only (PEFT): vision tower frozen, projector trained in full.

Round r trains a fresh adapter on the round r-1 model with that adapter merged in, as the
paper does; the stage saves both the adapter (small, logged to MLflow) and the merged model
(the next round's base).
"""
from __future__ import annotations

from typing import Sequence

from transformers import PreTrainedTokenizerBase

from peft import LoraConfig, get_peft_model

LANGUAGE_MODEL_SCOPE = r".*language_model.*\.({})$"


def label_token_ids(tokenizer: PreTrainedTokenizerBase, names: Sequence[str]) -> list[int]:
    """Every token that spells a class name, as it appears mid-sentence and at a start."""
    ids = set()
    for name in names:
        for text in (name, " " + name):
            ids.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    return sorted(ids)


def lora_config(r: int, alpha: int, dropout: float, targets: Sequence[str],
                trainable_tokens: Sequence[int] = ()) -> LoraConfig:
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                      target_modules=LANGUAGE_MODEL_SCOPE.format("|".join(targets)),
                      modules_to_save=["multi_modal_projector"],
                      trainable_token_indices=list(trainable_tokens) or None)


def add_lora(model, r: int, alpha: int, dropout: float, targets: Sequence[str], trainable_tokens: Sequence[int] = ()):
    """trainable_tokens: embedding rows trained beside the adapter — the class-name tokens when the
    base model has never seen those words (the tiny world model; llava-1.5 knows bird names)."""
    model.model.vision_tower.requires_grad_(False)
    peft_model = get_peft_model(model, lora_config(r, alpha, dropout, targets, trainable_tokens))
    for p in peft_model.base_model.model.model.vision_tower.parameters():
        p.requires_grad_(False)
    return peft_model


def trainable_summary(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total}
