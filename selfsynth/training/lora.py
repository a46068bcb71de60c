"""LoRA on the language model only (PEFT, through TRL's SFTTrainer): vision tower frozen, projector trained in full.

Round r trains a fresh adapter on the round r-1 model with that adapter merged in, as the
paper does; the stage saves both the adapter (small, logged to MLflow) and the merged model
(the next round's base).
"""
from __future__ import annotations

from typing import Iterable, Sequence

from transformers import PreTrainedTokenizerBase

from peft import LoraConfig

LANGUAGE_MODEL_SCOPE = r".*language_model.*\.({})$"


def new_token_ids(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], known: Iterable[str]) -> list[int]:
    """Tokens that `texts` (the round's training answers, the class names) use and the base LM's own
    corpus (`known`) never did. Their embedding rows, tied to the output layer, are still at their
    initial values, and LoRA alone cannot make them likely: measured on the tiny model after 8
    epochs, the top-1 probability of ' identif' (of "identified by") was 0.014 where a trained
    class-name row reached 0.97, so sampled answers fell apart at every template word."""
    def ids(strings: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for text in strings:
            out.update(tokenizer(text, add_special_tokens=False)["input_ids"])
        return out

    return sorted(ids(texts) - ids(known))


def lora_config(r: int, alpha: int, dropout: float, targets: Sequence[str],
                trainable_tokens: Sequence[int] = ()) -> LoraConfig:
    """SFTTrainer's peft_config (PEFT leaves every other weight, the vision tower's too, frozen).
    trainable_tokens: embedding rows trained beside the adapter — the words of the training answers
    the base model has never seen (the tiny world model: new_token_ids; llava-1.5 knows them)."""
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                      target_modules=LANGUAGE_MODEL_SCOPE.format("|".join(targets)),
                      modules_to_save=["multi_modal_projector"],
                      trainable_token_indices=list(trainable_tokens) or None)


def trainable_summary(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total}
