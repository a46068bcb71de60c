"""The pipeline at three sizes: the default aviary, about a quarter of CUB, and CUB's shape
(world.size default / cub_quarter / cub: 16, 48 and 200 species). For each stage and size: wall
time, peak resident memory of the stage's process tree, output size; then the growth exponent of
each stage in training images, `dvc status` and no-op `dvc repro` times, and MLflow's logging of
one evaluation's answers.

Each size is a project of its own under --out, run stage by stage as `python -m stages.<name>`
(the commands of dvc.yaml) at the paper's counts: 3 prompts x 10 descriptions, 8 pairs, 8 questions
x 3 candidates; one training epoch per method in rounds 1 and 2, one rejection round, then the
instrument, the report and the study page's size. The base model does not grow with the size (it
is pretrained on the generic corpus, 4,000 images at every size): it is trained at the first size
and copied into the others, whose species names it tokenizes in more pieces. Each stage's figures
are written to --out/scale.json as it finishes, and a rerun skips what is there, so the CUB size can
run over several sessions.

    python benchmarks/scale.py --out /scratch/scale                     # default, cub_quarter, cub
    python benchmarks/scale.py --out /scratch/scale --sizes default cub_quarter
    python benchmarks/scale.py --out /scratch/scale --table             # the table, plot and README section
    python benchmarks/scale.py --out /tmp/s --sizes micro --stages check prepare concepts base --base models/round-0
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from selfsynth.core.offline import OFFLINE_ENV  # noqa: E402
from selfsynth.core.params import WORLD_SIZES  # noqa: E402

SIZES = ("default", "cub_quarter", "cub")
# dvc.yaml's stages in order, up to round 2 (its generate, rejection, train and evaluate), then the
# instrument and the report. The labels are the record's keys (benchmarks/results/scale.json, the README's table): kept across the
# rename of dvc.yaml's round-1 stages, so saved sizes are neither lost nor measured again.
STAGES = ("check", "prepare", "concepts", "base", "evaluate_base", "describe", "select", "synthesize",
          "train_round1", "evaluate_round1", "generate", "rejection", "train_round2", "evaluate_round2",
          "instrument", "report")
ROUND_OF = {"train_round1": ("train", 1), "evaluate_round1": ("evaluate", 1), "generate": ("generate", 2),
            "rejection": ("rejection", 2), "train_round2": ("train", 2), "evaluate_round2": ("evaluate", 2)}
PAGE = "reports/index.html"  # the study page: its size is measured after the report stage
SHARED = ("stages", "prompts", "concepts", "dvc.yaml", ".dvcignore", "reports/seeds.json")  # the report stage's deps
DVC = str(Path(sys.executable).parent / "dvc")
README_MARKS = ("<!-- scale:begin -->", "<!-- scale:end -->")


def scale_params(size: str) -> dict:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["world"].update(size=size, test_per_class=None)  # the size's own test images (CUB: 29 a class)
    p["rejection"].update(questions=8, samples=3)  # the paper's counts
    p["train"]["convergence"]["enabled"] = False  # one epoch per method: a cost, not a result
    p["train"]["epochs"] = 1
    counts = WORLD_SIZES[size]
    p["evaluate"]["max_images"] = counts.n_genera * counts.species_per_genus * counts.test_per_class
    p["rounds"] = {f"round-{r}": {"round": r, "after": r - 1} for r in (1, 2)}
    p["resample"] = {"round-2": {"round": 2, "after": 1}}
    return p


def project(out: Path, size: str) -> Path:
    root = out / size
    if not (root / "params.yaml").is_file():
        root.mkdir(parents=True, exist_ok=True)
        for name in SHARED:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, root / name)
        os.symlink(REPO / "selfsynth", root / "selfsynth")
        (root / "params.yaml").write_text(yaml.safe_dump(scale_params(size), sort_keys=False))
        for cmd in (["git", "init", "-q"], [DVC, "init", "-q"], [DVC, "config", "core.analytics", "false"]):
            subprocess.run(cmd, cwd=root, check=True, env=env(root))
    return root


def env(root: Path) -> dict:
    return {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(root), "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def stage_spec(root: Path, name: str) -> tuple[list[list[str]], list[str]]:
    """The stage's commands and outputs as dvc.yaml writes them, for a foreach stage its round's."""
    stage, rnd = ROUND_OF.get(name, (name, None))
    spec = yaml.safe_load((root / "dvc.yaml").read_text())["stages"][stage]
    body = spec.get("do", spec)
    fill = lambda s: s.replace("${item.round}", str(rnd)).replace("${item.after}", str(rnd and rnd - 1))  # noqa: E731
    outs = [fill(next(iter(o)) if isinstance(o, dict) else o) for o in body.get("outs", []) + body.get("plots", [])]
    cmds = body["cmd"] if isinstance(body["cmd"], list) else [body["cmd"]]
    return [fill(c.split("#")[0]).split() for c in cmds], outs


def measured(cmd: list[str], root: Path) -> dict:
    """Run cmd in root; its wall time and the peak of its process tree's summed resident memory."""
    start, peak = time.perf_counter(), 0
    log = root / f"{cmd[-1] if cmd[1] != '-m' else cmd[2]}.log"  # a file: a pipe nobody reads would fill and stall
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=root, env=env(root), stdout=subprocess.DEVNULL, stderr=err)
        top = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak = max(peak, sum(p.memory_info().rss for p in [top, *top.children(recursive=True)]))
            except psutil.Error:
                pass
            time.sleep(0.2)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed in {root}:\n{log.read_text()[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_gib": round(peak / 2**30, 3)}


def size_of(root: Path, outs: list[str]) -> int:
    paths = [root / o for o in outs]
    return sum(f.stat().st_size for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())


def run_size(out: Path, size: str, record: dict, stages=STAGES, base: Path | None = None) -> None:
    root, done = project(out, size), record.setdefault(size, {})
    done.setdefault("cpu", cpu_model())  # a size may be measured in another session, on another CPU
    counts = WORLD_SIZES[size]
    done["train_images"] = counts.n_genera * counts.species_per_genus * counts.train_per_class
    for name in stages:
        if name in done:
            continue
        cmds, outs = stage_spec(root, name)
        donor = base or next((out / s / "models/round-0" for s in SIZES
                              if s != size and (out / s / "models/round-0").is_dir()), None)
        if name == "base" and donor is not None:  # the base does not grow with the size: copied, not timed
            for o in outs:  # the model and its loss plot, from the donor's project
                source = donor.parent.parent / o
                (shutil.copytree if source.is_dir() else shutil.copy)(source, root / o)
            done[name] = {"copied": True}
        else:
            print(f"scale: {size}: {name} ...", flush=True)
            parts = [measured([sys.executable, "-m", *cmd[2:]], root) for cmd in cmds]
            done[name] = {"seconds": round(sum(m["seconds"] for m in parts), 2),
                          "peak_rss_gib": max(m["peak_rss_gib"] for m in parts), "output_bytes": size_of(root, outs)}
            if name == "report":
                done["page_bytes"] = (root / PAGE).stat().st_size
            print(f"scale: {size}: {name}: {done[name]}", flush=True)
        save(out, record)
    if done.get("dvc_stages") != list(stages):  # DVC's figures are for the stages run so far
        # the lock of what ran, then DVC's own cost of looking at it
        last = stage_name(stages[-1])
        subprocess.run([DVC, "commit", "-f", "-q", *map(stage_name, stages)], cwd=root, env=env(root), check=True)
        for key, args in (("dvc_status_s", ["status", last]), ("dvc_repro_noop_s", ["repro", last])):
            done[key] = measured([DVC, *args], root)["seconds"]
        done["dvc_stages"] = list(stages)
        if "evaluate_round1" in stages:
            done["mlflow_answers_s"] = mlflow_answers_time(root)
        save(out, record)


def stage_name(name: str) -> str:
    stage, rnd = ROUND_OF.get(name, (name, None))
    return f"{stage}@round-{rnd}" if rnd else stage


def mlflow_answers_time(root: Path) -> float:
    """MLflow's logging that grows with the test set: one method's answers table (tracking.log_answers)."""
    code = ("import json,time,mlflow; from selfsynth.tracking import log_answers; "
            "from selfsynth.metrics.rows import explain_rows; "
            "from selfsynth.dataset.prepared import load_prepared; "
            "from selfsynth.core.layout import DATASET, predictions_path; "
            "rows=[json.loads(x) for x in open(predictions_path('ours', 1))]; d=load_prepared(DATASET); "
            "mlflow.set_experiment('scale'); r=mlflow.start_run(); t=time.perf_counter(); "
            "log_answers(mlflow, explain_rows(rows), d.class_names, 1); print(time.perf_counter()-t); mlflow.end_run()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env(root), capture_output=True, text=True,
                          check=True)
    return round(float(proc.stdout.split()[-1]), 2)


def save(out: Path, record: dict) -> None:
    tmp = out / "scale.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out / "scale.json")


def exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y on log x: 1 grows linearly with the images, 2 quadratically."""
    if len(xs) < 2:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def cpu_of(record: dict, column: str) -> str:
    """The CPU that measured a column (a record from before sizes named theirs has one for all)."""
    return record[column].get("cpu", record.get("cpu", "an unknown CPU"))


def columns(record: dict) -> list[str]:
    """The record's sizes in size order, each followed by its re-measurements on other machines
    ("cub@2", from --also)."""
    return [k for s in WORLD_SIZES for k in record if k.split("@")[0] == s]


def table(record: dict) -> str:
    """One column per size (and re-measurement); a growth exponent per machine that measured two sizes
    or more, each fitted over that machine's columns alone: machines differ by more than the sizes' noise."""
    cols = columns(record)
    cpu = {c: cpu_of(record, c) for c in cols}
    machine = {c: "" if cpu[c] == cpu[cols[0]] else f", {short(cpu[c])}" for c in cols}
    fits = [who for who in dict.fromkeys(cpu.values()) if list(cpu.values()).count(who) >= 2]
    head = " | ".join(f"{c.split('@')[0]} ({record[c]['train_images']} img{machine[c]}): s / GiB / MB" for c in cols)
    fit_head = "".join(f" growth exponent (time, {short(who)}) |" for who in fits)
    lines = [f"| stage | {head} |{fit_head}", "|---" * (len(cols) + len(fits) + 1) + "|"]
    for name in STAGES:
        cells, points = [], {who: ([], []) for who in fits}
        for c in cols:
            m = record[c].get(name)
            if m is None or "seconds" not in m:
                cells.append("copied" if m else "—")
                continue
            cells.append(f"{m['seconds']:.0f} / {m['peak_rss_gib']:.2f} / {m['output_bytes'] / 1e6:.1f}")
            if cpu[c] in points:
                points[cpu[c]][0].append(record[c]["train_images"])
                points[cpu[c]][1].append(m["seconds"])
        ks = [exponent(*points[who]) for who in fits]
        fitted = "".join(" — |" if k is None else f" {k:.2f} |" for k in ks)
        lines.append(f"| {name} | {' | '.join(cells)} |{fitted}")
    for key, what in (("dvc_status_s", "`dvc status`"), ("dvc_repro_noop_s", "`dvc repro` (no-op)"),
                      ("mlflow_answers_s", "MLflow: one method's answers table"), ("page_bytes", "the study page")):
        unit = (lambda v: f"{v / 1e3:.0f} KB") if key == "page_bytes" else (lambda v: f"{v:.1f} s")
        cells = [unit(record[c][key]) if key in record[c] else "—" for c in cols]
        lines.append(f"| {what} | {' | '.join(cells)} |" + " |" * len(fits))
    return "\n".join(lines)


def short(cpu: str) -> str:
    """"AMD EPYC (2 cores)" -> "AMD EPYC": a column header's name for a machine."""
    return cpu.split(" (")[0].replace("(R)", "")


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    machines = list(dict.fromkeys(cpu_of(record, c) for c in columns(record)))
    styles = [("-", "o"), ("--", "s"), (":", "^")]
    colors = plt.get_cmap("tab20").colors
    for k, cpu in enumerate(machines):  # a line per stage and machine: never joined across machines
        for i, name in enumerate(STAGES):
            pts = [(record[c]["train_images"], record[c][name]["seconds"]) for c in columns(record)
                   if cpu_of(record, c) == cpu and "seconds" in record[c].get(name, {})]
            if len(pts) >= 2:
                line, marker = styles[k % 3]
                ax.plot(*zip(*pts), linestyle=line, marker=marker, color=colors[i % 20], label=name if k == 0 else None)
    for k, cpu in enumerate(machines):  # the line style says which machine
        ax.plot([], [], linestyle=styles[k % 3][0], marker=styles[k % 3][1], color="black", label=short(cpu))
    ax.set(xscale="log", yscale="log", xlabel="training images", ylabel="wall time (s)",
           title="Stage cost against size (a line per stage and machine)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def cpus(record: dict) -> str:
    """Which CPU measured which columns."""
    by_cpu: dict[str, list[str]] = {}
    for c in columns(record):
        by_cpu.setdefault(cpu_of(record, c), []).append(c.split("@")[0])
    if len(by_cpu) == 1:
        return next(iter(by_cpu))
    return "; ".join(f"{', '.join(sizes)} on {cpu}" for cpu, sizes in by_cpu.items())


def write_readme(record: dict) -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    begin, end = README_MARKS
    if begin not in text:
        raise SystemExit(f"README.md has no {begin} ... {end} section to fill")
    body = (f"{begin}\n{table(record)}\n\nMeasured by `python benchmarks/scale.py`: {cpus(record)}. s: wall time, GiB: peak "
            f"resident memory of the stage's processes, MB: its outputs.\n\n![stage cost against size]"
            f"(benchmarks/results/scale.png)\n{end}")
    readme.write_text(text[:text.index(begin)] + body + text[text.index(end) + len(end):])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    return "an unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sizes", nargs="+", choices=list(WORLD_SIZES), default=list(SIZES))
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                    help="a prefix of the stages, in order")
    ap.add_argument("--base", type=Path, help="a base model to copy at every size instead of training one")
    ap.add_argument("--table", action="store_true", help="write the table, the plot and the README section")
    ap.add_argument("--also", nargs="+", type=Path, default=[],
                    help="with --table: records of other --out folders (another machine), shown as extra columns")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    record = json.loads((a.out / "scale.json").read_text()) if (a.out / "scale.json").is_file() else {}
    if a.table:
        for i, other in enumerate(a.also, 2):
            for size, figures in json.loads((other / "scale.json").read_text()).items():
                if size in WORLD_SIZES:
                    record[f"{size}@{i}"] = figures
        results = REPO / "benchmarks/results"
        results.mkdir(exist_ok=True)
        save(results, record)
        plot(record, results / "scale.png")
        write_readme(record)
        print(table(record))
        return
    for size in a.sizes:
        run_size(a.out, size, record, a.stages, a.base and a.base.resolve())
    print(table(record))


if __name__ == "__main__":
    main()
