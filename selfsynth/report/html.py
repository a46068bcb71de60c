"""reports/index.html: the study on one page that opens anywhere, with no network.

Everything is inline — CSS, the curves figure and the test images as base64 PNGs — so the file can
be mailed, attached to an MLflow run or opened from a laptop without the repo or a CDN. The page
renders the StudyReport (report.model) that table1.md renders too, plus what only it shows: the
world (data/dataset), the descriptions (data/describe) and Z* (data/select). Any of the data
folders may be missing (a study whose data was not pulled); its section then says so.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Sequence

from ..core.io import read_json, read_jsonl, write_text
from ..dataset.images import load_rgb
from ..instrument.checks import Check, untestable
from ..metrics.rows import explain_rows
from .claims import check_claims, claims, paper_effect
from .figures import COLORS, curves_figure
from .intervals import correct, fmt_interval
from .model import StudyReport
from .study import ROW_METHODS, Study
from .tables import FINAL_SCORES, LABELS

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:34px 0 10px;border-bottom:2px solid #dde2e8;padding-bottom:4px}
.sub{color:#5b6572;margin:0 0 14px}nav a{margin-right:14px;color:#3d5a80}
table{border-collapse:collapse;background:#fff;margin:8px 0;box-shadow:0 1px 2px #0001}
th,td{padding:6px 12px;border-bottom:1px solid #e6e9ee;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.l,th.l{text-align:left}th{background:#eef1f5;font-weight:600}
.ci{color:#6b7480;font-size:12px;display:block}.note{color:#5b6572;font-size:13px;max-width:900px}
.ok{background:#dff3e4;color:#17612e;font-weight:600;padding:2px 8px;border-radius:10px;white-space:nowrap}
.no{background:#fbe1e1;color:#8d1c1c;font-weight:600;padding:2px 8px;border-radius:10px;white-space:nowrap}
.un{background:#eceff3;color:#3c4654;font-weight:600;padding:2px 8px;border-radius:10px;white-space:nowrap}
.figure{background:#fff;padding:8px;box-shadow:0 1px 2px #0001;max-width:100%}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.card{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;padding:12px;display:flex;gap:12px}
.card img{width:128px;height:128px;image-rendering:pixelated;border-radius:4px;flex:none;background:#ddd}
.card h3{font-size:14px;margin:0 0 6px}.card ul{margin:0;padding-left:0;list-style:none;font-size:12.5px}
.card li{margin:0 0 5px}.tag{display:inline-block;min-width:64px;font-weight:600}
.hit{color:#17612e}.miss{color:#8d1c1c}.muted{color:#6b7480}
.wide{flex-direction:column}.wide .row{display:flex;gap:12px}
"""


def esc(text) -> str:
    return html.escape(str(text))


def png_data_uri(path: Path, max_side: int = 256) -> str:
    """An image as an inline PNG, shrunk to max_side so real photos keep the page small."""
    im = load_rgb(path)
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# ---- sections ------------------------------------------------------------------------------------

def _acc_cell(study: Study, intervals: dict, m: str, r: int) -> str:
    mean, sd = study.mean(m, r, "accuracy"), study.spread(m, r, "accuracy")
    if mean is None:
        return "<td>—</td>"
    if sd is not None:  # several seeds: their spread is the honest interval
        return f"<td>{100 * mean:.1f}<span class=ci>± {100 * sd:.1f} (sd over seeds)</span></td>"
    iv = intervals.get((m, r))
    ci = f"<span class=ci>[{100 * iv.low:.1f}, {100 * iv.high:.1f}]</span>" if iv else ""
    return f"<td>{100 * mean:.1f}{ci}</td>"


def table1_html(report: StudyReport) -> str:
    study, intervals = report.study, report.intervals
    head = "".join(f"<th>round {r}</th>" for r in range(0, study.rounds + 1))
    rows = []
    for m in ROW_METHODS:
        cells = "".join(_acc_cell(study, intervals, m, r) if r in study.rounds_of(m) else "<td></td>"
                        for r in range(0, study.rounds + 1))
        rows.append(f"<tr><td><b style='color:{COLORS[m]}'>■</b> {esc(LABELS[m])}</td>{cells}</tr>")
    n = sorted({iv.n for iv in intervals.values()})
    note = (f"Accuracy (%) on the test images (strict: the first class the answer names). Under each figure, "
            f"its {report.uncertainty.confidence * 100:g}% bootstrap interval over the {'/'.join(map(str, n))} test "
            f"images ({report.uncertainty.bootstrap:,} resamples of the per-image predictions, one seed)." if intervals else
            "Accuracy (%); no per-image predictions on disk (data/eval not pulled), so no intervals.")
    return f"<table><tr><th>method</th>{head}</tr>{''.join(rows)}</table><p class=note>{note}</p>"


def final_scores_html(study: Study) -> str:
    head = "".join(f"<th>{esc(head)}</th>" for _, _, head, _, _ in FINAL_SCORES)
    rows = []
    for m in ROW_METHODS:
        r = study.rounds_of(m)[-1]
        cells = "".join(f"<td>{'—' if (v := study.mean(m, r, k)) is None else f'{v * s:.{d}f}'}</td>"
                        for k, _, _, s, d in FINAL_SCORES)
        rows.append(f"<tr><td>{esc(LABELS[m])} (round {r})</td>{cells}</tr>")
    return f"<table><tr><th>method</th>{head}</tr>{''.join(rows)}</table>"


def claims_html(study: Study, described: list[tuple[str, str, str]] | None = None,
                over_seeds: tuple[int, list[dict] | None] = (0, None)) -> str:
    """The seeds verdict (report.seeds) when reports/seeds.json holds ≥ 2 seeds of this configuration;
    then this seed's paired differences, described, not decided (report.claims); without per-image
    rows, the means."""
    n, rows = over_seeds
    css = {"holds": "ok", "does not hold": "no"}
    if rows:
        body = "".join(f"<tr><td>{esc(r['claim'].text)}</td><td>{esc(paper_effect(r['claim']))}</td>"
                       f"<td>{esc(fmt_interval(r['interval'], r['claim'].metric))}</td><td>{r['wins']} of {len(r['diffs'])}</td>"
                       f"<td><span class={css.get(r['adjusted'], 'un')}>{esc(r['adjusted'])}</span></td></tr>" for r in rows)
        verdict = (f"<p>Over {n} seeds (reports/table1-seeds.md has the raw and Holm-adjusted p-values):</p><table><tr>"
                   f"<th>the paper's claim</th><th>paper (CUB)</th><th>mean difference [95 % interval over seeds]</th>"
                   f"<th>seeds a &gt; b</th><th>verdict (Holm)</th></tr>{body}</table>")
    else:
        verdict = ("<p class=note>No verdict yet: reports/seeds.json holds fewer than 2 seeds of this configuration "
                   "(<code>make seeds</code>). One seed's differences below describe; they decide nothing.</p>")
    if described:
        body = "".join(f"<tr><td>{esc(claim)}</td><td class=l>{esc(ev)}</td><td>{esc(st)}</td></tr>"
                       for claim, st, ev in described)
        seed = (f"<h3>This seed, described</h3><table><tr><th>the paper's claim</th><th class=l>paired difference on the "
                f"test images, 95 % bootstrap interval</th><th>status</th></tr>{body}</table><p class=note>The interval "
                "covers new test images of this world and base model only; a fresh machine draws both anew.</p>")
    else:
        body = "".join(f"<tr><td>{esc(claim)}</td><td>{'above' if ok else 'not above'}</td><td class=l>{esc(ev)}</td></tr>"
                       for claim, ok, ev in check_claims(study))
        seed = (f"<h3>This seed, on the means</h3><table><tr><th>the paper's claim</th><th>a vs b</th><th class=l>means"
                f"</th></tr>{body}</table><p class=note>No per-image answers on disk: means only.</p>")
    return verdict + seed


def gallery_html(report: StudyReport, names: list[str], images: dict[str, Path], count: int = 6) -> str:
    """A few test images with every method's answer at its last round; images where the methods
    disagree come first, since those are the ones that show what training changed."""
    study = report.study
    k = study.rounds
    answers = {m: {row["id"]: row for row in explain_rows(report.rows[cell])} for m in ROW_METHODS
               if (cell := (m, study.rounds_of(m)[-1])) in report.rows}
    if not answers or not images:
        return "<p class=note>No per-image answers or test images on disk (data/eval, data/dataset not pulled).</p>"
    ids = [i for i in next(iter(answers.values())) if i in images and all(i in a for a in answers.values())]
    disagreement = {i: len({bool(correct([a[i]])[0]) for a in answers.values()}) for i in ids}
    chosen = sorted(ids, key=lambda i: (-disagreement[i], ids.index(i)))[:count]
    cards = []
    for i in chosen:
        label = next(iter(answers.values()))[i]["label"]
        items = []
        for m, by_id in answers.items():
            row = by_id[i]
            ok = correct([row])[0]
            text = row["answer"].strip() or "(empty)"
            text = text if len(text) <= 220 else text[:217] + "…"
            r = study.rounds_of(m)[-1]
            mark = "<span class='tag hit'>✓" if ok else "<span class='tag miss'>✗"
            items.append(f"<li>{mark} {esc(m)} r{r}</span> {esc(text)}</li>")
        cards.append(f"<div class=card><img alt='{esc(i)}' src='{png_data_uri(images[i])}'><div>"
                     f"<h3>{esc(names[label])} <span class=muted>({esc(i)})</span></h3><ul>{''.join(items)}</ul>"
                     f"</div></div>")
    return (f"<div class=grid>{''.join(cards)}</div><p class=note>Answers to the explain question after round {k} "
            f"(base: round 0); ✓ when the first class named is the true one.</p>")


def selection_html(root: Path, names: list[str], manifest: dict[str, dict], images: dict[str, Path],
                   count: int = 3, descriptions_shown: int = 3) -> str:
    """Step 1.2 on a few training images: what the base model said about the image, the concepts
    Z* kept, and which of them the image really shows (the world records it; real data does not)."""
    zpath, dpath = root / "data/select/zstar.jsonl", root / "data/describe/descriptions.jsonl"
    if not zpath.is_file() or not dpath.is_file() or not images:
        return "<p class=note>No Z* or descriptions on disk (data/select, data/describe not pulled).</p>"
    described: dict[str, list[str]] = {}
    for d in read_jsonl(dpath):
        described.setdefault(d["id"], []).append(d["text"])
    rows = [z for z in read_jsonl(zpath) if z["id"] in images and z["id"] in described]
    picked, seen = [], set()
    for z in rows:  # one image per class first, so the few shown are not all one species
        if z["label"] not in seen:
            picked.append(z)
            seen.add(z["label"])
    cards = []
    for z in picked[:count]:
        truth = manifest[z["id"]].get("visible_concepts")
        desc = "".join(f"<li class=muted>“{esc(t.strip() or '(empty)')}”</li>"
                       for t in described[z["id"]][:descriptions_shown])
        if truth is None:
            kept = "".join(f"<li>{esc(c)}</li>" for c in z["zstar"])
            missed = "<li class=muted>(no per-image truth on a real dataset)</li>"
        else:
            kept = "".join(f"<li class=hit>✓ shown: {esc(c)}</li>" if c in truth else
                           f"<li class=miss>✗ not shown: {esc(c)}</li>" for c in z["zstar"])
            missed = "".join(f"<li class=muted>{esc(c)}</li>" for c in truth if c not in z["zstar"]) or \
                "<li class=muted>none</li>"
        image = f"<img alt='{esc(z['id'])}' src='{png_data_uri(images[z['id']])}'>"
        cards.append(f"<div class='card wide'><div class=row>{image}"
                     f"<div><h3>{esc(names[z['label']])} <span class=muted>({esc(z['id'])})</span></h3>"
                     f"<b>the base model's descriptions</b><ul>{desc}</ul></div></div>"
                     f"<div><b>Z* (kept concepts)</b><ul>{kept}</ul>"
                     f"<b>shown but not kept</b><ul>{missed}</ul></div></div>")
    return (f"<div class=grid>{''.join(cards)}</div><p class=note>Z* is scored against the concepts each "
            f"image really shows: ✓ the image shows it, ✗ it is a concept of the class the image hides.</p>")


# ---- the page ------------------------------------------------------------------------------------

def world_images(root: Path) -> tuple[list[str], dict[str, dict], dict[str, Path]]:
    """Class names, manifest rows and image paths by id; empty when data/dataset is not on disk."""
    root = root / "data/dataset"
    if not (root / "manifest.jsonl").is_file():
        return [], {}, {}
    labels = read_json(root / "labels.json")
    manifest = {row["id"]: row for row in read_jsonl(root / "manifest.jsonl")}
    paths = {i: root / row["image"] for i, row in manifest.items()}
    return [lab["name"] for lab in labels], manifest, {i: p for i, p in paths.items() if p.is_file()}


def checks_html(checks: Sequence[Check], k: int) -> str:
    """The instrument's checks (selfsynth/instrument/checks.py) and the claims a failure leaves untestable."""
    css = {True: ("ok", "passes"), False: ("no", "fails"), None: ("un", "—")}
    rows = "".join(f"<tr><td>{esc(c.name)}</td><td class=l>{esc(c.value)}</td><td class=l>{esc(c.threshold)}</td>"
                   f"<td><span class={css[c.passed][0]}>{css[c.passed][1]}</span></td><td class=l>{esc(c.guards)}</td></tr>"
                   for c in checks)
    blocked = [(cl.text, untestable(cl, checks)) for cl in claims(k)]
    blocked = "".join(f"<li>{esc(t)} ({esc(', '.join(n))})</li>" for t, n in blocked if n)
    return (f"<table><tr><th>check</th><th class=l>measured</th><th class=l>threshold</th><th>result</th>"
            f"<th class=l>guards</th></tr>{rows}</table>"
            + (f"<p class=note>Claims this run cannot test (failed checks in brackets):</p><ul>{blocked}</ul>" if blocked
               else "<p class=note>Every check that can be computed passes.</p>"))


def write_index(report: StudyReport, out_dir: Path) -> Path:
    """Write reports/curves.png and reports/index.html; returns the page's path."""
    study, title, checks = report.study, report.title, report.checks
    curves = out_dir / "curves.png"
    curves_figure(study, report.intervals, report.uncertainty.confidence, curves, f"accuracy and CS per round — {title}")
    names, manifest, images = world_images(report.root)
    curves_uri = "data:image/png;base64," + base64.b64encode(curves.read_bytes()).decode()
    page = f"""<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
<title>Study report — {esc(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>Visual rejection sampling with self-synthesized data</h1>
<p class=sub>{esc(title)} · {study.rounds} rounds · this page is self-contained (no network)</p>
<nav><a href="#table1">Table 1</a><a href="#instrument">Checks</a><a href="#curves">Curves</a><a href="#claims">Claims</a>
<a href="#scores">All scores</a><a href="#gallery">Answers</a><a href="#selection">Concept selection</a></nav>
<h2 id=table1>Table 1 — accuracy per round</h2>{table1_html(report)}
{f"<h2 id=instrument>Can this run test the paper's claims? The instrument's checks</h2>{checks_html(checks, study.rounds)}" if checks else ""}
<h2 id=curves>Accuracy and CS over the rounds</h2><img class=figure alt="accuracy and CS per round" src="{curves_uri}">
<h2 id=claims>The paper's claims</h2>{claims_html(study, report.described, (report.seeds, report.over_seeds))}
<h2 id=scores>Every score after the last round</h2>{final_scores_html(study)}
<p class=note>EE, CS, grounding: the offline judges (or the LLM judge with evaluate.judge: llm); FS: perplexity
under the base model, lower is better; general ability: attribute-question accuracy.</p>
<h2 id=gallery>What each method answers (test images)</h2>{gallery_html(report, names, images)}
<h2 id=selection>Concept selection (step 1.2): Z* against what the image shows</h2>
{selection_html(report.root, names, manifest, images)}
<p class=note>Tables as Markdown: table1.md, ablations.md; selection sweeps: select_beta.png, select_encoders.png,
select_descriptions.png (all in reports/).</p>
</main></body></html>
"""
    write_text(out_dir / "index.html", page)
    return out_dir / "index.html"
