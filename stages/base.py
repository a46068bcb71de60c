"""Step 0c: the base LMM — pretrain the tiny world LLaVA, or pin a local LLaVA directory (llava-1.5-7b-hf).
A killed pretraining, rerun, goes on from its last checkpoint (selfsynth/process/resume.py)."""
import json
import logging
from pathlib import Path

import torch

from selfsynth.core.io import atomic_path
from selfsynth.core.layout import BASE_MODEL, DATASET
from selfsynth.core.params import load_params
from selfsynth.dataset.prepared import check_images, load_prepared
from selfsynth.lmm.load import SOURCE_FILE, check_llava_dir, fingerprint
from selfsynth.lmm.prompts import load_prompts
from selfsynth.plots import loss_curve
from selfsynth.process.preflight import stage_start
from selfsynth.process.resume import Partial
from selfsynth.tracking import mlflow_run
from selfsynth.training.pretrain import pretrain_base_model
from stages import summarize

LOSS_PLOT = Path("reports/base_loss.png")
log = logging.getLogger("base")


def pin_external(model_dir: str) -> None:
    path = check_llava_dir(model_dir).resolve()
    with atomic_path(BASE_MODEL, directory=True) as tmp:
        (tmp / SOURCE_FILE).write_text(json.dumps({"path": str(path), "fingerprint": fingerprint(path)}, indent=2))
    log.info("pinned %s", path)
    summarize(f"pinned {path}")


def main() -> None:
    params = load_params()
    stage_start(params)
    if params.base.model_dir:
        pin_external(params.base.model_dir)
        loss_curve([], [], LOSS_PLOT, f"pinned {Path(params.base.model_dir).name}: no pretraining here")
        return
    dataset = load_prepared(DATASET)
    corpus = [g for g in dataset.generic if g["split"] == "train"]
    check_images(dataset.root, corpus, "data/dataset/generic.jsonl")
    torch.manual_seed(params.world.seed)
    partial = Partial("base", params, [DATASET, "prompts"])
    with mlflow_run(params, "base-pretrain", stage="base") as mlf:
        model, processor, history, vision_accuracy = pretrain_base_model(params, dataset, load_prompts(params.dataset.name),
                                                                         partial)
        for step, loss in zip(history.steps, history.losses):
            mlf.log_metric("pretrain_loss", loss, step=step)
        for epoch, acc in enumerate(vision_accuracy, 1):
            mlf.log_metric("vision_attribute_accuracy", acc, step=epoch)
        mlf.log_metric("parameters", sum(p.numel() for p in model.parameters()))
        with atomic_path(BASE_MODEL, directory=True) as tmp:
            model.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        loss_curve(history.steps, history.losses, LOSS_PLOT, "Base model pretraining on the generic corpus")
        mlf.log_artifacts(str(BASE_MODEL), "model")
        mlf.log_artifact(str(LOSS_PLOT))
    partial.done()
    summarize(f"base model: {len(history.losses)} losses logged, last {history.losses[-1]:.3f}; vision attribute "
              f"accuracy {vision_accuracy[-1]:.3f}" if history.losses and vision_accuracy else "base model pretrained")


if __name__ == "__main__":
    main()
