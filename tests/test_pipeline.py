"""`dvc repro` on the micro world: every stage runs, outputs are real and reload, reruns are cached."""
import json
import shutil
import sqlite3

import yaml
from transformers import AutoProcessor, LlavaForConditionalGeneration

from selfsynth.core.layout import METHODS
from selfsynth.lmm.hf import HFGenerator, Sampling
from selfsynth.lmm.load import check_llava_dir
from tests.conftest import dvc, run_stage, write_params

STAGES = ("prepare", "concepts", "base", "evaluate_base", "describe", "select", "synthesize", "train@round-1",
          "evaluate@round-1", "generate@round-2", "rejection@round-2", "train@round-2", "evaluate@round-2", "instrument", "report")


def test_repro_runs_every_stage(micro_project):
    root, out = micro_project
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out
    assert (root / "reports/dataset.png").stat().st_size > 10_000
    assert (root / "reports/base_loss.png").is_file()


def test_concepts_are_in_the_authors_format(micro_project):
    root, _ = micro_project
    concepts = json.loads((root / "data/concepts.json").read_text())
    labels = json.loads((root / "data/dataset/labels.json").read_text())
    assert set(concepts) == {str(lab["id"]) for lab in labels}
    for lab in labels:
        entry = concepts[str(lab["id"])]
        assert entry["name"] == lab["name"]
        assert len(entry["visual_features"]) == 8


def test_base_model_loads_like_llava_1_5_and_generates(micro_project):
    root, _ = micro_project
    path = check_llava_dir(root / "models/round-0")
    processor = AutoProcessor.from_pretrained(path)
    model = LlavaForConditionalGeneration.from_pretrained(path)
    assert type(processor).__name__ == "LlavaProcessor"
    assert model.config.model_type == "llava" and model.config.vision_config.model_type == "clip_vision_model"
    assert model.config.text_config.model_type == "llama"
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text",
                                            "text": "Describe the bird."}]}], add_generation_prompt=True)
    assert prompt == "USER: <image>\nDescribe the bird. ASSISTANT:"
    image = next((root / "data/dataset/images/test").glob("*.png"))
    answers = HFGenerator(model, processor, batch_size=2).generate([str(image)] * 2, ["Describe the bird."] * 2,
                                                                    Sampling(n=2, temperature=1.0, max_new_tokens=8))
    assert len(answers) == 2 and all(len(a) == 2 for a in answers)


def test_base_metrics_are_written(micro_project):
    root, _ = micro_project
    m = json.loads((root / "metrics/base.json").read_text())
    for key in ("precision", "recall", "f1"):
        assert 0.0 <= m["description_greedy"][key] <= 1.0
    assert 0.0 <= m["identification"]["accuracy"] <= m["identification"]["accuracy_lenient"] <= 1.0
    assert m["general_ability"]["n"] > 0
    preds = (root / "data/eval/describe-base.jsonl").read_text().splitlines()
    assert {json.loads(p)["task"] for p in preds} == {"identify", "describe_greedy", "describe_t1", "attribute"}


def test_mlflow_has_the_pretraining_and_evaluation_runs(micro_project):
    root, _ = micro_project
    with sqlite3.connect(root / "mlflow.db") as db:
        runs = {name.rsplit("-", 1)[0] for (name,) in db.execute("select name from runs")}  # <stage>-<study id>
        metrics = {key for (key,) in db.execute("select distinct key from metrics")}
    assert {"base-pretrain", "evaluate-base"} <= runs
    assert {"pretrain_loss", "vision_attribute_accuracy", "identification.accuracy"} <= metrics


def test_rerun_is_a_no_op_and_a_param_change_reruns_only_its_dependents(micro_project):
    root, _ = micro_project
    assert "Running stage" not in dvc(root, "repro")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["eval_base"]["max_images"] = 4
    write_params(root, params)
    out = dvc(root, "repro")
    # the base model's scores feed the instrument's description and identification checks (and the report
    # prints them, rerun only when the checks' file changed)
    for stage in ("evaluate_base", "instrument"):
        assert f"Running stage '{stage}'" in out
    for stage in STAGES:
        if stage not in ("evaluate_base", "instrument", "report"):
            assert f"Running stage '{stage}'" not in out
    assert json.loads((root / "metrics/base.json").read_text())["identification"]["n"] == 4


def test_round_one_writes_pairs_models_and_metrics_for_every_method(micro_project):
    root, _ = micro_project
    images = [json.loads(x) for x in (root / "data/dataset/manifest.jsonl").read_text().splitlines()]
    n_train = sum(r["split"] == "train" for r in images)
    zstar = [json.loads(x) for x in (root / "data/select/zstar.jsonl").read_text().splitlines()]
    assert len(zstar) == n_train and all(len(z["zstar"]) >= 3 for z in zstar)
    for method in METHODS:
        pairs = [json.loads(x) for x in (root / f"data/rounds/round-1/pairs/{method}.jsonl").read_text().splitlines()]
        assert len(pairs) == 2 * n_train  # every image gets its pairs
        assert all(p["label"].lower() in p["answer"].lower() for p in pairs)
        assert (root / f"models/round-1/{method}/adapter/adapter_config.json").is_file()
        check_llava_dir(root / f"models/round-1/{method}/model")
    for method in ("base",) + METHODS:
        rnd = 0 if method == "base" else 1
        m = json.loads((root / f"metrics/eval/round-{rnd}/{method}.json").read_text())
        for key in ("accuracy", "accuracy_lenient", "EE", "CS", "FS", "grounding", "general_ability"):
            assert key in m, (method, key)
    nl = json.loads((root / "metrics/eval/round-1/nl.json").read_text())
    assert nl["EE"] <= 1.0
    sel = json.loads((root / "metrics/select.json").read_text())
    assert set(sel) == {"selected", "all_class_concepts", "random_same_size"}


def test_the_lmm_answer_writer_keeps_every_image_and_only_answers_naming_the_label(micro_project, tmp_path):
    root, _ = micro_project
    copy = tmp_path / "p"
    shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(".dvc", ".git", "mlflow.db"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["synthesize"].update(writer="lmm", max_new_tokens=16)
    write_params(copy, params)
    run_stage(copy, "synthesize")
    n_train = sum(json.loads(x)["split"] == "train" for x in (copy / "data/dataset/manifest.jsonl").read_text().splitlines())
    for method in METHODS:
        pairs = [json.loads(x) for x in (copy / f"data/rounds/round-1/pairs/{method}.jsonl").read_text().splitlines()]
        assert len(pairs) == 2 * n_train
        assert all(p["label"].lower() in p["answer"].lower() for p in pairs)
        assert {p["writer"] for p in pairs} <= {"lmm", "template"}
    stats = json.loads((copy / "metrics/synthesize.json").read_text())
    # the tiny base model has never seen a species name: its rewrites fail the label check and fall back
    assert stats["ours"]["fallbacks"] == sum(p["writer"] == "template" for p in
                                             map(json.loads, (copy / "data/rounds/round-1/pairs/ours.jsonl").read_text().splitlines()))
