"""Step 1.2 as the authors wrote it, beside ours, on one finished project (a study, or a size of
benchmarks/scale.py): their script (sycny/SelfSynthX src/step1.2_concepts_gen.py, fetched into a
scratch folder by whoever runs this, never committed) is fed this project's descriptions, concept
lists and encoder through a folder in its own file format. Both select with tau 0.1, mean + 0.4 sd
and at least 3 concepts (params.yaml's select). Reported: each one's time (embedding included) and
whether the two Z* agree, image by image.

    python benchmarks/authors_select.py --project /tmp/scale/default --script /scratch/step1.2_concepts_gen.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from selfsynth.core.io import read_jsonl  # noqa: E402
from selfsynth.core.layout import DATASET, DESCRIPTIONS  # noqa: E402
from selfsynth.core.offline import OFFLINE_ENV  # noqa: E402
from selfsynth.core.params import load_params  # noqa: E402
from selfsynth.dataset.prepared import load_prepared  # noqa: E402
from selfsynth.method.select import embed_for_selection, select_from  # noqa: E402
from selfsynth.metrics.encoders import minilm_model_dir  # noqa: E402
from selfsynth.tracking import _cpu_model as cpu_model  # noqa: E402

NAME = "selfsynth"  # the script's --dataset: it names the files it reads and writes


def their_inputs(project: Path, scratch: Path) -> list[dict]:
    """The script's three input files from the project's own; returns the train rows in its order."""
    dataset = load_prepared(project / DATASET)
    train, names = dataset.split("train"), dataset.class_names
    texts = defaultdict(list)
    for d in sorted(read_jsonl(project / DESCRIPTIONS), key=lambda d: (d["id"], d["prompt"], d["sample"])):
        texts[d["id"]].append(d["text"])
    concepts = json.loads((project / "data/concepts.json").read_text())
    if sorted(c["name"] for c in concepts.values()) != sorted(names):
        raise SystemExit(f"{project}/data/concepts.json: its class names are not the dataset's")
    folder = scratch / NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"step1.1_desc_gen_{NAME}.json").write_text(
        json.dumps({str(i): texts[r["id"]] for i, r in enumerate(train) if texts[r["id"]]}))
    (folder / f"{NAME}-train.json").write_text(json.dumps([{"id": r["id"], "label": names[r["label"]]} for r in train]))
    (folder / f"{NAME}_visual_features.json").write_text(json.dumps(concepts))
    return train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--script", type=Path, required=True, help="the authors' step1.2_concepts_gen.py")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/authors-select"))
    ap.add_argument("--out", type=Path, help="a JSON file for the figures")
    a = ap.parse_args(argv)
    params = load_params(a.project / "params.yaml")
    p = params.select
    if p.encoder != "minilm" or (p.beta, p.tau, p.min_concepts) != (0.4, 0.1, 3):
        raise SystemExit(f"{a.project}/params.yaml: select must be minilm, beta 0.4, tau 0.1, min_concepts 3 "
                         "(the script's own settings) for the two to be compared")
    train = their_inputs(a.project, a.scratch)

    start = time.perf_counter()
    dataset = load_prepared(a.project / DATASET)
    concepts = json.loads((a.project / "data/concepts.json").read_text())
    inputs = embed_for_selection(train, read_jsonl(a.project / DESCRIPTIONS), concepts, p.encoder, params.workers)
    ours = {r["id"]: r["zstar"] for r in select_from(inputs, beta=p.beta, tau=p.tau, min_concepts=p.min_concepts)}
    ours_s = time.perf_counter() - start

    start = time.perf_counter()
    subprocess.run([sys.executable, str(a.script.resolve()), "--dataset", NAME, "--data_path", str(a.scratch),
                    "--retriever_path", str(minilm_model_dir()), "--device", "cpu"],
                   cwd=a.scratch, env={**os.environ, **OFFLINE_ENV}, check=True)
    theirs_s = time.perf_counter() - start
    theirs = {r["id"]: r["concepts"]
              for r in json.loads((a.scratch / NAME / f"step1.2_concepts_{NAME}.json").read_text())}

    both = sorted(set(ours) & set(theirs))
    same = sum(set(ours[i]) == set(theirs[i]) for i in both)
    jaccard = sum(len(set(ours[i]) & set(theirs[i])) / len(set(ours[i]) | set(theirs[i])) for i in both) / len(both)
    figures = {"cpu": cpu_model(), "images": len(both), "classes": len(dataset.class_names), "ours_s": round(ours_s, 1),
               "theirs_s": round(theirs_s, 1), "time_ratio": round(theirs_s / ours_s, 2),
               "same_zstar_share": round(same / len(both), 4), "mean_jaccard": round(jaccard, 4)}
    print(json.dumps(figures))
    if a.out:
        a.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
