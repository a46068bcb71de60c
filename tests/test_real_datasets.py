"""Real datasets through the pipeline: params name the dataset and the concept source, prepare reads
the dataset in place (plus the aviary's generic corpus for the tiny base model), the stages that
need the world's per-image truth skip those scores, and EE / CS are judged against the concept
lists. Two `dvc repro` runs on tiny copies (CUB with attributes; a folder of one's own images with
a concepts JSON), and the bad inputs each one stops on."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from fake_openai import serve

from selfsynth.core.params import ParamsError, parse_params
from selfsynth.dataset.prepared import spread_over_classes
from selfsynth.lmm.prompts import load_prompts
from selfsynth.method.synthesize import write_template_answers
from selfsynth.metrics.concept_match import concept_explanation_rows
from tests.conftest import REPO, dvc, make_project, micro_params, run_stage
from tests.test_datasets import cub, flat_folders, image

CUB_ATTRIBUTES = ["has_bill_shape::dagger", "has_wing_color::blue", "has_underparts_color::yellow",
                  "has_size::small_(5_-_9_in)", "has_head_pattern::eyering", "has_tail_shape::forked_tail",
                  "has_primary_color::black", "has_leg_color::grey"]
CUB_PERCENT = [[80, 10, 55, 60, 70, 90, 20, 65],  # percent of each class's images showing each attribute
               [0, 70, 20, 75, 100, 10, 85, 60]]
FOLDER_CONCEPTS = {"0": {"name": "kestrel", "visual_features": ["rufous back with black spots", "grey head",
                                                                 "long tail with a black band", "pointed wings"]},
                   "1": {"name": "merlin", "visual_features": ["dark streaked breast", "faint moustache stripe",
                                                               "compact, stocky body", "short square tail"]}}


def cub_with_attributes(tmp_path: Path) -> Path:
    """tests/test_datasets.py's CUB layout (2 classes, 3 images each) plus the attribute annotations."""
    root = cub(tmp_path)
    (root / "attributes").mkdir()
    (tmp_path / "attributes.txt").write_text("".join(f"{i} {a}\n" for i, a in enumerate(CUB_ATTRIBUTES, 1)))
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "".join(" ".join(f"{x:.6f}" for x in row) + "\n" for row in CUB_PERCENT))
    return root


def own_folder(tmp_path: Path) -> Path:
    """A user's images, one folder per class, no split (the adapter holds out a stratified quarter)."""
    return flat_folders(tmp_path / "my_images", {"kestrel": 4, "merlin": 4})


def real_params(name: str, root: Path, base: Path | None = None, **concepts) -> dict:
    """The micro params on a real dataset. `base`: an existing tiny LLaVA directory to pin (as a
    user pins llava-1.5-7b-hf), so a pipeline test does not pretrain one of its own."""
    p = micro_params()
    p["dataset"] = {"name": name, "root": str(root)}
    p["concepts"].update(concepts)
    p["base"]["train"]["epochs"] = 0.5
    p["eval_base"]["max_images"] = 2
    if base is not None:
        p["base"]["model_dir"] = str(base)
    return p


def read(path: Path):
    return json.loads(path.read_text())


# ---------------------------------------------------------------- params

def test_params_name_the_dataset_and_check_its_root(tmp_path):
    (tmp_path / "c.json").write_text("{}")
    ok = parse_params(real_params("folder", tmp_path, source="json", path=str(tmp_path / "c.json")))
    assert ok.dataset.root == str(tmp_path) and ok.concepts.source == "json"
    for dataset, message in [({"name": "cub200", "root": ""}, r"dataset\.root: .*'cub200' needs the folder"),
                             ({"name": "cub200", "root": str(tmp_path / "nowhere")}, r"dataset\.root: .*nowhere: no such directory"),
                             ({"name": "aviary", "root": str(tmp_path)}, r"dataset\.root: .*must be \"\" for the aviary"),
                             ({"name": "imagenet", "root": str(tmp_path)}, r"dataset\.name")]:
        p = micro_params()
        p["dataset"] = dataset
        with pytest.raises(ParamsError, match=message):
            parse_params(p)


@pytest.mark.parametrize("dataset, concepts, message", [
    ("cub200", {"source": "world"}, r"concepts: .*source 'world' is the aviary's own field guide"),
    ("folder", {"source": "cub_attributes"}, r"concepts: .*'cub_attributes' reads CUB-200-2011's annotations"),
    ("folder", {"source": "json", "path": ""}, r"concepts: .*source 'json' needs concepts\.path"),
    ("folder", {"source": "json", "path": "no/such.json"}, r"concepts: .*no/such\.json: no such file"),
    ("folder", {"source": "llm"}, r"concepts: .*needs concepts\.llm\.base_url and concepts\.llm\.model"),
])
def test_a_concept_source_that_cannot_serve_the_dataset_is_named(tmp_path, dataset, concepts, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(real_params(dataset, tmp_path, **concepts))


def test_the_llm_judge_needs_an_endpoint():
    p = micro_params()
    p["evaluate"]["judge"] = "llm"
    with pytest.raises(ParamsError, match=r"evaluate\.llm_judge: .*set llm_judge\.base_url and llm_judge\.model"):
        parse_params(p)


# ---------------------------------------------------------------- prompts, templates, metrics

@pytest.mark.parametrize("name", ["cub200", "aircraft", "dogs", "ham10000", "pld", "chest_xray", "folder"])
def test_every_dataset_has_prompts_and_only_bird_datasets_say_bird(name):
    p = load_prompts(name, REPO / "prompts")
    text = " ".join([p.object, p.identify, *p.describe, *p.simple, *p.explain, *p.cot]).lower()
    assert ("bird" in text) == (name == "cub200")
    rows = [{"image_id": f"i{i}", "method": "ours", "kind": k, "question": "q", "label": "X", "features": ["a", "b"]}
            for i in range(40) for k in ("simple", "explain", "cot")]
    answers = " ".join(r["answer"] for r in write_template_answers(rows, 0, p)).lower()
    assert ("bird" in answers) == (name == "cub200") and p.object.lower() in answers


def test_the_aviary_templates_still_say_bird_and_species():
    p = load_prompts("aviary", REPO / "prompts")
    rows = [{"image_id": f"i{i}", "method": "ours", "kind": "cot", "question": "q", "label": "Zael Pipit",
             "features": ["a red crest"]} for i in range(40)]
    answers = {r["answer"] for r in write_template_answers(rows, 0, p)}
    assert "It has a red crest, so the species is Zael Pipit." in answers
    assert "The bird shows a red crest. These features identify it as a Zael Pipit." in answers


def test_offline_concept_judge_on_real_data():
    answers = ["This is a kestrel. It can be recognised by a rufous back with black spots and a grey head.",
               "This is a merlin: note the dark streaks on the breast.",
               "This is an image of merlin.",
               "The object is a kestrel, identified by a dark streaked breast."]
    rows = concept_explanation_rows(answers, [0, 1, 1, 0], FOLDER_CONCEPTS, encoder="minilm", threshold=0.5)
    # cited: 2 kestrel concepts, 1 merlin concept, nothing, 1 merlin concept for a kestrel
    assert rows == [{"EE": 1.0, "CS": 1.0, "cited": 2}, {"EE": 1.0, "CS": 1.0, "cited": 1},
                    {"EE": 0.0, "CS": 0.0, "cited": 0}, {"EE": 1.0, "CS": 0.0, "cited": 1}]


def test_evaluation_images_are_spread_over_the_classes():
    rows = [{"id": f"{c}{i}", "label": c} for c in range(4) for i in range(5)]
    assert [r["id"] for r in spread_over_classes(rows, 6)] == ["00", "01", "10", "11", "20", "30"]
    assert spread_over_classes(rows, 20) == rows


# ---------------------------------------------------------------- the LLM paths (a local fake endpoint)

def test_llm_concepts_and_judge_through_the_method_code(tmp_path, monkeypatch):
    from selfsynth.method.concepts import load_concepts
    from stages.concepts import LLM_CACHE
    from selfsynth.method.evaluate import judge_with_llm

    def reply(user, body):
        if "bullet-point" in user:
            return "- grey head\n- pointed wings\n"
        return "yes" if "yes or no" in user else "8"

    monkeypatch.chdir(tmp_path)
    with serve(reply) as (fake, url):
        raw = real_params("folder", tmp_path, source="llm",
                          llm={"base_url": url, "model": "m", "api_key_env": "NO_KEY", "domain": "bird"})
        raw["evaluate"].update(judge="llm", llm_judge={"base_url": url, "model": "j", "api_key_env": "NO_KEY"})
        params = parse_params(raw)
        labels = [{"id": 0, "name": "kestrel"}, {"id": 1, "name": "merlin"}]
        concepts, source = load_concepts(params, labels, LLM_CACHE)
        assert concepts["1"] == {"name": "merlin", "visual_features": ["grey head", "pointed wings"]}
        assert "'m'" in source and fake.calls == 2
        assert load_concepts(params, labels, LLM_CACHE)[0] == concepts and fake.calls == 2  # cached in data/
        assert Path("data/concepts_llm_cache.json").is_file()

        monkeypatch.chdir(REPO)  # the judge's prompts file is read from the project root
        preds = [{"id": "a", "question": "q", "answer": "A kestrel: grey head.", "label": 0, "predicted": 0},
                 {"id": "g", "task": "attribute", "question": "q", "answer": "red", "reference": "red", "correct": True}]
        metrics = judge_with_llm({"EE": 0.0, "CS": 0.0, "accuracy": 1.0}, preds, concepts, params.evaluate.llm_judge,
                                 tmp_path / "judge.json")
        assert metrics["EE"] == 1.0 and metrics["CS"] == 0.8 and metrics["offline"] == {"EE": 0.0, "CS": 0.0}
        assert preds[0]["judge"] == {"EE": True, "CS": 8.0} and "judge" not in preds[1]
        assert fake.calls == 4


# ---------------------------------------------------------------- bad input, before long work

def test_a_corrupt_image_in_the_dataset_stops_prepare_by_name(tmp_path):
    data = own_folder(tmp_path)
    bad = data / "merlin" / "01.png"
    bad.write_bytes(b"not a png")
    root = make_project(tmp_path / "p", real_params("folder", data, source="json", path="concepts/mine.json"))
    (root / "concepts/mine.json").write_text(json.dumps(FOLDER_CONCEPTS))
    proc = run_stage(root, "prepare", check=False)
    assert proc.returncode != 0 and f"{bad}: not a readable image" in proc.stderr
    assert not (root / "data/dataset").exists()


@pytest.mark.parametrize("content, message", [
    ("{oops", r"concepts/mine.json: not valid JSON"),
    (json.dumps({"0": FOLDER_CONCEPTS["0"]}), r"concepts/mine.json: class 1 \('merlin'\): no entry with this id or name"),
])
def test_a_bad_concepts_file_stops_the_concepts_stage_by_name(tmp_path, content, message):
    root = make_project(tmp_path / "p", real_params("folder", own_folder(tmp_path), source="json",
                                                    path="concepts/mine.json"))
    (root / "concepts/mine.json").write_text(content)
    run_stage(root, "prepare")
    proc = run_stage(root, "concepts", check=False)
    assert proc.returncode != 0
    assert len(re.findall(message, proc.stderr)) == 1
    assert not (root / "data/concepts.json").exists()


# ---------------------------------------------------------------- the pipeline on real layouts

def test_cub_with_its_attributes_runs_through_selection(tmp_path):
    data = cub_with_attributes(tmp_path)
    params = real_params("cub200", data, source="cub_attributes", threshold=50.0, max_per_class=15)  # pretrains
    root = make_project(tmp_path / "p", params, dvc=True)
    out = dvc(root, "repro", "select", "evaluate_base")
    for stage in ("prepare", "concepts", "base", "evaluate_base", "describe", "select"):
        assert f"Running stage '{stage}'" in out

    manifest = [json.loads(x) for x in (root / "data/dataset/manifest.jsonl").read_text().splitlines()]
    assert {r["label_name"] for r in manifest} == {"Black footed Albatross", "Laysan Albatross"}
    assert all(Path(r["image"]).is_absolute() and str(data) in r["image"] for r in manifest)
    assert (root / "data/dataset/generic.jsonl").is_file()  # the tiny base model's corpus, beside CUB
    concepts = read(root / "data/concepts.json")
    assert concepts["0"]["visual_features"][:2] == ["forked tail", "dagger-shaped bill"]  # 90 %, 80 %
    assert concepts["1"]["visual_features"][0] == "eye ring"
    assert read(root / "data/concepts_llm_cache.json") == {}
    assert "note" in read(root / "metrics/describe.json")
    base = read(root / "metrics/base.json")  # no description P/R without per-image truth; the rest as on the aviary
    assert "note" in base["description_greedy"] and base["general_ability"]["n"] > 0
    assert base["identification"]["n"] == 2  # eval_base.max_images, spread over the two classes
    select = read(root / "metrics/select.json")
    assert select["selected"]["per_image"] >= params["select"]["min_concepts"] and "note" in select
    zstar = [json.loads(x) for x in (root / "data/select/zstar.jsonl").read_text().splitlines()]
    assert all(set(z["zstar"]) <= set(concepts[str(z["label"])]["visual_features"]) for z in zstar)
    assert "Running stage" not in dvc(root, "repro", "select", "evaluate_base")  # the persisted LLM cache stays cached


def test_a_folder_of_own_images_with_a_concepts_json_runs_round_one(micro_project, tmp_path):
    data = own_folder(tmp_path)
    params = real_params("folder", data, base=micro_project[0] / "models/round-0", source="json", path="concepts/mine.json")
    root = make_project(tmp_path / "p", params, dvc=True)
    (root / "concepts/mine.json").write_text(json.dumps(FOLDER_CONCEPTS))
    out = dvc(root, "repro", "evaluate_base", "evaluate@round-1")  # the base model is round 0
    assert "Running stage 'evaluate@round-1'" in out

    pairs = [json.loads(x) for x in (root / "data/rounds/round-1/pairs/ours.jsonl").read_text().splitlines()]
    assert pairs and not any("bird" in p["answer"].lower() or "bird" in p["question"].lower() for p in pairs)
    for method, rnd in (("base", 0), ("nl", 1), ("lge", 1), ("ours", 1), ("nofilter", 1)):
        m = read(root / f"metrics/eval/round-{rnd}/{method}.json")
        assert 0 <= m["EE"] <= 1 and 0 <= m["CS"] <= m["EE"] and m["grounding"] is None
        assert m["general_ability"] is None and m["n"] == 2  # a pinned model: no generic corpus; one image per class
    assert read(root / "data/eval/llm_judge/round-1.json") == {}

    concepts = yaml.safe_load((root / "params.yaml").read_text())["concepts"]
    assert concepts["path"] == "concepts/mine.json"
    (root / "concepts/mine.json").write_text(json.dumps(FOLDER_CONCEPTS, indent=1))  # same concepts, new bytes
    out = dvc(root, "repro", "evaluate@round-1")
    assert "Running stage 'concepts'" in out and "Running stage 'select'" not in out
