"""What a tuned model learns from: the answer after the prompt, never the prompt or its image tokens;
and what TRL leaves to this project, each with why."""
from __future__ import annotations

import pytest
from PIL import Image

from selfsynth.lmm.chat_template import chat_prompt
from selfsynth.lmm.llava15 import IMAGE_TOKEN_ID, build
from selfsynth.training.sft import Example, collate
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
    enc = collate(processor, batch)  # as SFTTrainer builds its batches
    # the oracle: the prompts encoded with their images, as the model sees them before the answer
    prompts = processor(images=[Image.open(ex.image).convert("RGB") for ex in batch],
                        text=[chat_prompt(processor, ex.prompt) for ex in batch], padding=True, return_tensors="pt")
    tok = processor.tokenizer
    image_token = IMAGE_TOKEN_ID if kind == "llava-1.5" else tok.convert_tokens_to_ids("<image>")
    for row, ex in enumerate(batch):
        ids, labels, real = enc["input_ids"][row], enc["labels"][row], enc["attention_mask"][row].bool()
        prompt_len = int(prompts["attention_mask"][row].sum())
        assert ids[:prompt_len].tolist() == prompts["input_ids"][row][prompts["attention_mask"][row].bool()].tolist()
        assert (labels[:prompt_len] == -100).all() and (labels[prompt_len:][real[prompt_len:]] != -100).all()
        assert (labels[ids == image_token] == -100).all() and (ids == image_token).sum() > 1  # expanded, and masked
        assert (labels[~real] == -100).all()  # padding
        answer = tok.decode(labels[labels != -100], skip_special_tokens=True)
        assert answer.strip() == ex.answer
        assert labels[labels != -100][-1] == tok.eos_token_id


def test_trl_leaves_the_bos_to_the_chat_template_and_adds_no_eos_to_a_completion(tmp_path):
    """Why prompt_completion writes BOS and EOS into the text: TRL's vision-language collator encodes
    prompt and completion without special tokens, expecting the chat template to write the BOS (this
    one, like llava-1.5's, leaves it to the tokenizer, as generation does), and appends no EOS."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling
    processor = processor_of("aviary", tmp_path)
    tok = processor.tokenizer
    Image.new("RGB", (32, 32), (60, 90, 0)).save(tmp_path / "0.png")
    bare = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)(
        [{"image": Image.open(tmp_path / "0.png"), "prompt": chat_prompt(processor, "what is this"), "completion": " a crest"}])
    assert bare["input_ids"][0, 0] != tok.bos_token_id and tok.eos_token_id not in bare["input_ids"][0]
    ours = collate(processor, [Example(str(tmp_path / "0.png"), "what is this", "a crest")])
    assert ours["input_ids"][0, 0] == tok.bos_token_id and ours["labels"][0, -1] == tok.eos_token_id


def test_trls_fused_loss_cannot_read_a_tied_head_with_trainable_token_rows(tmp_path):
    """Why train() keeps the model's own loss: TRL's fused LM head reads lm_head.bias, and PEFT's
    wrapper around the trainable rows of a tied head (train.lora.train_new_tokens) has none. (It also
    costs base pretraining 1.3-1.5x per step on a CPU: benchmarks/loss_head.py.)"""
    import torch
    from trl import SFTConfig, SFTTrainer
    from selfsynth.training.lora import lora_config, new_token_ids
    from selfsynth.training.sft import CHECKPOINTING, SFTTrainerOwnLoss, prompt_completion
    Image.new("RGB", (32, 32), (60, 90, 0)).save(tmp_path / "0.png")
    examples = [Example(str(tmp_path / "0.png"), "what is this bird", "it is a red bird")]
    args = SFTConfig(str(tmp_path / "out"), report_to="none", use_cpu=True, bf16=False, max_length=None,
                     **{CHECKPOINTING: False})
    losses = []
    for trainer_class in (SFTTrainer, SFTTrainerOwnLoss):
        model, processor = tiny_model()
        lora = lora_config(8, 16, 0.0, ["q_proj"], new_token_ids(processor.tokenizer, ["it is a red bird"], ["what"]))
        trainer = trainer_class(model, args, train_dataset=prompt_completion(processor, examples),
                                processing_class=processor, peft_config=lora)
        batch = collate(processor, examples)
        if trainer_class is SFTTrainer:
            with pytest.raises(AttributeError, match="bias"):
                trainer.compute_loss(trainer.model, dict(batch))
        else:
            with torch.no_grad():
                assert trainer.compute_loss(trainer.model, dict(batch)).item() == trainer.model(**batch).loss.item()


def test_the_training_curves_go_live_to_the_open_mlflow_run_under_their_rounds_prefix(tmp_path, monkeypatch):
    """transformers' own MLflow reporting writes into the method run the stage holds open, while it
    trains: every logged step of the loss, each epoch's validation loss, no training argument as a param."""
    import mlflow

    from selfsynth.training import sft
    from tests.test_resume import examples

    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", f"sqlite:///{tmp_path}/mlflow.db")
    # a fresh store's default experiment, whatever experiment an earlier test in this process set
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    for var in ("MLFLOW_MAX_LOG_PARAMS", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    model, processor = tiny_model()
    with mlflow.start_run() as run:
        mlflow.log_param("study_param", 1)
        sft.train(model, processor, examples(tmp_path, 8), out_dir=tmp_path / "out", epochs=2, batch_size=2, lr=1e-3,
                  warmup_steps=0.0, weight_decay=0.0, seed=0, logging_steps=1, validation=examples(tmp_path, 2),
                  patience=5, mlflow_prefix="round-2.")
        client = mlflow.MlflowClient()
        assert mlflow.active_run().info.run_id == run.info.run_id  # still open: the stage logs more into it
    loss = client.get_metric_history(run.info.run_id, "round-2.loss")
    assert [m.step for m in loss] == list(range(1, 9))
    assert len(client.get_metric_history(run.info.run_id, "round-2.eval_loss")) == 2
    assert {k for k in client.get_run(run.info.run_id).data.metrics} == {
        "round-2.loss", "round-2.eval_loss", "round-2.learning_rate", "round-2.grad_norm"}  # curves only
    assert client.get_run(run.info.run_id).data.params == {"study_param": "1"}


def test_base_pretraining_trains_the_tower_on_params_threads_and_the_decoder_on_every_workers(tmp_path, monkeypatch):
    """The base stage computes alone: its decoder stage takes the idle cores' threads (the same bytes
    at 2 threads as at 1 on the machine measured, benchmarks/threads.py); the tower's training, whose
    bytes changed at 2 threads, keeps params.threads. Both are numbers in params, never the core count."""
    import torch

    from selfsynth.core.params import Params
    from selfsynth.lmm.prompts import load_prompts
    from selfsynth.process.guard import limit_threads
    from selfsynth.process.resume import Partial
    from selfsynth.training import pretrain
    from tests.conftest import REPO, micro_params

    class Corpus:  # what pretraining reads of a prepared dataset
        generic = [{"id": i, "split": "train", "image": f"{i}.png",
                    "examples": [{"prompt": "Describe the bird.", "answer": f"A bird with a {c} crest."}]}
                   for i, c in enumerate(["red", "blue", "short", "long"])]
        class_names = ["Red finch", "Blue finch"]

        def image(self, g):
            return tmp_path / g["image"]

    monkeypatch.chdir(tmp_path)
    seen = {}

    def tower(*args, **kwargs):
        seen["tower"] = torch.get_num_threads()
        return [0.5]

    def decoder(model, *args, **kwargs):
        seen["decoder"] = torch.get_num_threads()
        return model, None

    monkeypatch.setattr(pretrain, "pretrain_vision", tower)
    monkeypatch.setattr(pretrain, "train", decoder)
    params = Params.model_validate(micro_params() | {"workers": 2, "threads": 1})
    before = torch.get_num_threads()
    try:
        limit_threads(params.threads)  # as stage_start
        pretrain.pretrain_base_model(params, Corpus(), load_prompts("aviary", REPO / "prompts"),
                                     Partial("base", params, []))
    finally:
        torch.set_num_threads(before)
    assert seen == {"tower": 1, "decoder": 2}
