"""Bad input stops a stage before long work, with one message naming the file, and leaves nothing behind."""
import json
import shutil

import pytest
from PIL import Image

from selfsynth.core.io import atomic_path
from selfsynth.dataset.prepared import DatasetError, check_images
from selfsynth.lmm.load import ModelDirError, check_llava_dir
from selfsynth.method.concepts import ConceptsError, validate_concepts
from tests.conftest import make_project, micro_params, run_stage


@pytest.fixture(scope="module")
def prepared(micro_project, tmp_path_factory):
    """The micro study's prepared world, in a project of its own."""
    study, _ = micro_project
    root = make_project(tmp_path_factory.mktemp("bad"))
    shutil.copytree(study / "data/dataset", root / "data/dataset")
    return root


def fresh_copy(prepared, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(prepared, root)
    return root


def first_generic_image(root):
    row = json.loads((root / "data/dataset/generic.jsonl").read_text().splitlines()[0])
    return root / "data/dataset" / row["image"]


def test_a_corrupt_image_stops_the_base_stage_by_name(prepared, tmp_path):
    root = fresh_copy(prepared, tmp_path)
    bad = first_generic_image(root)
    bad.write_bytes(b"not a png at all")
    proc = run_stage(root, "base", check=False)
    assert proc.returncode != 0
    assert f"{bad.relative_to(root)}: not a readable image" in proc.stderr
    assert not (root / "models/round-0").exists()
    assert not (root / "models").exists() or not list((root / "models").glob(".base.*"))


def test_a_missing_image_stops_the_base_stage_by_name(prepared, tmp_path):
    root = fresh_copy(prepared, tmp_path)
    bad = first_generic_image(root)
    bad.unlink()
    proc = run_stage(root, "base", check=False)
    assert proc.returncode != 0
    assert f"{bad.relative_to(root)}: image missing" in proc.stderr
    assert not (root / "models/round-0").exists()


def test_check_images_names_the_file(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    check_images(tmp_path, [{"image": "ok.png"}], "list")
    with pytest.raises(DatasetError, match="bad.png: not a readable image"):
        check_images(tmp_path, [{"image": "ok.png"}, {"image": "bad.png"}], "list")


def test_a_model_directory_that_is_not_llava_is_refused(tmp_path):
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelDirError, match="not a LLaVA model.*'bert'"):
        check_llava_dir(bert)
    with pytest.raises(ModelDirError, match="does not exist"):
        check_llava_dir(tmp_path / "nowhere")
    with pytest.raises(ModelDirError, match="no config.json"):
        check_llava_dir(tmp_path)


def test_the_base_stage_refuses_a_non_llava_model_dir_and_writes_nothing(prepared, tmp_path):
    root = fresh_copy(prepared, tmp_path)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    params = micro_params()
    params["base"]["model_dir"] = str(bert)
    from tests.conftest import write_params
    write_params(root, params)
    proc = run_stage(root, "base", check=False)
    assert proc.returncode != 0
    assert "not a LLaVA model" in proc.stderr and str(bert) in proc.stderr
    assert not (root / "models/round-0").exists()


def test_an_unknown_param_stops_a_stage_before_any_work(tmp_path):
    params = micro_params()
    params["world"]["wingspan"] = 3
    root = make_project(tmp_path / "p", params)
    proc = run_stage(root, "prepare", check=False)
    assert proc.returncode != 0
    assert "world.wingspan: unknown key" in proc.stderr
    assert not (root / "data").exists()


def test_a_class_without_concepts_is_named():
    with pytest.raises(ConceptsError, match=r"class 1 \('Vel Finch'\) has no visual_features"):
        validate_concepts({"0": {"name": "A", "visual_features": ["x"]}, "1": {"name": "Vel Finch",
                           "visual_features": []}}, ["A", "Vel Finch"], "concepts.json")


def test_atomic_outputs_leave_nothing_when_the_work_fails(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
