"""Real datasets, read from small copies of their published layouts (real image files, real index
and .mat files), into labels.json + manifest.jsonl + source.json; bad input fails once, by name,
before anything is written."""
from __future__ import annotations

import csv
import json
import re
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from selfsynth.dataset.prepared import DatasetError, check_images, load_prepared
from selfsynth.dataset.sources import ADAPTERS, prepare_dataset


def image(path: Path, shade: int = 0) -> Path:
    """A 4 x 4 picture; one corner pixel from the path, so that no two files hold the same bytes
    (prepare stops on one image in both train and test)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", (4, 4), (shade, 80, 160))
    im.putpixel((0, 0), tuple(zlib.crc32(str(path).encode()).to_bytes(4, "big")[:3]))
    # JPEG can quantize two such corners alike (seen on one tmp path): the path in its comment as well
    im.save(path, **({"comment": str(path).encode()} if path.suffix.lower() in (".jpg", ".jpeg") else {}))
    return path


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def prepare(name, root, tmp_path, seed=0, out="out"):
    out = tmp_path / out
    out.mkdir()
    summary = prepare_dataset(name, root, out, seed)
    return summary, json.loads((out / "labels.json").read_text()), \
        [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()], out


def fails(name, root, tmp_path, match):
    """The adapter raises one DatasetError matching `match` and writes nothing."""
    out = tmp_path / f"failed{len(list(tmp_path.glob('failed*')))}"
    out.mkdir()
    with pytest.raises(DatasetError, match=match):
        prepare_dataset(name, root, out, 0)
    assert list(out.iterdir()) == []


def splits(manifest):
    return Counter((r["label_name"], r["split"]) for r in manifest)


# --- layouts ---------------------------------------------------------------------------------------

def cub(tmp_path) -> Path:
    root = tmp_path / "CUB_200_2011"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    rows = []  # (image id, relpath, class id, is_train)
    for c, cls in enumerate(classes, 1):
        for k in range(3):
            rows.append((len(rows) + 1, f"{cls}/{cls[4:]}_{k:04d}.jpg", c, int(k < 2)))
    for i, rel, _, _ in rows:
        image(root / "images" / rel, i)
    write(root / "classes.txt", [f"{c} {cls}" for c, cls in enumerate(classes, 1)])
    write(root / "images.txt", [f"{i} {rel}" for i, rel, _, _ in rows])
    write(root / "image_class_labels.txt", [f"{i} {c}" for i, _, c, _ in rows])
    write(root / "train_test_split.txt", [f"{i} {t}" for i, _, _, t in rows])
    return root


def aircraft(tmp_path) -> Path:
    data = tmp_path / "fgvc-aircraft-2013b" / "data"
    write(data / "variants.txt", ["Cessna 172", "707-320", "A300B4"])
    trainval, test = [], []
    for v, variant in enumerate(["Cessna 172", "707-320", "A300B4"]):
        for k in range(3):
            img_id = f"{v}0{k}1234"
            image(data / "images" / f"{img_id}.jpg", k)
            (trainval if k < 2 else test).append(f"{img_id} {variant}")
    write(data / "images_variant_trainval.txt", trainval)
    write(data / "images_variant_test.txt", test)
    return data.parent


def cell_array(paths: list[str]) -> np.ndarray:
    """What the real lists hold: an N x 1 cell array of 1-element char arrays."""
    cells = np.empty((len(paths), 1), dtype=object)
    for i, p in enumerate(paths):
        cells[i, 0] = np.array([p])
    return cells


def dogs(tmp_path, lists_dir: str = "lists", flat: bool = False) -> Path:
    root = tmp_path / "StanfordDogs"
    breeds = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel"]
    lists = {"train": ([], []), "test": ([], [])}
    for label, breed in enumerate(breeds, 1):
        for k in range(3):
            rel = f"{breed}/{breed.split('-')[0]}_{k}.jpg"
            image(root / "Images" / rel, k)
            files, labels = lists["train" if k < 2 else "test"]
            files.append(rel)
            labels.append(label)
    for split, (files, labels) in lists.items():
        path = root / lists_dir / f"{split}_list.mat"
        path.parent.mkdir(parents=True, exist_ok=True)
        if flat:
            scipy.io.savemat(path, {"file_list": np.array(files, dtype=object), "labels": np.array(labels)})
        else:
            scipy.io.savemat(path, {"file_list": cell_array(files), "annotation_list": cell_array(files),
                                    "labels": np.array(labels, dtype=np.uint8).reshape(-1, 1)})
    return root


HAM_LESIONS = {"mel": [2, 1, 1, 2], "nv": [1, 3, 1, 1, 2, 1], "bkl": [1, 1, 2, 1]}  # images per lesion


def ham(tmp_path) -> Path:
    root = tmp_path / "ham"
    rows, n = [], 0
    for dx, sizes in HAM_LESIONS.items():
        for j, size in enumerate(sizes):
            for _ in range(size):
                n += 1
                part = "HAM10000_images_part_1" if n % 2 else "HAM10000_images_part_2"
                image(root / part / f"ISIC_{n:07d}.jpg", n)
                rows.append({"lesion_id": f"HAM_{dx}{j:03d}", "image_id": f"ISIC_{n:07d}", "dx": dx,
                             "dx_type": "histo", "age": "50.0", "sex": "male", "localization": "back"})
    with open(root / "HAM10000_metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def split_folders(root: Path, classes: list[str], ext: str = ".jpg", per_split=(3, 1)) -> Path:
    for split, n in zip(("train", "test"), per_split):
        for c, cls in enumerate(classes):
            for k in range(n):
                image(root / split / cls / f"img{k}{ext}", c)
    return root


def flat_folders(root: Path, classes: dict[str, int]) -> Path:
    for c, (cls, n) in enumerate(classes.items()):
        for k in range(n):
            image(root / cls / f"{k:02d}.png", c)
    return root


# --- what each adapter produces ---------------------------------------------------------------------

def test_cub_uses_the_official_split_and_readable_names(tmp_path):
    root = cub(tmp_path)
    summary, labels, manifest, out = prepare("cub200", root, tmp_path)
    assert summary == {"classes": 2, "train": 4, "test": 2}
    assert labels == [{"id": 0, "name": "Black footed Albatross"}, {"id": 1, "name": "Laysan Albatross"}]
    assert splits(manifest) == {("Black footed Albatross", "train"): 2, ("Black footed Albatross", "test"): 1,
                                ("Laysan Albatross", "train"): 2, ("Laysan Albatross", "test"): 1}
    row = manifest[0]
    assert row == {"id": "1", "image": str(root / "images/001.Black_footed_Albatross/Black_footed_Albatross_0000.jpg"),
                   "split": "train", "label": 0, "label_name": "Black footed Albatross"}
    assert json.loads((out / "source.json").read_text()) == {"dataset": "cub200", "root": str(root), "images": 6}


def test_cub_root_may_be_the_folder_the_archive_unpacked_in(tmp_path):
    cub(tmp_path)
    summary, *_ = prepare("cub200", tmp_path, tmp_path)
    assert summary["classes"] == 2


def test_a_prepared_real_dataset_loads_with_absolute_image_paths(tmp_path):
    _, _, _, out = prepare("cub200", cub(tmp_path), tmp_path)
    ds = load_prepared(out)
    assert ds.generic == [] and ds.class_names == ["Black footed Albatross", "Laysan Albatross"]
    assert all(ds.image(r).is_absolute() and ds.image(r).is_file() for r in ds.manifest)
    assert len(ds.split("train")) == 4
    check_images(out, ds.manifest, "manifest")  # the pipeline's own check finds every file


def test_aircraft_keeps_the_variant_order_of_variants_txt(tmp_path):
    root = aircraft(tmp_path)
    summary, labels, manifest, _ = prepare("aircraft", root, tmp_path)
    assert summary == {"classes": 3, "train": 6, "test": 3}
    assert [lab["name"] for lab in labels] == ["Cessna 172", "707-320", "A300B4"]
    row = next(r for r in manifest if r["id"] == "1011234")
    assert row["label_name"] == "707-320" and row["split"] == "train"
    assert row["image"] == str(root / "data/images/1011234.jpg")


def test_dogs_reads_the_official_mat_lists(tmp_path):
    root = dogs(tmp_path)
    summary, labels, manifest, _ = prepare("dogs", root, tmp_path)
    assert summary == {"classes": 2, "train": 4, "test": 2}
    assert labels == [{"id": 0, "name": "Chihuahua"}, {"id": 1, "name": "Japanese spaniel"}]
    row = next(r for r in manifest if r["id"] == "n02085782-Japanese_spaniel/n02085782_2")
    assert row["split"] == "test" and row["label"] == 1
    assert row["image"] == str(root / "Images/n02085782-Japanese_spaniel/n02085782_2.jpg")


@pytest.mark.parametrize("lists_dir,flat", [("", False), ("lists", True)])
def test_dogs_accepts_lists_unpacked_in_the_root_and_flat_arrays(tmp_path, lists_dir, flat):
    summary, *_ = prepare("dogs", dogs(tmp_path, lists_dir, flat), tmp_path)
    assert summary == {"classes": 2, "train": 4, "test": 2}


def test_ham_names_diagnoses_and_splits_lesions_half_and_half_per_class(tmp_path):
    summary, labels, manifest, _ = prepare("ham10000", ham(tmp_path), tmp_path, seed=3)
    assert [lab["name"] for lab in labels] == ["benign keratosis", "melanoma", "melanocytic nevus"]  # code order
    assert summary["classes"] == 3 and summary["train"] + summary["test"] == sum(map(sum, HAM_LESIONS.values())) == len(manifest)
    lesion_splits, lesions_by_class = defaultdict(set), defaultdict(set)
    meta = {r["image_id"]: r["lesion_id"] for r in csv.DictReader(open(tmp_path / "ham/HAM10000_metadata.csv"))}
    for r in manifest:
        lesion_splits[meta[r["id"]]].add(r["split"])
        lesions_by_class[r["label_name"], r["split"]].add(meta[r["id"]])
    assert all(len(s) == 1 for s in lesion_splits.values())  # no lesion straddles the split
    for name, code in [("melanoma", "mel"), ("melanocytic nevus", "nv"), ("benign keratosis", "bkl")]:
        half = len(HAM_LESIONS[code]) // 2
        assert len(lesions_by_class[name, "test"]) == len(lesions_by_class[name, "train"]) == half


def test_ham_split_is_fixed_by_the_seed(tmp_path):
    root = ham(tmp_path)
    runs = {seed: prepare("ham10000", root, tmp_path, seed, out=f"s{seed}{k}")[2] for k, seed in ((0, 0), (1, 7))}
    again = prepare("ham10000", root, tmp_path, 0, out="again")[2]
    assert again == runs[0]
    assert [r["split"] for r in runs[7]] != [r["split"] for r in runs[0]]


def test_pld_names_read_plant_then_condition(tmp_path):
    classes = ["Tomato___Late_blight", "Pepper,_bell___Bacterial_spot", "Tomato___healthy"]
    root = split_folders(tmp_path / "pld", classes, ext=".JPG")
    summary, labels, manifest, _ = prepare("pld", root, tmp_path)
    assert summary == {"classes": 3, "train": 9, "test": 3}
    assert [lab["name"] for lab in labels] == ["Pepper, bell bacterial spot", "Tomato late blight", "Tomato healthy"]
    assert {r["id"] for r in manifest if r["label_name"] == "Tomato healthy"} == \
        {"train/Tomato___healthy/img0.JPG", "train/Tomato___healthy/img1.JPG",
         "train/Tomato___healthy/img2.JPG", "test/Tomato___healthy/img0.JPG"}


@pytest.mark.parametrize("inner", [True, False], ids=["download-folder", "chest_xray-itself"])
def test_chest_xray_reads_either_root(tmp_path, inner):
    root = split_folders(tmp_path / "dl" / "chest_xray", ["NORMAL", "PNEUMONIA"], ext=".jpeg", per_split=(2, 1))
    image(root / "val/NORMAL/v.jpeg")  # the official val/ is left out
    summary, labels, manifest, _ = prepare("chest_xray", root.parent if inner else root, tmp_path)
    assert labels == [{"id": 0, "name": "normal"}, {"id": 1, "name": "pneumonia"}]
    assert summary == {"classes": 2, "train": 4, "test": 2}
    assert all(r["image"].endswith(".jpeg") and "/val/" not in r["image"] for r in manifest)


def test_folder_without_a_split_gets_a_seeded_stratified_quarter_in_test(tmp_path):
    root = flat_folders(tmp_path / "mine", {"sparrow_hawk": 8, "kestrel": 4, "merlin": 4})
    (root / "kestrel" / ".DS_Store").write_text("")
    (root / "kestrel" / "notes.txt").write_text("not an image")
    summary, labels, manifest, _ = prepare("folder", root, tmp_path, seed=1)
    assert [lab["name"] for lab in labels] == ["kestrel", "merlin", "sparrow hawk"]  # folder-name order
    assert splits(manifest) == {("kestrel", "train"): 3, ("kestrel", "test"): 1, ("merlin", "train"): 3,
                                ("merlin", "test"): 1, ("sparrow hawk", "train"): 6, ("sparrow hawk", "test"): 2}
    assert prepare("folder", root, tmp_path, seed=1, out="again")[2] == manifest
    others = [prepare("folder", root, tmp_path, seed=s, out=f"s{s}")[2] for s in (2, 3)]
    assert any([r["split"] for r in m] != [r["split"] for r in manifest] for m in others)


def test_folder_with_train_and_test_uses_them(tmp_path):
    root = split_folders(tmp_path / "mine", ["a", "b"], ext=".png", per_split=(2, 2))
    summary, *_ = prepare("folder", root, tmp_path)
    assert summary == {"classes": 2, "train": 4, "test": 4}


def test_every_adapter_is_registered():
    assert set(ADAPTERS) == {"cub200", "aircraft", "dogs", "ham10000", "pld", "chest_xray", "folder"}


# --- bad input: one error naming the file, nothing written ---------------------------------------

def test_unknown_dataset_lists_the_known_ones(tmp_path):
    fails("imagenet", tmp_path, tmp_path, r"unknown dataset 'imagenet'; known: cub200, aircraft, dogs")


def test_missing_root_is_named(tmp_path):
    fails("cub200", tmp_path / "nowhere", tmp_path, r"nowhere: dataset root not found")


def test_cub_missing_index_file_is_named(tmp_path):
    root = cub(tmp_path)
    (root / "train_test_split.txt").unlink()
    fails("cub200", root, tmp_path, r"train_test_split.txt: missing \(expected an index file")


def test_cub_malformed_line_names_file_and_line(tmp_path):
    root = cub(tmp_path)
    lines = (root / "image_class_labels.txt").read_text().splitlines()
    lines[2] = "3"
    write(root / "image_class_labels.txt", lines)
    fails("cub200", root, tmp_path, r"image_class_labels.txt:3: expected '<image_id> <class_id>', got '3'")


def test_cub_bad_split_flag_names_the_line(tmp_path):
    root = cub(tmp_path)
    write(root / "train_test_split.txt", ["1 1", "2 yes"])
    fails("cub200", root, tmp_path, r"train_test_split.txt:2: split flag should be one of \[0, 1\], got 'yes'")


def test_cub_unknown_class_names_the_line(tmp_path):
    root = cub(tmp_path)
    write(root / "image_class_labels.txt", ["1 1", "2 1", "3 1", "4 2", "5 2", "6 7"])
    fails("cub200", root, tmp_path, r"image_class_labels.txt:6: unknown class 7")


def test_cub_listed_but_missing_image_is_named(tmp_path):
    root = cub(tmp_path)
    gone = root / "images/002.Laysan_Albatross/Laysan_Albatross_0001.jpg"
    gone.unlink()
    fails("cub200", root, tmp_path, rf"{re.escape(str(gone))}: image missing \(listed in .*images.txt:5\)")


def test_cub_class_without_images_is_named(tmp_path):
    root = cub(tmp_path)
    write(root / "classes.txt", ["1 001.Black_footed_Albatross", "2 002.Laysan_Albatross", "3 003.Sooty_Albatross"])
    fails("cub200", root, tmp_path, r"classes.txt:3: class 'Sooty Albatross' has no images")


def test_aircraft_unknown_variant_names_the_line(tmp_path):
    root = aircraft(tmp_path)
    with open(root / "data/images_variant_test.txt", "a") as f:
        f.write("9991234 Spitfire\n")
    fails("aircraft", root, tmp_path, r"images_variant_test.txt:4: unknown variant 'Spitfire'")


def test_dogs_label_that_disagrees_with_its_folder_is_named(tmp_path):
    root = dogs(tmp_path)
    scipy.io.savemat(root / "lists/test_list.mat", {"file_list": cell_array(["n02085620-Chihuahua/n02085620_2.jpg"]),
                                                     "labels": np.array([[2]], dtype=np.uint8)})
    fails("dogs", root, tmp_path, r"test_list.mat entry 1: label 2 disagrees with folder 'n02085620-Chihuahua'")


def test_dogs_unreadable_or_missing_mat_is_named(tmp_path):
    root = dogs(tmp_path)
    (root / "lists/train_list.mat").write_bytes(b"not matlab")
    fails("dogs", root, tmp_path, r"train_list.mat: not a readable .mat file")
    (root / "lists/train_list.mat").unlink()
    fails("dogs", root, tmp_path, r"lists/train_list.mat: missing")


def test_ham_unknown_diagnosis_names_the_line(tmp_path):
    root = ham(tmp_path)
    text = (root / "HAM10000_metadata.csv").read_text().splitlines()
    text[4] = text[4].replace(",mel,", ",melanoma,")
    write(root / "HAM10000_metadata.csv", text)
    fails("ham10000", root, tmp_path, r"HAM10000_metadata.csv:5: expected lesion_id, image_id and dx in")


def test_ham_listed_but_missing_image_is_named(tmp_path):
    root = ham(tmp_path)
    (root / "HAM10000_images_part_2/ISIC_0000002.jpg").unlink()
    fails("ham10000", root, tmp_path, r"HAM10000_metadata.csv:3: image ISIC_0000002.jpg not found in any of")


def test_ham_class_with_one_lesion_cannot_be_stratified(tmp_path):
    root = ham(tmp_path)
    image(root / "images/ISIC_0099999.jpg")
    with open(root / "HAM10000_metadata.csv", "a") as f:
        f.write("HAM_df000,ISIC_0099999,df,histo,50.0,male,back\n")
    fails("ham10000", root, tmp_path, r"class 'dermatofibroma' has 1 lesion; a stratified split needs at least 2")


def test_pld_unknown_class_in_test_names_the_folder(tmp_path):
    root = split_folders(tmp_path / "pld", ["Tomato___healthy", "Tomato___Late_blight"])
    image(root / "test/Tomato___Leaf_Mold/x.jpg")
    fails("pld", root, tmp_path, r"test/Tomato___Leaf_Mold: class folder not in .*train \(unknown class")


def test_empty_class_folder_is_named(tmp_path):
    root = split_folders(tmp_path / "pld", ["Tomato___healthy", "Tomato___Late_blight"])
    (root / "train/Corn___healthy").mkdir()
    fails("pld", root, tmp_path, r"train/Corn___healthy: class folder has no images")


def test_pld_kaggle_layout_takes_valid_as_the_test_split(tmp_path):
    root = split_folders(tmp_path / "pld", ["Tomato___healthy", "Tomato___Late_blight"])
    (root / "test").rename(root / "valid")
    summary, labels, manifest, _ = prepare("pld", root, tmp_path)
    assert [x["name"] for x in labels] == ["Tomato late blight", "Tomato healthy"]
    assert sum(m["split"] == "test" for m in manifest) == 2
    assert all("/valid/" in m["image"] for m in manifest if m["split"] == "test")


def test_pld_without_test_folder_is_named(tmp_path):
    root = split_folders(tmp_path / "pld", ["Tomato___healthy"], per_split=(2, 0))
    fails("pld", root, tmp_path, r"pld/test: folder missing")


def test_folder_with_only_train_is_an_error(tmp_path):
    root = flat_folders(tmp_path / "mine" / "train", {"a": 2, "b": 2}).parent
    fails("folder", root, tmp_path, r"mine: has train/ but no test/")


def test_folder_names_that_read_the_same_are_an_error(tmp_path):
    root = flat_folders(tmp_path / "mine", {"snow_owl": 4, "snow owl": 4})
    fails("folder", root, tmp_path, r"readable class name 'snow owl' given to more than one class")
