"""The verdict over seeds, as specifications: the paper's claim list with its effects, sanity checks
never counted, five verdicts decided from the seed-paired interval and Holm-adjusted, intervals
that respect their scale, and a prediction interval for one new seed."""
import numpy as np
import pytest
from scipy.stats import ttest_1samp

from selfsynth.report.claims import EXCLUDED, FAILS, HOLDS, UNDECIDED, claims, claims_over_seeds, decide
from selfsynth.report.intervals import Interval, bounds, holm, mean_interval, prediction_interval
from selfsynth.report.study import Study

K = 4


def studies(cells: dict[tuple[str, int], list[float]], metric: str = "accuracy", others: float = 0.5) -> dict[int, Study]:
    """One Study per seed; cells: (method, round) -> one value per seed, every other cell `others`."""
    n = len(next(iter(cells.values())))
    out = {}
    for seed in range(n):
        s = Study(K)
        for m in ("nl", "lge", "ours", "nofilter"):
            for r in range(1, K + 1):
                values = {"accuracy": others, "CS": others}
                values[metric] = cells.get((m, r), [others] * n)[seed]
                s.add(m, r, values)
        out[seed] = s
    return out


def by_text(rows):
    return {r["claim"].text: r for r in rows}


def test_the_claims_are_the_papers_comparisons_with_its_cub_effects():
    cs = {c.text: c for c in claims(K)}
    assert cs["ours above NL on accuracy (round 4)"].paper == pytest.approx(0.0281)  # 85.02 - 82.21
    assert cs["ours above L+GE on accuracy (round 4)"].paper == pytest.approx(0.1196)
    assert cs["ours above w/o filtering on accuracy (round 4)"].paper == pytest.approx(0.1457)
    assert cs["ours: accuracy rises from round 1 to 4"].paper == pytest.approx(0.0478)
    assert {c.metric for c in claims(K)} == {"accuracy", "CS"}
    assert [c.text for c in claims(K) if c.sanity] == ["ours above NL on CS (round 4): NL cites no feature, so its CS is 0"]
    assert sum(not c.sanity for c in claims(K)) == len(claims(K)) - 1
    assert all(c.paper is None for c in claims(3))  # the paper's figures are round 4's


def test_a_claim_true_by_construction_is_never_counted():
    """NL's CS is 0 on every seed: 'ours above NL on CS' holds, but only as a sanity check, and it
    does not enter Holm's family (adding it would loosen no other claim's correction)."""
    n = 10
    ss = studies({("nl", K): [0.0] * n, ("ours", K): [0.8 + 0.01 * i for i in range(n)]}, metric="CS")
    rows = claims_over_seeds(ss, K, 0.95)
    sanity = [r for r in rows if r["claim"].sanity]
    assert len(sanity) == 1 and sanity[0]["adjusted"] == "sanity check: holds" and "p_zero_holm" not in sanity[0]
    assert {r["claim"].text for r in rows if r["adjusted"] == HOLDS} == {
        "ours above L+GE on CS (round 4)", "ours above w/o filtering on CS (round 4)"}


def test_an_interval_below_the_papers_effect_reads_excluded_not_undecided():
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.005, 0.02, 10)  # ours − L+GE: about 0, far below the paper's +12 points
    ss = studies({("ours", K): list(0.7 + diffs), ("lge", K): [0.7] * 10})
    row = by_text(claims_over_seeds(ss, K, 0.95))["ours above L+GE on accuracy (round 4)"]
    assert row["interval"].low < 0 < row["interval"].high < 0.1196
    assert row["raw"] == EXCLUDED and row["adjusted"] == EXCLUDED
    # the same interval against an effect it still contains, or none, stays undecided
    assert decide(row["interval"], paper=row["interval"].high - 0.001) == UNDECIDED
    assert decide(row["interval"]) == UNDECIDED
    assert decide(Interval(-0.02, -0.03, -0.01, 10), paper=0.12) == FAILS


def test_holm_adjusts_over_the_claims_that_count_and_can_undo_a_raw_verdict():
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    # one claim at p ~ 0.02 alone: holds raw, undecided once adjusted over the 7 claims
    diffs = np.array([0.03, 0.00, 0.04, 0.02, 0.05])
    assert 0.01 < ttest_1samp(diffs, 0).pvalue < 0.05
    ss = studies({("ours", K): list(0.6 + diffs)}, metric="CS", others=0.6)
    row = by_text(claims_over_seeds(ss, K, 0.95))["ours above w/o filtering on CS (round 4)"]
    assert row["raw"] == HOLDS and row["adjusted"] == UNDECIDED
    assert row["p_zero_holm"] == pytest.approx(min(1, 7 * row["p_zero"]))  # tied smallest of 7 (L+GE the same)


def test_a_bounded_score_keeps_its_interval_inside_its_scale():
    ee = [0.0, 0.0, 0.0, 0.002, 0.0]  # NL's EE: the plain t-interval runs below 0
    plain = mean_interval(ee, 0.95)
    assert plain.low < 0
    iv = mean_interval(ee, 0.95, bounds("EE"))
    assert iv.low == 0.0 and iv.high == plain.high and iv.estimate == plain.estimate
    top = prediction_interval([0.99, 1.0, 0.97, 1.0], 0.95, bounds("accuracy"))
    assert top.high == 1.0 and 0 <= top.low < 0.97
    assert bounds("CS", difference=True) == (-1.0, 1.0) and bounds("FS") is None


def test_one_new_seed_lands_in_a_prediction_interval_wider_than_the_mean_interval():
    values = [0.673, 0.745, 0.70, 0.72, 0.69]
    m, p = mean_interval(values, 0.95), prediction_interval(values, 0.95)
    assert m.estimate == p.estimate and p.low < m.low and p.high > m.high
    assert (p.high - p.low) / (m.high - m.low) == pytest.approx((1 + 5) ** 0.5)  # √(1 + 1/n) / √(1/n)


def test_a_check_failed_on_any_seed_leaves_the_claims_it_concerns_untestable():
    ss = studies({("ours", K): [0.9] * 3 + [0.91, 0.92]})
    rows = by_text(claims_over_seeds(ss, K, 0.95, failed={1: ["diversity"], 2: []}))
    assert rows["ours above w/o filtering on accuracy (round 4)"]["adjusted"].startswith("cannot be tested (seed 1: diversity")
    assert rows["ours above NL on accuracy (round 4)"]["adjusted"] == HOLDS


def test_the_study_page_shows_the_seeds_verdict_of_its_own_configuration_only(tmp_path):
    import json

    from selfsynth.core.params import load_params
    from selfsynth.report.html import claims_html
    from selfsynth.report.seeds import Seeds, saved_seeds, seed_config, to_json
    from selfsynth.tracking import params_key
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml")
    ss = studies({("ours", K): [0.8, 0.82, 0.79], ("nl", K): [0.7, 0.71, 0.69]})
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps(to_json(Seeds(ss, {0: [], 1: ["diversity"], 2: []}, {1: "AMD EPYC"}, {1: {"chance": 0.0625}}),
                                       params_key(params, ("seed",)))))
    saved = saved_seeds(path, params)
    seeds, failed = saved.studies, saved.failed
    assert sorted(seeds) == [0, 1, 2] and failed == {0: [], 1: ["diversity"], 2: []} and saved.cpus == {1: "AMD EPYC"}
    assert saved.instrument == {1: {"chance": 0.0625}}
    page = claims_html(Study(K), described=[("ours above NL on accuracy (round 4)", "one seed: descriptive", "x")],
                       over_seeds=(3, claims_over_seeds(seeds, K, 0.95, failed)))
    assert "Over 3 seeds" in page and "<span class=ok>holds</span>" in page and "cannot be tested (seed 1: diversity)" in page
    assert "This seed, described" in page
    path.write_text(json.dumps(to_json(Seeds(ss), seed_config(params, 7))))  # another configuration's seeds
    assert saved_seeds(path, params) == Seeds()
    assert "No verdict yet" in claims_html(Study(K), described=[("c", "one seed: descriptive", "x")])


def test_the_seeds_that_pass_every_check_are_read_apart_and_never_as_the_verdict():
    from selfsynth.report.seeds import Seeds, passing_seeds_section

    ss = studies({("ours", K): [0.9, 0.91, 0.3, 0.92], ("nl", K): [0.8, 0.8, 0.8, 0.8]})
    section = passing_seeds_section(Seeds(ss, {2: ["perception"], 3: []}), K, 0.95)
    assert "not the verdict: the 3 seeds that pass every check" in section and "dropped (2)" in section
    assert "| ours above NL on accuracy (round 4) | +2.8 | 11.0 [8.5, 13.5] |" in section and "| 3 of 3 |" in section
    assert passing_seeds_section(Seeds(ss, {3: []}), K, 0.95) == ""  # nothing failed: nothing to read apart
    assert passing_seeds_section(Seeds(ss, {s: ["ceiling"] for s in (0, 1, 2)}), K, 0.95) == ""  # one seed left


def test_each_seed_shows_its_round_k_scores_its_failed_checks_and_its_cpu():
    from selfsynth.report.seeds import Seeds, per_seed_table

    ss = studies({("ours", K): [0.9, 0.3], ("nl", K): [0.8, 0.8]})
    figures = {1: {"attribute_probe.beak": 0.95, "attribute_probe.breast": 0.887, "description_precision": 0.9241}}
    rows = per_seed_table(Seeds(ss, {1: ["perception", "ceiling"]}, {0: "AMD EPYC"}, figures), K).splitlines()
    assert rows[0].startswith("| seed | nl acc | lge acc | ours acc | nofilter acc | nl CS |")
    assert rows[2].startswith("| 0 | 80.0 | 50.0 | 90.0 | 50.0 | 0.500 |") and rows[2].endswith("| none | — | — | AMD EPYC |")
    assert rows[3].endswith("| perception, ceiling | 0.8870 (breast) | 0.9241 | not recorded |")  # by how much it failed (4 places: 0.8498 is not 0.85)
