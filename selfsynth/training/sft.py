"""Supervised fine-tuning on (image, question, answer) triples with TRL's SFTTrainer.

One recipe serves base pretraining and every LoRA round: the prompt is built with the processor's
own chat template, the answer is the completion, and TRL's vision-language collator gives loss to
the completion only (not the prompt, its image tokens or the padding).
"""
from __future__ import annotations

import logging
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import EarlyStoppingCallback, PreTrainedModel, Trainer, TrainerCallback, TrainerState
from transformers.integrations import MLflowCallback
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from ..dataset.images import load_rgb
from ..lmm.chat_template import chat_prompt
from .augment import Augment

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


# transformers 5.2x renamed gradient_checkpointing to activation_checkpointing
CHECKPOINTING = ("activation_checkpointing" if "activation_checkpointing" in SFTConfig.__dataclass_fields__
                 else "gradient_checkpointing")


def prompt_completion(processor, examples: Sequence[Example]) -> Dataset:
    """TRL's prompt-completion format, the answer being the completion. By hand, as TRL leaves them
    (tests/test_sft.py): the BOS, which TRL's collator expects the chat template to write and this
    processor's template (llava-1.5's too) leaves to the tokenizer, and the EOS, which TRL appends
    only to text it tokenizes itself. Images are opened as batches are drawn."""
    tok = processor.tokenizer
    data = Dataset.from_dict({"image": [ex.image for ex in examples],
                              "prompt": [tok.bos_token + chat_prompt(processor, ex.prompt) for ex in examples],
                              "completion": [f" {ex.answer}{tok.eos_token}" for ex in examples],
                              "index": list(range(len(examples)))})
    return data.with_transform(open_images())


def open_images(augment: Augment | None = None):
    """The dataset transform that opens a batch's images as it is drawn, augmented if `augment`
    (each example by its index and the epoch: AugmentEpoch)."""
    def transform(batch: dict) -> dict:
        images = [load_rgb(path) for path in batch["image"]]
        if augment is not None:
            images = [augment(im, f"{augment.epoch}/{i}") for im, i in zip(images, batch["index"])]
        return {k: v for k, v in batch.items() if k != "index"} | {"image": images}
    return transform


class AugmentEpoch(TrainerCallback):
    """Tells the augmentation which epoch is drawn, a resumed one included."""

    def __init__(self, augment: Augment):
        self.augment = augment

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.augment.epoch = int(state.epoch or 0)


class Checkpoints(TrainerCallback):
    """A checkpoint every n optimizer steps, besides any the strategy saves (the epoch's, under
    early stopping), each marked complete once written: a run killed while writing one resumes
    from the one before (the trainer keeps it: save_total_limit), never from half a checkpoint."""
    MARK = "complete"

    def __init__(self, n: int):
        self.n = n

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.n == 0:
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        (Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}" / self.MARK).touch()

    @classmethod
    def last(cls, out_dir: Path) -> str | None:
        """The latest complete checkpoint in out_dir; incomplete ones are removed."""
        complete = []
        for d in Path(out_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
            if (d / cls.MARK).is_file():
                complete.append(d)
            else:
                shutil.rmtree(d)
        return str(max(complete, key=lambda d: int(d.name.rsplit("-", 1)[1]))) if complete else None


def collate(processor, examples: Sequence[Example]) -> dict:
    """A batch as the trainer builds it: input ids, pixels and labels (-100 but on answer and EOS)."""
    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    return collator(list(prompt_completion(processor, examples)))


@dataclass(frozen=True)
class History:
    """What a run logged, read from the Trainer's state.log_history: (step, loss) pairs for the loss
    curve and the tracker, the optimizer steps this process took (each rank's share under several
    GPUs); with a validation set also each epoch's validation loss, the epochs trained and the best
    loss. All of it is restored with a checkpoint, so a resumed run reports what a whole one does."""
    steps: list[int]
    losses: list[float]
    optimizer_steps: int
    val_epochs: list[float]
    val_losses: list[float]
    epochs_trained: float | None
    best_val_loss: float | None

    @classmethod
    def of(cls, state: TrainerState) -> History:
        logs = state.log_history
        return cls(steps=[e["step"] for e in logs if "loss" in e], losses=[float(e["loss"]) for e in logs if "loss" in e],
                   optimizer_steps=state.global_step,
                   val_epochs=[float(e["epoch"]) for e in logs if "eval_loss" in e],
                   val_losses=[float(e["eval_loss"]) for e in logs if "eval_loss" in e],
                   epochs_trained=None if state.epoch is None else float(state.epoch),
                   best_val_loss=None if state.best_metric is None else float(state.best_metric))

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


class SFTTrainerOwnLoss(SFTTrainer):
    """SFTTrainer with the model's own loss (transformers' Trainer.compute_loss) instead of TRL's fused
    LM head, which reads lm_head.bias that PEFT's wrapper around a tied head with trainable token rows
    (train.lora.train_new_tokens) lacks (tests/test_sft.py), and costs base pretraining 1.3-1.5x
    per step on a CPU (benchmarks/loss_head.py). The loss is the same masked cross-entropy."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """A whole model's checkpoint read through from_pretrained: LLaVA saves its weights under the
        checkpoint format's key names, of which the Trainer's own loading matches none, and it then
        resumes from the initial weights without a word (tests/test_resume.py). PEFT's adapters load
        as the Trainer loads them."""
        model = self.model if model is None else model
        if not isinstance(model, PreTrainedModel):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        model.load_state_dict(type(model).from_pretrained(resume_from_checkpoint, dtype=model.dtype).state_dict())


class MLflowLive(MLflowCallback):
    """transformers' own MLflow reporting, into the run the caller holds open, its curves named
    `prefix` + key ("round-2.loss"): one method run shows every round's curves, live. Only the
    curves (CURVES): timings and the epoch would crowd the chart view, which lists charts by name
    with accuracy first (a "/" would open a section of its own above them). The training arguments
    are not logged as params (MLFLOW_MAX_LOG_PARAMS=0): the run holds the study's."""

    CURVES = ("loss", "eval_loss", "learning_rate", "grad_norm")

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def setup(self, args, state, model):
        os.environ["MLFLOW_MAX_LOG_PARAMS"] = "0"
        super().setup(args, state, model)

    def on_log(self, args, state, control, logs, model=None, **kwargs):
        super().on_log(args, state, control, {f"{self.prefix}{k}": v for k, v in logs.items() if k in self.CURVES},
                       model=model, **kwargs)


def train(model, processor, examples: Sequence[Example], *, out_dir: Path, epochs: float, batch_size: int, lr: float,
          warmup_steps: float, weight_decay: float, seed: int, lr_scheduler_type: str = "cosine", augment=None,
          logging_steps: int = 10, desc: str | None = None, validation: Sequence[Example] = (), patience: int = 2,
          early_stopping_threshold: float = 0.0, peft_config=None, save_steps: int | None = None,
          loader_workers: int = 0, extra_args: dict | None = None,
          mlflow_prefix: str | None = None) -> tuple[object, History]:
    """Train model with TRL's SFTTrainer; return the trained model (with `peft_config`, the PEFT model
    around it, LoRA drawn after seeding with `seed`) and its loss history. With save_steps, a checkpoint
    every save_steps optimizer steps in out_dir (the last one kept), and a run that finds one there
    goes on from it, with the optimizer, schedule, data order and random state: the same model as a
    run never stopped (tests/test_resume.py). warmup_steps: transformers' key, a fraction of the steps where below 1.
    desc labels the progress bar (e.g. "train ours round 2"). With `validation`: `epochs` is
    the cap; the validation loss is computed after every epoch, training stops after `patience`
    epochs without an improvement larger than `early_stopping_threshold` and the best epoch's weights are loaded back — HF Trainer's own
    early stopping (checkpoints in out_dir). loader_workers: processes that build
    the batches while this one computes, for a run alone on the cores; the same batches, since the
    order is drawn here, but not with `augment`, whose epoch reaches it through a callback in this
    process (AugmentEpoch) that a worker's copy would not see. mlflow_prefix: the loss curves go live to
    the active MLflow run under this prefix (MLflowLive). extra_args: more SFTConfig
    (the GPU benchmark's max_steps, gradient checkpointing)."""
    if loader_workers and augment is not None:
        raise ValueError("train: loader_workers' copies of the augmentation would not see the epoch (AugmentEpoch)")
    stopping = {"save_strategy": "no", "save_total_limit": 2}  # the last two: one is whole if a kill cuts the other
    if validation:  # and the best epoch's
        stopping = dict(eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
                        metric_for_best_model="eval_loss", greater_is_better=False, save_total_limit=3,
                        per_device_eval_batch_size=batch_size,
                        prediction_loss_only=True)  # the loss only: gathering logits would hold vocab x tokens per pair
    args = SFTConfig(
        output_dir=str(out_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=warmup_steps, lr_scheduler_type=lr_scheduler_type, weight_decay=weight_decay,
        logging_steps=logging_steps, report_to="none", seed=seed, data_seed=seed,
        remove_unused_columns=False, dataloader_num_workers=loader_workers, use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(), disable_tqdm=False,
        # not TRL's defaults (truncation at 1024 tokens, activation checkpointing): as the Trainer's
        **({"max_length": None, CHECKPOINTING: False} | stopping | (extra_args or {})),
    )
    callbacks = [EarlyStoppingCallback(early_stopping_patience=patience,
                                       early_stopping_threshold=early_stopping_threshold)] if validation else []
    callbacks += [Checkpoints(save_steps)] if save_steps else []
    callbacks += [AugmentEpoch(augment)] if augment is not None else []
    callbacks += [MLflowLive(mlflow_prefix)] if mlflow_prefix is not None else []
    train_set = prompt_completion(processor, examples)
    trainer = SFTTrainerOwnLoss(model=model, args=args, train_dataset=train_set, processing_class=processor,
                                eval_dataset=prompt_completion(processor, validation) if validation else None,
                                peft_config=peft_config, callbacks=callbacks)
    if augment is not None:  # set after SFTTrainer has looked at the first example: no augmentation drawn for it
        train_set.set_transform(open_images(augment))
    if desc:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LabelledProgress(desc))
    log.info("%straining on %d examples for %s epochs (batch %d)%s", f"{desc}: " if desc else "", len(examples),
             epochs, batch_size, f", {len(validation)} held out, patience {patience}" if validation else "")
    last = Checkpoints.last(out_dir) if save_steps and Path(out_dir).is_dir() else None
    if last:
        log.info("%sresuming from %s", f"{desc}: " if desc else "", last)
    trainer.train(resume_from_checkpoint=last)
    return trainer.model, History.of(trainer.state)
