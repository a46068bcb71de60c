"""benchmarks/scale.py runs (its figures are measured at full size, not here)."""
import importlib.util
import json
import subprocess
import sys

from tests.conftest import REPO, stage_env

spec = importlib.util.spec_from_file_location("scale", REPO / "benchmarks/scale.py")
scale = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scale)


def test_the_growth_exponent_reads_linear_as_one_and_quadratic_as_two():
    assert abs(scale.exponent([100, 300, 1200], [2, 6, 24]) - 1) < 1e-9
    assert abs(scale.exponent([100, 300, 1200], [1, 9, 144]) - 2) < 1e-9
    assert scale.exponent([100], [1]) is None


def test_each_cub_size_has_cubs_shape():
    for size, classes in (("cub_quarter", 48), ("cub", 200)):
        c = scale.WORLD_SIZES[size]
        assert c.n_genera * c.species_per_genus == classes and (c.train_per_class, c.test_per_class) == (30, 29)


def test_the_benchmark_measures_each_stage_as_it_finishes_and_a_rerun_skips_them(micro_project, tmp_path):
    root, _ = micro_project
    out = tmp_path / "scale"
    cmd = [sys.executable, str(REPO / "benchmarks/scale.py"), "--out", str(out), "--sizes", "micro",
           "--stages", "check", "prepare", "concepts", "base", "--base", str(root / "models/round-0")]
    subprocess.run(cmd, check=True, env=stage_env(root), capture_output=True)
    micro = json.loads((out / "scale.json").read_text())["micro"]
    assert micro["prepare"]["seconds"] > 0 and micro["prepare"]["peak_rss_gib"] > 0
    assert micro["prepare"]["output_bytes"] > 100_000  # the images
    assert micro["base"] == {"copied": True}
    assert micro["dvc_status_s"] > 0 and micro["dvc_repro_noop_s"] > 0
    again = subprocess.run(cmd, check=True, env=stage_env(root), capture_output=True, text=True)
    assert "prepare ..." not in again.stdout and "| prepare |" in again.stdout


def test_the_readme_names_the_cpu_of_each_size_and_one_cpu_once():
    old = {"cpu": "Intel Xeon", "default": {}, "cub": {"cpu": "AMD EPYC"}}
    assert scale.cpus(old) == "default on Intel Xeon; cub on AMD EPYC"
    assert scale.cpus({"default": {"cpu": "AMD EPYC"}, "cub": {"cpu": "AMD EPYC"}}) == "AMD EPYC"


def test_a_size_measured_again_on_another_machine_is_a_column_of_its_own_outside_the_fit():
    def at(seconds):
        return {"seconds": seconds, "peak_rss_gib": 1.0, "output_bytes": 1e6}
    record = {"cpu": "Intel Xeon", "default": {"train_images": 100, "describe": at(2)},
              "cub_quarter": {"train_images": 300, "describe": at(6)},
              "cub@2": {"cpu": "AMD EPYC (2 cores)", "train_images": 1200, "describe": at(100)}}
    text = scale.table(record)
    assert "cub (1200 img, AMD EPYC)" in text and "growth exponent (time, Intel Xeon)" in text
    assert "| describe | 2 / 1.00 / 1.0 | 6 / 1.00 / 1.0 | 100 / 1.00 / 1.0 | 1.00 |" in text  # fitted on Intel alone
    record["default@2"] = {"cpu": "AMD EPYC (2 cores)", "train_images": 100, "describe": at(10)}
    text = scale.table(record)  # a second size on the AMD: its own fit beside the Intel's
    assert "growth exponent (time, Intel Xeon) | growth exponent (time, AMD EPYC) |" in text
    assert "| describe | 2 / 1.00 / 1.0 | 10 / 1.00 / 1.0 | 6 / 1.00 / 1.0 | 100 / 1.00 / 1.0 | 1.00 | 0.93 |" in text
