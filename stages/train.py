"""Step 2: LoRA-tune the previous round's model on one method's QA pairs.

Usage: python -m stages.train <method> <round>. Round 1 starts from models/base; round r from
models/<method>/round-<r-1>/model (the previous adapter merged in).
"""
import logging
import sys
import tempfile
from pathlib import Path

from transformers import set_seed

from selfsynth.augment import Augment
from selfsynth.data.dataset import check_images, load_prepared
from selfsynth.io import atomic_path, read_jsonl
from selfsynth.models.load import load_lmm
from selfsynth.params import load_params
from selfsynth.plots import loss_curve
from selfsynth.tracking import mlflow_run
from selfsynth.training.lora import add_lora, label_token_ids, trainable_summary
from selfsynth.training.sft import Example, general_examples, train

log = logging.getLogger("train")


def previous_model(method: str, rnd: int) -> Path:
    return Path("models/base") if rnd == 1 else Path(f"models/{method}/round-{rnd - 1}/model")


def main(method: str, rnd: int) -> None:
    params = load_params()
    p = params.train
    world = load_prepared("data/world")
    pairs = read_jsonl(f"data/synthesize/round-{rnd}/{method}.jsonl")
    if not pairs:
        raise ValueError(f"data/synthesize/round-{rnd}/{method}.jsonl: no training pairs")
    check_images(world.root, pairs, f"data/synthesize/round-{rnd}/{method}.jsonl")
    out = Path(f"models/{method}/round-{rnd}")
    set_seed(params.seed + rnd)  # LoRA's initial weights are drawn before the Trainer seeds anything
    model, processor = load_lmm(previous_model(method, rnd))
    tokens = label_token_ids(processor.tokenizer, world.class_names) if p.lora.train_label_tokens else []
    model = add_lora(model, p.lora.r, p.lora.alpha, p.lora.dropout, p.lora.targets, tokens)
    examples = [Example(str(world.root / x["image"]), x["question"], x["answer"]) for x in pairs]
    examples += general_examples(world, round(p.general_mix * len(pairs)), params.seed + rnd)
    with mlflow_run(params, f"train-{method}-round-{rnd}", method=method, round=rnd, stage="train") as mlf, \
            tempfile.TemporaryDirectory() as scratch:
        mlf.log_metrics(trainable_summary(model))
        history = train(model, processor, examples, out_dir=Path(scratch), epochs=p.epochs, batch_size=p.batch_size,
                        lr=p.lr, warmup_ratio=p.warmup_ratio, weight_decay=p.weight_decay,
                        seed=params.seed + rnd, augment=Augment(params.seed + rnd) if p.augment else None)
        for step, loss in zip(history.steps, history.losses):
            mlf.log_metric("train_loss", loss, step=step)
        with atomic_path(out, directory=True) as tmp:
            model.save_pretrained(tmp / "adapter")
            merged = model.merge_and_unload()
            merged.save_pretrained(tmp / "model")
            processor.save_pretrained(tmp / "model")
            loss_curve(history.steps, history.losses, tmp / "loss.png", f"{method}, round {rnd}: LoRA training")
        mlf.log_artifacts(str(out / "adapter"), "adapter")
        mlf.log_artifact(str(out / "loss.png"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
