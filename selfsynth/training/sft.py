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
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from ..lmm.chat_template import chat_prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    image: str
    prompt: str
    answer: str


def generic_examples(world) -> list[Example]:
    """Every caption and attribute question of the generic corpus's training images."""
    return [Example(str(world.image(g)), ex["prompt"], ex["answer"])
            for g in world.generic if g["split"] == "train" for ex in g["examples"]]


def general_examples(world, n: int, seed: int) -> list[Example]:
    """n examples of the generic corpus, drawn without replacement where possible: the paper's
    general-data mix that keeps the tuned model a describer."""
    pool = generic_examples(world)
    if n <= 0 or not pool:
        return []
    rng = random.Random(seed)
    return [pool[i] for i in (rng.sample(range(len(pool)), n) if n <= len(pool) else rng.choices(range(len(pool)), k=n))]


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
        images = [Image.open(ex.image).convert("RGB") for ex in batch]
        if self.augment is not None:
            images = [self.augment(im) for im in images]
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
    process took (each rank's share under several GPUs) and the mean loss of the run."""

    def __init__(self):
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.optimizer_steps = 0
        self.mean_loss: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.steps.append(state.global_step)
            self.losses.append(float(logs["loss"]))
        if logs and "train_loss" in logs:
            self.mean_loss = float(logs["train_loss"])

    def on_train_end(self, args, state, control, **kwargs):
        self.optimizer_steps = state.global_step


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
          warmup_ratio: float, weight_decay: float, seed: int, augment=None, logging_steps: int = 10,
          desc: str | None = None, extra_args: dict | None = None) -> LossHistory:
    """Train model in place; return its loss history. Checkpoints are not kept: the stage saves the
    result. desc labels the progress bar (e.g. "train ours round 2"); extra_args: more
    TrainingArguments (the GPU benchmark's max_steps, gradient checkpointing)."""
    history = LossHistory()
    args = TrainingArguments(
        output_dir=str(out_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=warmup_ratio, lr_scheduler_type="cosine", weight_decay=weight_decay,
        logging_steps=logging_steps, save_strategy="no", report_to="none", seed=seed, data_seed=seed,
        remove_unused_columns=False, dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(), disable_tqdm=False,
        **(extra_args or {}),
    )
    trainer = Trainer(model=model, args=args, train_dataset=ExampleDataset(examples),
                      data_collator=SFTCollator(processor, augment), callbacks=[history])
    if desc:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LabelledProgress(desc))
    log.info("%straining on %d examples for %s epochs (batch %d)", f"{desc}: " if desc else "", len(examples), epochs,
             batch_size)
    trainer.train()
    return history
