"""Step 2: each round, a fresh LoRA on the merged model of the round before, trained on that
round's pairs (round 1: synthesized; rounds 2..K: rejection-sampled). The adapter is merged and
saved as the next round's starting model (merge, not stacked adapters: the paper's recipe).
With train.convergence.enabled every method follows one stopping rule instead of fixed epochs: a
share of the round's images is held out, and training stops when their loss stops improving (the
best epoch kept). Epochs used and the best validation loss go to metrics/train/round-<r>.json and MLflow.
A killed stage, rerun, goes on from each method's last checkpoint (selfsynth/process/resume.py).

Usage: python -m stages.train <round> [<method> ...]   (every method by default)
       accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m stages.train <round> <method>
"""
import logging
import re
import shutil
import sys
from contextlib import nullcontext
from pathlib import Path

from selfsynth.core.io import atomic_path, read_jsonl, write_json
from selfsynth.core.layout import DATASET, METHODS, model_dir, pairs_path, round_dir, train_metrics_path
from selfsynth.core.params import ParamsError, load_params
from selfsynth.dataset.prepared import check_images, load_prepared
from selfsynth.lmm.load import load_lmm
from selfsynth.plots import loss_curve
from selfsynth.process.distributed import is_main_process, wait_for_everyone
from selfsynth.process.guard import ensure_parent_alive
from selfsynth.process.parallel import run_jobs
from selfsynth.process.preflight import stage_start
from selfsynth.process.resume import Partial
from selfsynth.tracking import method_run
from selfsynth.training.augment import Augment
from selfsynth.training.lora import lora_config, new_token_ids, trainable_summary
from selfsynth.training.sft import Example, general_examples, generic_examples, split_by_image, train
from stages import summarize

log = logging.getLogger("train")


def fit(job: tuple) -> dict:
    """Train one method's round into `scratch` (a folder the stage process owns and moves into
    place); runs in a worker process, so it writes no output of the stage."""
    params, dataset, method, rnd, scratch, checkpoints = job
    p = params.train
    pairs = read_jsonl(pairs_path(method, rnd))
    seed = params.seed + rnd
    model, processor = load_lmm(model_dir(method, rnd - 1))
    tokens = []
    if p.lora.train_new_tokens:  # every word the answers use that the base LM's corpus never did
        names = [n for name in dataset.class_names for n in (name, " " + name)]
        tokens = new_token_ids(processor.tokenizer, [x["answer"] for x in pairs] + names,
                               [f"{ex.prompt} {ex.answer}" for ex in generic_examples(dataset)])
    lora = lora_config(p.lora.r, p.lora.alpha, p.lora.dropout, p.lora.targets, tokens)
    if not any(re.fullmatch(lora.target_modules, name) for name, _ in model.named_modules()):
        raise ParamsError(f"params.yaml: train.lora.targets: {p.lora.targets} match no module of the language model")
    examples = [Example(str(dataset.root / x["image"]), x["question"], x["answer"]) for x in pairs]
    conv, validation = p.convergence, []
    if conv.enabled:  # the same rule for every method: held-out images pick the epoch
        examples, validation = split_by_image(examples, conv.val_share, params.seed)  # the same images every round
    epochs = conv.max_epochs if conv.enabled else (p.epochs if rnd == 1 else p.later_epochs)
    task_pairs = len(examples)
    examples += general_examples(dataset, round(p.general_mix * task_pairs), seed)
    with method_run(params, method) if is_main_process() else nullcontext():  # its curves, live
        model, history = train(model, processor, examples, out_dir=checkpoints, epochs=epochs,
                               batch_size=p.batch_size, lr=p.lr, warmup_steps=p.warmup_steps,
                               weight_decay=p.weight_decay, lr_scheduler_type=p.lr_scheduler_type, seed=seed,
                               augment=Augment(seed) if p.augment else None, validation=validation,
                               patience=conv.patience, early_stopping_threshold=conv.early_stopping_threshold,
                               peft_config=lora, desc=f"train {method} round {rnd}", save_steps=params.resume.save_steps,
                               mlflow_prefix=f"round-{rnd}.")
    trainable = trainable_summary(model)
    if not is_main_process():  # several GPUs: the other ranks trained their shares; rank 0 saves
        wait_for_everyone()
        return None
    ensure_parent_alive()  # a worker whose stage is gone writes nothing, not even scratch
    scratch = Path(scratch)
    model.save_pretrained(scratch / "adapter")
    merged = model.merge_and_unload()
    merged.save_pretrained(scratch / "model")
    processor.save_pretrained(scratch / "model")
    loss_curve(history.steps, history.losses, scratch / "loss.png", f"{method}, round {rnd}: LoRA training")
    wait_for_everyone()
    return {"losses": history.losses, "trainable": trainable, "examples": len(examples),
            "optimizer_steps": history.optimizer_steps,
            "training": {"convergence": conv.enabled, "epochs_cap": epochs, "epochs_used": history.epochs_trained,
                         "best_epoch": history.best_epoch, "best_val_loss": history.best_val_loss,
                         "val_pairs": len(validation), "val_images": len({ex.image for ex in validation}),
                         "held_out": sorted({Path(ex.image).name for ex in validation}),
                         "train_pairs": task_pairs, "val_losses": history.val_losses}}


def main(rnd: int, methods: list[str]) -> None:
    params = load_params()
    stage_start(params)
    dataset = load_prepared(DATASET)
    sizes = []  # characters to train on: the workers take the longest method first
    for method in methods:  # every input checked before any training starts
        source = pairs_path(method, rnd)
        pairs = read_jsonl(source)
        if not pairs:
            raise ValueError(f"{source}: no training pairs")
        check_images(dataset.root, pairs, str(source))
        sizes.append(sum(len(x.get("question", "")) + len(x.get("answer", "")) for x in pairs))
    partial = Partial(f"train-round-{rnd}", params,  # checkpoints: a killed run goes on from them
                      [DATASET, *(pairs_path(m, rnd) for m in methods), *(model_dir(m, rnd - 1) for m in methods)])
    if is_main_process():  # each method's run made here: workers making the study's run and tags at once clash
        for method in methods:
            with method_run(params, method):
                pass
    scratch = partial.dir / "scratch"  # the trained models before they move into place; gone with the partial work
    shutil.rmtree(scratch, ignore_errors=True)  # a killed run's half-saved ones
    jobs = [(params, dataset, m, rnd, scratch / m, partial.checkpoints(m)) for m in methods]
    results = run_jobs(fit, jobs, params.workers, params.threads, costs=sizes)
    if not is_main_process():
        return
    for method in methods:  # every method trained before any is written: a failure leaves none half-done
        with atomic_path(round_dir(method, rnd), directory=True) as tmp:
            for part in (scratch / method).iterdir():
                shutil.move(str(part), tmp / part.name)
    write_json(train_metrics_path(rnd), {m: res["training"] for m, res in zip(methods, results)})
    partial.done()
    for method, res in zip(methods, results):
        tr = res["training"]
        with method_run(params, method) as mlf:
            mlf.log_metrics({**{f"train.{k}": v for k in ("epochs_used", "best_epoch", "best_val_loss")
                                if isinstance(v := tr[k], (int, float))},
                             **{f"trainable.{k}": v for k, v in res["trainable"].items()},
                             "train.optimizer_steps": res["optimizer_steps"], "train.examples": res["examples"]},
                            step=rnd)
            out = round_dir(method, rnd)
            mlf.log_artifacts(str(out / "adapter"), f"round-{rnd}/adapter")
            mlf.log_artifact(str(out / "loss.png"), f"round-{rnd}")
        log.info("round %d, %s: %d examples, losses logged %s", rnd, method, res["examples"], res["losses"][-3:])
    summarize(f"round {rnd}: " + ", ".join(
        f"{m} {r['examples']} examples, {r['optimizer_steps']} steps, last loss "
        + (f"{r['losses'][-1]:.3f}" if r["losses"] else "n/a") for m, r in zip(methods, results)))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:] or list(METHODS))
