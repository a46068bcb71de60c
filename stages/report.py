"""The report: Table 1 (methods x rounds), the ablation tables and the figures, from the metrics files
and the per-image answers, built once as a StudyReport and rendered as Markdown here and as HTML by
selfsynth.report.html."""
import csv
import logging
from pathlib import Path

from selfsynth.core.io import atomic_path, read_json, write_text
from selfsynth.core.layout import METHODS, rejection_metrics_path
from selfsynth.core.params import load_params
from selfsynth.instrument.checks import checks_markdown, instrument_checks
from selfsynth.plots import note_figure
from selfsynth.process.preflight import stage_start
from selfsynth.report.claims import claims, claims_markdown, claims_over_seeds, differences_markdown, verdict_section
from selfsynth.report.figures import (
    accuracy_over_rounds,
    beta_sweep,
    encoder_comparison,
    selection_vs_descriptions,
)
from selfsynth.report.html import write_index
from selfsynth.report.model import StudyReport, build
from selfsynth.report.paper import paper_table_markdown
from selfsynth.report.record import record_study
from selfsynth.report.seeds import saved_seeds
from selfsynth.report.study import ROW_METHODS, study_from_files
from selfsynth.report.tables import (
    accuracy_table,
    beta_table,
    descriptions_table,
    final_scores_table,
    intervals_table,
    paired_table,
    rejection_table,
    text_quality_table,
)
from selfsynth.tracking import params_key
from stages import summarize

REPORTS = Path("reports")
SEEDS = REPORTS / "seeds.json"  # the seeds verdict, written by `make seeds` (selfsynth.report.seeds)
log = logging.getLogger("report")


def selection_section(params, select: dict, sweep: dict) -> str:
    if "note" in sweep:
        return f"""## Concept selection (step 1.2)

Encoder `{params.select.encoder}`, beta {params.select.beta}: {select['selected']['per_image']:.2f} concepts
kept per image. Precision, recall and the beta / encoder / descriptions sweeps are {sweep['note']}.
"""
    return f"""## Concept selection (step 1.2): beta x text encoder

Z* against the concepts each training image really shows (the world's ground truth).
Configured: encoder `{params.select.encoder}`, beta {params.select.beta}: precision
{select['selected']['precision']:.3f}, recall {select['selected']['recall']:.3f}, F1 {select['selected']['f1']:.3f}.

{beta_table(sweep)}

## Descriptions per image (the paper's Figure 5)

{descriptions_table(sweep)}
"""


def uncertainty_section(report: StudyReport) -> str:
    """Intervals over test images, paired differences and the claims described from them."""
    b, conf, seed = report.uncertainty.bootstrap, report.uncertainty.confidence, report.seed
    k, rows = report.study.rounds, report.rows
    last = [("base", 0)] + [(m, k) for m in ROW_METHODS[1:]]
    pairs = [(("ours", k), (o, k)) for o in ROW_METHODS[1:] if o != "ours"] + [(("ours", k), ("base", 0))]
    if k > 1:
        pairs.append((("ours", k), ("ours", 1)))
    pct = f"{conf * 100:g} %"
    return f"""## The verdict with uncertainty

{pct} bootstrap intervals over the test images ({b} resamples, percentile; accuracy in %, FS as
perplexity), estimate [low, high]:

{intervals_table(rows, last, b, conf, seed)}

Paired differences on the same images (one resample of images for both; ✓: the interval excludes 0):

{paired_table(rows, pairs, b, conf, seed)}

The paper's claims as paired differences on this seed, with the paper's CUB effect beside each.
This interval covers new test images of this world and base model only, so it decides nothing:
the verdict is over seeds (below, once reports/seeds.json holds this configuration's seeds):

{differences_markdown(rows, k, b, conf, seed, report.checks)}
"""


def main() -> None:
    params = load_params()
    stage_start(params)
    k = params.last_round
    study = study_from_files(k)
    rejection = {r: read_json(rejection_metrics_path(r)) for r in range(2, k + 1)}
    sweep = read_json("reports/select_sweep.json")
    select = read_json("metrics/select.json")
    title = f"{params.dataset.name} ({params.world.size}), seed {params.seed}, params {params_key(params)}"
    checks = instrument_checks(read_json("metrics/instrument.json")["measures"])
    seeds = saved_seeds(SEEDS, params)
    n = len(seeds.studies)
    over_seeds = claims_over_seeds(seeds.studies, k, params.report.confidence, seeds.failed) if n >= 2 else None
    report = build(study, title, params.report, params.seed, checks=checks, seeds=n, over_seeds=over_seeds)
    if over_seeds:
        claims_note = (f"## The paper's claims over {n} seeds (reports/seeds.json, reports/table1-seeds.md)\n\n"
                       + verdict_section(over_seeds, params.report.confidence))
    else:
        claims_note = ("## The paper's claims\n\nNo verdict yet: reports/seeds.json holds fewer than 2 seeds of this "
                       "configuration (`make seeds`). One seed's paired differences are described below (*The verdict "
                       "with uncertainty*)")
        claims_note += "." if report.rows else f"; without per-image answers on disk, its means:\n\n{claims_markdown(study)}"

    write_text(REPORTS / "table1.md", f"""# Table 1 — {title}

Accuracy (%) on the test images, one explain question per image, greedy decoding; the predicted
class is the earliest class name in the answer (strict). Round 0 is the untuned base model.
One seed describes; the paper's claims are decided over seeds (`make seeds` writes
reports/table1-seeds.md and reports/seeds.json, which this page reads).

{accuracy_table(study)}

## Can this run test the paper's claims? (the instrument's checks)

Measured from the world, the frozen base tower, Z*, the candidates and the epochs, never from a
method's score (metrics/instrument.json; docs/verdict.md says why each threshold):

{checks_markdown(checks, claims(k))}

Every score after the last round (EE, CS, grounding: the offline judges of the README; FS:
perplexity under the base model, lower is better; general ability: attribute-question accuracy):

{final_scores_table(study)}

{claims_note}

## Explanation text per method and round

{text_quality_table(study)}

{uncertainty_section(report) if report.rows else ""}

## Rejection sampling (steps 2.5 / 2.6)

{rejection_table(rejection)}

## For reference: the paper's Table 1 (LLaVA-1.5-7B; accuracy %)

{paper_table_markdown()}
""")
    write_text(REPORTS / "ablations.md", f"""# Ablations — {title}

{selection_section(params, select, sweep)}
## Study-level ablations

Runs that retrain (beta, encoder, label check, rounds) are DVC experiments: `make ablations`
queues and runs them, `dvc exp show` compares them, each is a set of MLflow runs tagged with its
own `config` and `dvc_exp`, and reports/ablations-study.md sets them against this study.
""")
    accuracy_over_rounds(study, REPORTS / "accuracy.png", f"accuracy per round — {title}")
    write_index(report, REPORTS)
    if "note" in sweep:  # a real dataset: no per-image truth to score the selection against
        for name in ("select_descriptions", "select_beta", "select_encoders"):
            note_figure(REPORTS / f"{name}.png", f"{name} — {params.dataset.name}", sweep["note"])
    else:
        selection_vs_descriptions(sweep, REPORTS / "select_descriptions.png", params.select.encoder, params.select.beta)
        beta_sweep(sweep, REPORTS / "select_beta.png")
        encoder_comparison(sweep, REPORTS / "select_encoders.png", params.select.beta)
    with atomic_path(REPORTS / "accuracy.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", *ROW_METHODS[1:]])
        for r in range(1, k + 1):
            w.writerow([r, *(f"{study.mean(m, r, 'accuracy'):.4f}" for m in ROW_METHODS[1:])])
    record_study(params, METHODS, [REPORTS / name for name in (
        "index.html", "table1.md", "ablations.md", "accuracy.png", "curves.png", "select_descriptions.png",
        "select_beta.png", "select_encoders.png")])
    summarize(f"reports/index.html (open it in a browser), table1.md, ablations.md; round {k} accuracy "
              + ", ".join(f"{m} {100 * study.mean(m, k, 'accuracy'):.1f}%" for m in ROW_METHODS[1:]))


if __name__ == "__main__":
    main()
