"""The study page reports/index.html: intervals a reader can trust, a page that needs no network,
and one a real browser draws — images included."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from selfsynth.core.params import ReportParams
from selfsynth.report.html import write_index
from selfsynth.report.intervals import bootstrap_interval
from selfsynth.report.model import build
from selfsynth.report.study import ROW_METHODS, Study, study_from_files
from tests.conftest import make_project, run_stage

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


U = (ReportParams().bootstrap, ReportParams().confidence, 0)  # params.report's defaults, seed 0


def test_bootstrap_interval_brackets_the_accuracy_and_narrows_with_more_images():
    small, large = bootstrap_interval([True, False] * 10, *U), bootstrap_interval([True, False] * 1000, *U)
    for iv in (small, large):
        assert iv.low < 0.5 < iv.high and iv.estimate == 0.5
    assert (large.high - large.low) < (small.high - small.low) / 5
    assert bootstrap_interval([True, False] * 10, *U) == small  # seeded: the page is reproducible byte for byte
    certain = bootstrap_interval([True] * 8, *U)
    assert certain.low == certain.high == 1.0  # every image right: nothing to resample
    with pytest.raises(ValueError):
        bootstrap_interval([], *U)


def test_page_without_the_data_folders_says_what_is_missing(tmp_path):
    """A study whose data was not pulled (metrics only) still gets its page: point estimates, and
    each data-backed section naming what it lacks instead of failing."""
    study = Study(2)
    study.add("base", 0, {"accuracy": 0.25, "CS": 0.1})
    for m in ROW_METHODS[1:]:
        for r in (1, 2):
            study.add(m, r, {"accuracy": 0.3 + 0.1 * r, "CS": 0.2})
    page = write_index(build(study, "synthetic", ReportParams(), 0, tmp_path), tmp_path / "reports").read_text()
    assert "no per-image predictions on disk" in page
    assert "data/dataset not pulled" in page and "data/select, data/describe not pulled" in page
    assert "50.0" in page  # round 2 accuracy, as a percentage
    assert (tmp_path / "reports/curves.png").stat().st_size > 5_000


def test_intervals_bracket_the_accuracy_of_the_metrics_files(micro_project):
    """The bootstrap runs on the same per-image predictions the evaluation scored: its centre is
    Table 1's accuracy, cell by cell."""
    root, _ = micro_project
    study = study_from_files(2, root)
    intervals = build(study, "micro", ReportParams(), 0, root).intervals
    assert set(intervals) == {(m, r) for m in ROW_METHODS for r in study.rounds_of(m)}
    for (m, r), iv in intervals.items():
        assert iv.estimate == pytest.approx(study.mean(m, r, "accuracy"))
        assert iv.low <= iv.estimate <= iv.high
        assert iv.n == json.loads((root / f"metrics/eval/round-{r}/{m}.json").read_text())["n"]


def test_the_report_stage_writes_a_self_contained_page(micro_project):
    root, _ = micro_project
    page = (root / "reports/index.html").read_text()
    for section in ("Table 1", "Accuracy and CS over the rounds", "claims", "What each method answers",
                    "Z* against what the image shows"):
        assert section in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must load nothing from the network"
    images = re.findall(r"<img [^>]*src=['\"]([^'\"]+)", page)
    assert len(images) >= 1 + 6 + 3  # the curves, the gallery, the concept-selection cards
    assert all(src.startswith("data:image/png;base64,") for src in images)
    outs = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["report"]["outs"]
    assert {"reports/index.html": {"cache": False}} in outs  # DVC tracks the page; git keeps it


def _screenshot(page: Path, out: Path) -> np.ndarray:
    # the whole page: the gallery's photos sit below the checks and claims
    subprocess.run([str(REPO / "scripts/screenshot_report.sh"), str(page), str(out), "1280,6000"], check=True,
                   capture_output=True, timeout=120)
    return np.asarray(Image.open(out).convert("RGB"))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install -y chromium)")
def test_a_headless_browser_draws_the_page_with_its_images(micro_project, tmp_path):
    """Rendered offline in Debian's chromium, the page is not blank, and its embedded figures and
    photos draw: the same page with the <img> tags cut out draws far fewer colours."""
    root, _ = micro_project
    shot = _screenshot(root / "reports/index.html", tmp_path / "page.png")
    background = np.array([0xF6, 0xF7, 0xF9])
    ink = (np.abs(shot.astype(int) - background).sum(axis=-1) > 30).mean()
    assert ink > 0.03, f"the screenshot is nearly blank ({ink:.1%} of pixels differ from the background)"
    stripped = tmp_path / "no-images.html"
    stripped.write_text(re.sub(r"<img [^>]*>", "", (root / "reports/index.html").read_text()))
    text_only = _screenshot(stripped, tmp_path / "no-images.png")
    colours = len(np.unique(shot.reshape(-1, 3), axis=0))
    assert colours > 5 * len(np.unique(text_only.reshape(-1, 3), axis=0)), "the embedded images did not render"


def test_the_report_stage_ends_on_one_line_with_its_figures(micro_project, tmp_path):
    """The stage's last log line says how long it took and what it found, in a few hundred characters."""
    root, _ = micro_project
    project = make_project(tmp_path / "copy", yaml.safe_load((root / "params.yaml").read_text()))
    (project / "selfsynth").symlink_to(root / "selfsynth")  # this checkout's library, not whichever is installed
    for folder in ("metrics", "data/dataset", "data/eval", "data/select", "data/describe"):
        shutil.copytree(root / folder, project / folder)
    shutil.copytree(root / "reports", project / "reports", dirs_exist_ok=True)
    last = run_stage(project, "report").stderr.strip().splitlines()[-1]
    assert re.search(r"report finished in [\d.]+ s: reports/index.html .*round 2 accuracy nl [\d.]+%", last), last
    assert len(last) < 400
