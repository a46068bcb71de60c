"""Real image files as they come: every mode opens as the RGB picture a viewer shows (one loader,
selfsynth/dataset/images.py, used by every stage), RGB files exactly as before; a symlink out of
the dataset root, and one file's bytes in both train and test, stop prepare by name; exact
duplicates are counted in metrics/dataset.json."""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selfsynth.dataset.images import load_rgb
from selfsynth.dataset.prepared import DatasetError, check_images, duplicates, load_prepared
from selfsynth.dataset.sources import prepare_dataset
from tests.conftest import make_project, run_stage
from tests.test_datasets import flat_folders, image, split_folders
from tests.test_real_datasets import real_params

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def saved(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def pixels(path) -> np.ndarray:
    im = load_rgb(path)
    assert im.mode == "RGB"
    return np.asarray(im)


# ---------------------------------------------------------------- modes

def test_grayscale_l_is_grey(tmp_path):
    p = saved(Image.new("L", (3, 2), 77), tmp_path / "grey.png")
    assert Image.open(p).mode == "L"
    assert (pixels(p) == 77).all()


def test_cmyk_is_converted(tmp_path):
    p = saved(Image.new("CMYK", (3, 2), (0, 255, 255, 0)), tmp_path / "cmyk.tif")
    assert Image.open(p).mode == "CMYK"
    assert (pixels(p) == RED).all()


def test_palette_with_transparency_shows_white_not_the_hidden_colour(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([*RED, *BLUE])
    im.putpixel((1, 0), 1)
    p = saved(im, tmp_path / "palette.png", transparency=0)  # index 0 (red) is transparent
    assert Image.open(p).mode == "P" and Image.open(p).convert("RGB").getpixel((0, 0)) == RED
    assert pixels(p).tolist() == [[list(WHITE), list(BLUE)]]


def test_palette_plus_alpha_pa_over_white():
    im = Image.new("PA", (2, 1))  # no common format writes PA; the vLLM path passes open images
    im.putpalette([*RED, *BLUE])
    im.putpixel((0, 0), (0, 0))
    im.putpixel((1, 0), (1, 255))
    assert pixels(im).tolist() == [[list(WHITE), list(BLUE)]]


def test_rgba_alpha_is_composited_over_white(tmp_path):
    im = Image.new("RGBA", (3, 1))
    for x, px in enumerate([(*RED, 0), (0, 0, 0, 128), (*BLUE, 255)]):
        im.putpixel((x, 0), px)
    p = saved(im, tmp_path / "rgba.png")
    out = pixels(p)
    assert out[0, 0].tolist() == list(WHITE) and out[0, 2].tolist() == list(BLUE)
    assert 125 <= out[0, 1, 0] <= 129 and len(set(out[0, 1])) == 1  # half-transparent black: mid grey


def test_grey_with_alpha_la_over_white(tmp_path):
    im = Image.new("LA", (2, 1))
    im.putpixel((1, 0), (0, 255))
    p = saved(im, tmp_path / "la.png")
    assert Image.open(p).mode == "LA"
    assert pixels(p).tolist() == [[list(WHITE), [0, 0, 0]]]


def test_16_bit_grey_keeps_its_gradient(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (2, 1))
    p = saved(Image.fromarray(ramp), tmp_path / "xray16.png")
    assert Image.open(p).mode == "I;16"
    assert (np.asarray(Image.open(p).convert("RGB")) == 255).mean() > 0.9  # what plain convert does: white
    grey = pixels(p)[..., 0]
    assert np.array_equal(grey[0], np.round(ramp[0] / 257).astype(np.uint8))  # by its bit depth, /257
    assert grey[0, 0] == 0 and grey[0, -1] == 255 and len(np.unique(grey)) == 256


def test_32_bit_int_i_is_scaled_by_the_depth_its_values_need(tmp_path):
    ramp = np.tile(np.arange(0, 65536, 257, dtype=np.int32), (2, 1))  # 16-bit values in a mode-I TIFF
    p = saved(Image.fromarray(ramp), tmp_path / "i32.tif")
    assert Image.open(p).mode == "I"
    assert pixels(p)[0, :, 0].tolist() == list(range(256))
    small = saved(Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32)), tmp_path / "i8.tif")
    assert pixels(small)[0, :, 0].tolist() == [0, 100, 255]  # 8-bit values kept as they are


# ---------------------------------------------------------------- RGB as before

def test_rgb_files_are_byte_identical_to_plain_convert(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    for p in (saved(Image.fromarray(noise), tmp_path / "rgb.png"),
              saved(Image.fromarray(noise), tmp_path / "rgb.jpg", quality=80)):
        assert load_rgb(p).tobytes() == Image.open(p).convert("RGB").tobytes()


def test_the_aviary_images_are_byte_identical_to_plain_convert(tmp_path):
    from selfsynth.lmm.prompts import load_prompts
    from selfsynth.core.params import parse_params
    from selfsynth.world.build import build_world
    from tests.conftest import micro_params

    world = parse_params(micro_params()).world
    build_world(world, world.seed, tmp_path, load_prompts("aviary").describe)
    rows = load_prepared(tmp_path).manifest
    for r in rows:
        p = tmp_path / r["image"]
        assert Image.open(p).mode == "RGB"
        assert load_rgb(p).tobytes() == Image.open(p).convert("RGB").tobytes()
    assert duplicates(tmp_path, rows, allow_across_splits=False)["groups"] == 0  # no identical draws


def test_check_images_accepts_a_16_bit_file(tmp_path):
    saved(Image.fromarray(np.full((2, 2), 40000, np.uint16)), tmp_path / "x.png")
    check_images(tmp_path, [{"image": "x.png"}], "list")


# ---------------------------------------------------------------- symlinks

def prepare(root: Path, tmp_path: Path) -> list[dict]:
    out = Path(tempfile.mkdtemp(dir=tmp_path))
    prepare_dataset("folder", root, out, 0)
    return load_prepared(out).manifest


def test_a_symlinked_image_outside_the_root_is_refused_by_name(tmp_path):
    root = flat_folders(tmp_path / "data", {"kestrel": 4, "merlin": 4})
    elsewhere = image(tmp_path / "elsewhere" / "x.png", 9)
    link = root / "merlin" / "04.png"
    link.symlink_to(elsewhere)
    with pytest.raises(DatasetError, match=re.escape(f"{link}: symbolic link to {elsewhere}, outside the dataset root {root}")):
        prepare(root, tmp_path)


def test_a_symlinked_class_folder_outside_the_root_is_refused_by_name(tmp_path):
    root = flat_folders(tmp_path / "data", {"kestrel": 4})
    elsewhere = flat_folders(tmp_path / "elsewhere", {"merlin": 4}) / "merlin"
    (root / "merlin").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DatasetError, match=re.escape(f"{root / 'merlin'}: symbolic link to {elsewhere}, outside")):
        prepare(root, tmp_path)


def test_symlinks_inside_the_root_are_allowed(tmp_path):
    root = flat_folders(tmp_path / "data", {"kestrel": 4, "merlin": 4})
    (root / "merlin" / "04.png").symlink_to(image(root / "spare" / "x.png", 9))  # spare/ is a third class
    (root / "spare" / "y.png").symlink_to(os.path.relpath(image(root / "kept" / "z.png"), root / "spare"))
    image(root / "kept" / "w.png")
    assert len(prepare(root, tmp_path)) == 13


# ---------------------------------------------------------------- duplicates

def test_duplicates_within_a_split_are_counted(tmp_path):
    root = flat_folders(tmp_path / "data", {"kestrel": 4, "merlin": 4})
    rows = prepare(root, tmp_path)
    train = [r for r in rows if r["split"] == "train"]
    for r in train[1:3]:
        Path(r["image"]).write_bytes(Path(train[0]["image"]).read_bytes())
    assert duplicates(Path("/"), rows, allow_across_splits=False) == {
        "groups": 1, "files": 3, "across_splits": 0, "examples": [[r["image"] for r in train[:3]]]}


def test_one_file_in_train_and_test_is_refused_by_name(tmp_path):
    root = split_folders(tmp_path / "data", ["kestrel", "merlin"])
    (root / "test/merlin/img0.jpg").write_bytes((root / "train/merlin/img2.jpg").read_bytes())
    rows = prepare(root, tmp_path)
    with pytest.raises(DatasetError, match=re.escape(f"{root}/train/merlin/img2.jpg (train) and "
                                                     f"{root}/test/merlin/img0.jpg (test) hold the same bytes")):
        duplicates(Path("/"), rows, allow_across_splits=False)
    assert duplicates(Path("/"), rows, allow_across_splits=True)["across_splits"] == 1


def test_prepare_reports_duplicates_and_stops_on_a_leak(tmp_path):
    data = split_folders(tmp_path / "data", ["kestrel", "merlin"])
    (data / "train/kestrel/img1.jpg").write_bytes((data / "train/kestrel/img0.jpg").read_bytes())
    params = real_params("folder", data, source="json", path="concepts/mine.json")
    root = make_project(tmp_path / "p", params)
    (root / "concepts/mine.json").write_text("{}")
    run_stage(root, "prepare")
    assert json.loads((root / "metrics/dataset.json").read_text())["duplicates"] == {
        "groups": 1, "files": 2, "across_splits": 0,
        "examples": [[str(data / "train/kestrel/img0.jpg"), str(data / "train/kestrel/img1.jpg")]]}

    (data / "test/kestrel/img0.jpg").write_bytes((data / "train/kestrel/img0.jpg").read_bytes())
    before = (root / "data/dataset/manifest.jsonl").read_text()
    proc = run_stage(root, "prepare", check=False)
    assert proc.returncode != 0 and f"{data}/train/kestrel/img0.jpg (train) and {data}/test/kestrel/img0.jpg (test)" in proc.stderr
    assert (root / "data/dataset/manifest.jsonl").read_text() == before  # nothing replaced

    params["dataset"]["allow_split_duplicates"] = True
    root = make_project(tmp_path / "p2", params)
    (root / "concepts/mine.json").write_text("{}")
    run_stage(root, "prepare")
    assert json.loads((root / "metrics/dataset.json").read_text())["duplicates"]["across_splits"] == 1
