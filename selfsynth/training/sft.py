"""Supervised fine-tuning on (image, question, answer) triples with the HF Trainer.

One collator serves base pretraining and every LoRA round: the prompt is built with the
processor's own chat template, the answer follows it, and only answer tokens carry loss.
"""
from __future__ import annotations

import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm.auto import tqdm
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from ..dataset.images import load_rgb
from ..lmm.chat_template import chat_prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    image: str
    prompt: str
    answer: str


def generic_examples(dataset) -> list[Example]:
    """Every caption and attribute question of the generic corpus's training images."""
    return [Example(str(dataset.image(g)), ex["prompt"], ex["answer"])
            for g in dataset.generic if g["split"] == "train" for ex in g["examples"]]


def general_examples(dataset, n: int, seed: int) -> list[Example]:
    """n examples of the generic corpus, drawn without replacement where possible: the paper's
    general-data mix that keeps the tuned model a describer."""
    pool = generic_examples(dataset)
    if n <= 0 or not pool:
        return []
    rng = random.Random(seed)
    return [pool[i] for i in (rng.sample(range(len(pool)), n) if n <= len(pool) else rng.choices(range(len(pool)), k=n))]


@dataclass(frozen=True)
class HeldOut(Example):
    """A validation example: scored each epoch, never trained on, never augmented."""


def split_by_image(examples: Sequence[Example], share: float, seed: int) -> tuple[list[Example], list[HeldOut]]:
    """Hold out `share` of the images (at least one, never all) with every pair of theirs, seeded:
    pairs of one image are near-duplicates, so a split by pair would leak into validation."""
    images = sorted({ex.image for ex in examples})
    if len(images) < 2:
        raise ValueError(f"convergence needs at least 2 training images to hold one out, got {len(images)}")
    n_val = min(len(images) - 1, max(1, round(share * len(images))))
    held = set(random.Random(f"{seed}/validation").sample(images, n_val))
    return ([ex for ex in examples if ex.image not in held],
            [HeldOut(ex.image, ex.prompt, ex.answer) for ex in examples if ex.image in held])


class ExampleDataset(Dataset):
    def __init__(self, examples: Sequence[Example]):
        self.examples = list(examples)

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        return self.examples[i]


class SFTCollator:
    def __init__(self, processor, augment: Callable[[Image.Image], Image.Image] | None = None):
        self.processor = processor
        self.augment = augment

    def __call__(self, batch: Sequence[Example]) -> dict:
        images = [load_rgb(ex.image) for ex in batch]
        if self.augment is not None:
            images = [im if isinstance(ex, HeldOut) else self.augment(im) for ex, im in zip(batch, images)]
        prompts = [chat_prompt(self.processor, ex.prompt) for ex in batch]
        eos = self.processor.tokenizer.eos_token
        full = [f"{p} {ex.answer}{eos}" for p, ex in zip(prompts, batch)]
        self.processor.tokenizer.padding_side = "right"
        enc = self.processor(images=images, text=full, padding=True, return_tensors="pt")
        prompt_ids = self.processor(images=images, text=prompts, padding=True, return_tensors="pt")
        prompt_lens = prompt_ids["attention_mask"].sum(dim=1)
        labels = enc["input_ids"].clone()
        positions = torch.arange(labels.shape[1]).unsqueeze(0)
        labels[positions < prompt_lens.unsqueeze(1)] = -100
        labels[enc["attention_mask"] == 0] = -100
        enc["labels"] = labels
        return dict(enc)


class LossHistory(TrainerCallback):
    """Keeps (step, loss) pairs for the loss curve and the tracker, the optimizer steps this
    process took (each rank's share under several GPUs) and the mean loss of the run; with a
    validation set also each epoch's validation loss, the epochs trained and the best loss."""

    def __init__(self):
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.optimizer_steps = 0
        self.mean_loss: float | None = None
        self.val_epochs: list[float] = []
        self.val_losses: list[float] = []
        self.epochs_trained: float | None = None
        self.best_val_loss: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.steps.append(state.global_step)
            self.losses.append(float(logs["loss"]))
        if logs and "train_loss" in logs:
            self.mean_loss = float(logs["train_loss"])
        if logs and "eval_loss" in logs:
            self.val_epochs.append(float(state.epoch))
            self.val_losses.append(float(logs["eval_loss"]))

    def on_train_end(self, args, state, control, **kwargs):
        self.optimizer_steps = state.global_step
        self.epochs_trained = float(state.epoch) if state.epoch is not None else None
        self.best_val_loss = float(state.best_metric) if state.best_metric is not None else None

    @property
    def best_epoch(self) -> float | None:
        if not self.val_losses:
            return None
        return self.val_epochs[min(range(len(self.val_losses)), key=lambda i: (self.val_losses[i], i))]


class LabelledProgress(ProgressCallback):
    """The Trainer's progress, labelled ("train ours round 2"): four methods train in parallel
    workers, and bare `37%|###` bars cannot be told apart. On a terminal, a bar; in a log file (DVC
    run under nohup, CI) one line per tenth of the run instead of a bar, whose every redraw would
    land on the same line (thousands of characters per training run)."""

    def __init__(self, desc: str, tty: bool | None = None):
        super().__init__()
        self.desc = desc
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.logged_tenths = 0
        self.loss: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if self.tty:
            if state.is_world_process_zero:
                self.training_bar = tqdm(total=state.max_steps, desc=self.desc, dynamic_ncols=True)
            self.current_step = 0
        else:
            self.logged_tenths = 0

    def on_step_end(self, args, state, control, **kwargs):
        if self.tty:
            return super().on_step_end(args, state, control, **kwargs)
        tenths = 10 * state.global_step // max(1, state.max_steps)
        if state.is_world_process_zero and tenths > self.logged_tenths:
            self.logged_tenths = tenths
            loss = "" if self.loss is None else f", loss {self.loss:.3f}"
            log.info("%s: %d/%d steps (%d%%)%s", self.desc, state.global_step, state.max_steps, 10 * tenths, loss)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.tty:
            return super().on_log(args, state, control, logs=logs, **kwargs)
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_train_end(self, args, state, control, **kwargs):
        if self.tty:
            return super().on_train_end(args, state, control, **kwargs)


def train(model, processor, examples: Sequence[Example], *, out_dir: Path, epochs: float, batch_size: int, lr: float,
          warmup_ratio: float, weight_decay: float, seed: int, lr_scheduler_type: str = "cosine", augment=None,
          logging_steps: int = 10,
          desc: str | None = None, validation: Sequence[Example] = (), patience: int = 2,
          early_stopping_threshold: float = 0.0,
          loader_workers: int = 0, extra_args: dict | None = None) -> LossHistory:
    """Train model in place; return its loss history. Checkpoints are not kept: the stage saves the
    result. desc labels the progress bar (e.g. "train ours round 2"). With `validation`: `epochs` is
    the cap; the validation loss is computed after every epoch, training stops after `patience`
    epochs without an improvement larger than `early_stopping_threshold` and the best epoch's weights are loaded back — HF Trainer's own
    early stopping (checkpoints in out_dir, a scratch folder). loader_workers: processes that build
    the batches while this one computes, for a run alone on the cores; the same batches, since the
    order is drawn here, but not with `augment`, whose random state each epoch's new worker would
    restart. extra_args: more TrainingArguments
    (the GPU benchmark's max_steps, gradient checkpointing)."""
    if loader_workers and augment is not None:
        raise ValueError("train: loader_workers would restart the augmentation's random state every epoch")
    history = LossHistory()
    stopping = {}
    if validation:
        stopping = dict(eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
                        metric_for_best_model="eval_loss", greater_is_better=False, save_total_limit=2,
                        per_device_eval_batch_size=batch_size,
                        prediction_loss_only=True)  # the loss only: gathering logits would hold vocab x tokens per pair
    args = TrainingArguments(
        output_dir=str(out_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=warmup_ratio, lr_scheduler_type=lr_scheduler_type, weight_decay=weight_decay,
        logging_steps=logging_steps, report_to="none", seed=seed, data_seed=seed,
        remove_unused_columns=False, dataloader_num_workers=loader_workers, use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(), disable_tqdm=False,
        **({"save_strategy": "no"} | stopping | (extra_args or {})),
    )
    callbacks = [history] + ([EarlyStoppingCallback(early_stopping_patience=patience,
                                                    early_stopping_threshold=early_stopping_threshold)]
                             if validation else [])
    trainer = Trainer(model=model, args=args, train_dataset=ExampleDataset(examples),
                      eval_dataset=ExampleDataset(validation) if validation else None,
                      data_collator=SFTCollator(processor, augment), callbacks=callbacks)
    if desc:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LabelledProgress(desc))
    log.info("%straining on %d examples for %s epochs (batch %d)%s", f"{desc}: " if desc else "", len(examples),
             epochs, batch_size, f", {len(validation)} held out, patience {patience}" if validation else "")
    trainer.train()
    return history
