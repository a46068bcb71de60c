"""A long stage killed at any point and rerun goes on from its last finished unit, and ends with
the bytes of a run never stopped: training from its last checkpoint, generation from its last
shard. Partial work is keyed to the stage's code, params and inputs, and goes when the stage ends."""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from selfsynth.core.layout import METHODS, pairs_path, predictions_path
from selfsynth.process import parallel, resume
from selfsynth.process.resume import Partial, run_units
from selfsynth.training.sft import SFTTrainerOwnLoss as OwnLoss
from tests.conftest import micro_params, stage_env, write_params


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


class Crash(Exception):
    pass


def square(x: int) -> int:
    if x in CRASH_ON:
        raise Crash(x)
    return x * x


CRASH_ON: set[int] = set()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rerun_computes_only_the_units_a_crashed_run_had_not_finished(workdir, workers, monkeypatch):
    (workdir / "input.txt").write_text("a")
    real_wait = parallel.wait

    def late_wait(*args, **kwargs):  # a busy parent: the failure and the finished units come back together
        time.sleep(1)
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(parallel, "wait", late_wait)
    jobs = list(range(8))
    units = [f"x-{j}" for j in jobs]
    CRASH_ON.clear()
    CRASH_ON.add(5)
    with pytest.raises(Crash):
        run_units(square, jobs, units, Partial("stage", {"p": 1}, ["input.txt"]), workers=workers)
    kept = Partial("stage", {"p": 1}, ["input.txt"])
    finished = {u for u in units if kept.load(u) is not None}
    assert "x-5" not in finished and ({"x-0", "x-1", "x-2", "x-3", "x-4"} <= finished if workers == 1 else finished)
    CRASH_ON.clear()
    CRASH_ON.update(int(u[2:]) for u in finished)  # a finished unit computed again would crash
    assert run_units(square, jobs, units, kept, workers=workers) == [j * j for j in jobs]
    kept.done()
    assert not (workdir / ".resume").exists()


def test_the_fingerprint_reads_this_checkouts_code():
    assert (resume.CODE / "selfsynth/process/resume.py").is_file() and (resume.CODE / "stages/train.py").is_file()


def test_changed_params_inputs_or_code_start_afresh_and_remove_the_stale_work(workdir, monkeypatch):
    (workdir / "input.txt").write_text("a")
    first = Partial("stage", {"p": 1}, ["input.txt"])
    first.save("u", [1])
    assert Partial("stage", {"p": 1}, ["input.txt"]).load("u") == [1]
    assert Partial("stage", {"p": 2}, ["input.txt"]).load("u") is None
    assert not first.dir.exists()  # the other fingerprint's work went
    Partial("stage", {"p": 1}, ["input.txt"]).save("u", [1])
    (workdir / "input.txt").write_text("bb")
    assert Partial("stage", {"p": 1}, ["input.txt"]).load("u") is None
    Partial("stage", {"p": 1}, ["input.txt"]).save("u", [1])
    code = workdir / "code"
    (code / "selfsynth").mkdir(parents=True)
    (code / "stages").mkdir()
    (code / "selfsynth" / "m.py").write_text("x = 1")
    monkeypatch.setattr(resume, "CODE", code)
    assert Partial("stage", {"p": 1}, ["input.txt"]).load("u") is None


def examples(tmp_path, n: int = 12):
    from selfsynth.training.sft import Example
    for i in range(4):
        Image.new("RGB", (32, 32), (60 * i, 90, 200 - 40 * i)).save(tmp_path / f"{i}.png")
    return [Example(str(tmp_path / f"{i % 4}.png"), "what is this bird", ["it is a red bird", "a crest"][i % 2])
            for i in range(n)]


def fit(tmp_path, out_dir, monkeypatch, crash_at: int | None = None, validation=(), lora: bool = True):
    """A LoRA round in small (augmented, token rows trained, dropout on), or with lora=False base
    pretraining's whole model (tower frozen, a loader process), killed at optimizer step `crash_at`
    if given: an exception from the trainer's step, as a crash, an OOM or a Ctrl-C."""
    from transformers import TrainerCallback
    from selfsynth.training import sft
    from selfsynth.training.augment import Augment
    from selfsynth.training.lora import lora_config, new_token_ids
    from tests.test_verdict import tiny_model

    class Killed(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            computed.append(state.global_step)
            if state.global_step == crash_at:
                raise Crash(crash_at)

    class Trainer(OwnLoss):
        def __init__(self, *args, callbacks=None, **kw):
            super().__init__(*args, callbacks=[*(callbacks or []), Killed()], **kw)

    computed = []
    monkeypatch.setattr(sft, "SFTTrainerOwnLoss", Trainer)
    torch.manual_seed(0)
    model, processor = tiny_model()
    if lora:
        setting = dict(augment=Augment(3), peft_config=lora_config(
            4, 8, 0.1, ["q_proj", "v_proj"], new_token_ids(processor.tokenizer, ["a crest"], ["what"])))
    else:
        model.model.vision_tower.requires_grad_(False)
        setting = dict(loader_workers=1)
    model, history = sft.train(model, processor, examples(tmp_path), out_dir=out_dir, epochs=3, batch_size=2, lr=1e-3,
                               warmup_steps=0.1, weight_decay=0.0, seed=3, logging_steps=1, validation=validation,
                               patience=5, save_steps=4, **setting)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, history, computed


@pytest.mark.parametrize("lora, with_validation", [(True, False), (True, True), (False, False)],
                         ids=["lora", "lora-early-stopping", "whole-model"])
def test_training_killed_at_any_step_resumes_to_the_weights_of_a_run_never_stopped(tmp_path, monkeypatch, lora,
                                                                                   with_validation):
    """The whole-model case is base pretraining's, where the Trainer's own loading of a LLaVA
    checkpoint matched no weight and resumed from the initial ones (SFTTrainerOwnLoss)."""
    torch.set_num_threads(1)
    held = examples(tmp_path, 2) if with_validation else ()
    whole, history, _ = fit(tmp_path, tmp_path / "whole", monkeypatch, validation=held, lora=lora)
    steps = history.optimizer_steps
    for crash in sorted(random.Random(0).sample(range(2, steps), 3)):  # seeded kill points
        out = tmp_path / f"killed-at-{crash}"
        with pytest.raises(Crash):
            fit(tmp_path, out, monkeypatch, crash_at=crash, validation=held, lora=lora)
        kept = sorted(int(p.parent.name.split("-")[1]) for p in out.glob("checkpoint-*/complete"))
        assert kept and crash - max(kept) <= 4  # lost: at most one checkpoint interval
        (out / f"checkpoint-{crash}").mkdir()  # and one a kill cut while it was being written
        (out / f"checkpoint-{crash}" / "trainer_state.json").write_text("{")
        resumed, again, computed = fit(tmp_path, out, monkeypatch, validation=held, lora=lora)
        assert computed == list(range(max(kept) + 1, steps + 1))  # on from the last checkpoint, nothing redone
        assert again == history  # losses, validation losses, best epoch, steps: the whole record
        assert resumed.keys() == whole.keys()
        assert all(torch.equal(resumed[k], whole[k]) for k in whole), f"killed at step {crash}"


def stage_copy(src: Path, dst: Path, inputs: list[str], raw: dict) -> Path:
    """A project beside the micro study that reads its inputs (linked) and writes its own outputs."""
    shutil.copytree(src / "stages", dst / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    for part in ["data/dataset", "data/concepts.json", "prompts", *inputs]:
        (dst / part).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src / part, dst / part)
    write_params(dst, raw)
    return dst


def kill_when(root: Path, args: list[str], done: str, at_least: int) -> int:
    """Start a stage, kill -9 it (and its workers) once `at_least` units match `done` under .resume/;
    return how many had finished when it died."""
    log = root.parent / "killed.log"
    # the killed stage's scratch, removed below (a kill -9 skips its cleanup); short: the loader's
    # sockets live there, and pytest's folders can pass AF_UNIX's 107 characters
    scratch = Path(tempfile.mkdtemp(prefix="kill-"))
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=root, env={**stage_env(root), "TMPDIR": str(scratch)},
                                start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    try:
        while len(list(root.glob(f".resume/*/*/{done}"))) < at_least:
            assert proc.poll() is None, f"{args} ended before {at_least} units of {done} were done:\n{log.read_text()[-4000:]}"
            assert time.time() < deadline
            time.sleep(0.05)
    finally:  # a failed wait too: no stage left running, no scratch left behind
        with contextlib.suppress(ProcessLookupError):  # its workers too, if the stage itself has ended
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(scratch)
    return len(list(root.glob(f".resume/*/*/{done}")))


def rerun(root: Path, args: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=root, env=stage_env(root), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (root / ".resume").exists()  # the stage's partial work went with its end
    return proc.stderr


def same_files(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        if f.suffix == ".safetensors":  # the tensors, not the file's header order
            from safetensors.torch import load_file
            x, y = load_file(a / f), load_file(b / f)
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), f
        elif f.suffix != ".png":  # a loss plot's bytes carry the drawing library's metadata
            assert (a / f).read_bytes() == (b / f).read_bytes(), f


@pytest.mark.parametrize("stage", ["describe", "generate", "evaluate", "train", "base"])
def test_a_stage_killed_mid_way_resumes_and_writes_what_an_uninterrupted_run_wrote(micro_project, tmp_path, stage):
    """kill -9 at a seeded point after some units finished; the rerun does only the rest (it says
    how many it found) and writes the micro study's bytes. Each shard is one batch here, training
    checkpoints 2 steps apart."""
    src, _ = micro_project
    at_least = random.Random(stage).randint(1, 2)
    raw = micro_params()  # the micro study's settings: its outputs are the uninterrupted run's bytes
    raw["resume"].update(shard_batches=1, save_steps=2)
    if stage == "describe":  # 16 images, batches of 4: 4 shards
        args, done, outputs, inputs = ["stages.describe"], "*.json", ["data/describe/descriptions.jsonl"], ["models/round-0"]
    elif stage == "generate":  # 32 questions, batches of 8: 4 shards a method
        args, done, outputs = ["stages.generate", "2"], "*.json", ["data/rounds/round-2/candidates"]
        inputs = ["models/round-1/ours", "models/round-1/nofilter"]
    elif stage == "evaluate":
        args, done = ["stages.evaluate", "1"], "*.json"
        outputs = [str(predictions_path(m, 1)) for m in METHODS]
        inputs = ["models/round-0", *(f"models/round-1/{m}" for m in METHODS)]
    elif stage == "train":
        args, done, outputs = ["stages.train", "2", *METHODS], "*/checkpoint-*/complete", [f"models/round-2/{m}" for m in METHODS]
        inputs = [*(f"models/round-1/{m}" for m in METHODS), *(str(pairs_path(m, 2)) for m in METHODS)]
    else:
        args, done, outputs, inputs = ["stages.base"], "stage-b/checkpoint-*/complete", ["models/round-0"], []
    root = stage_copy(src, tmp_path / "p", inputs, raw)
    finished = kill_when(root, args, done, at_least)
    assert not any((root / out).exists() for out in outputs)  # nothing half-written
    log = rerun(root, args)
    if stage in ("describe", "generate", "evaluate"):
        assert f"resuming: {finished} of" in log
    else:
        assert "resuming from" in log and "checkpoint-" in log
    for out in outputs:
        if (src / out).is_dir():
            same_files(src / out, root / out)
        else:
            assert (root / out).read_bytes() == (src / out).read_bytes(), out


def test_augmentation_draws_from_the_example_and_epoch_alone():
    from selfsynth.training.augment import Augment
    img = Image.new("RGB", (32, 32), (10, 200, 30))
    img.putpixel((3, 5), (255, 0, 0))
    a = Augment(1)
    first = a(img, "0/7").tobytes()
    a(img, "0/8")
    assert a(img, "0/7").tobytes() == first == Augment(1)(img, "0/7").tobytes()
    assert {Augment(1)(img, f"{e}/7").tobytes() for e in range(6)} != {first}

