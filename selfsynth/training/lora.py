"""LoRA on the language model only (PEFT): vision tower frozen, projector trained in full.

Round r trains a fresh adapter on the round r-1 model with that adapter merged in, as the
paper does; the stage saves both the adapter (small, logged to MLflow) and the merged model
(the next round's base).
"""
from __future__ import annotations

from typing import Sequence

from peft import LoraConfig, get_peft_model

LANGUAGE_MODEL_SCOPE = r".*language_model.*\.({})$"


def lora_config(r: int, alpha: int, dropout: float, targets: Sequence[str]) -> LoraConfig:
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                      target_modules=LANGUAGE_MODEL_SCOPE.format("|".join(targets)),
                      modules_to_save=["multi_modal_projector"])


def add_lora(model, r: int, alpha: int, dropout: float, targets: Sequence[str]):
    model.model.vision_tower.requires_grad_(False)
    peft_model = get_peft_model(model, lora_config(r, alpha, dropout, targets))
    for p in peft_model.base_model.model.model.vision_tower.parameters():
        p.requires_grad_(False)
    return peft_model


def trainable_summary(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total}
