"""The instrument's checks: what the testbed lets a method show, measured without any method's score."""
import numpy as np
import pytest

from selfsynth.instrument.checks import (epoch_cells, instrument_checks, untestable, zstar_floor_share)
from selfsynth.instrument.perception import (attribute_probes, attributes_to_species, bayes_ceiling, part_targets,
                                             species_probe)
from selfsynth.report.claims import claims
from selfsynth.world.attributes import FAMILIES

FAMS = [f.key for f in FAMILIES]


def species(n=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        attrs = {f.key: f.values[rng.integers(len(f.values))].key for f in FAMILIES}
        if attrs not in [s["attributes"] for s in out]:
            out.append({"id": len(out), "attributes": attrs})
    return out


def images(labels, n, hidden=(), seed=0):
    rng = np.random.default_rng(seed)
    return [{"label": (lab := labels[i % len(labels)])["id"], "attributes": lab["attributes"],
             "visible": [f for f in FAMS if f not in hidden and (not hidden or rng.random() < 0.5 or f == "plumage")]}
            for i in range(n)]


def onehot(rows):
    """The features of a tower that sees every visible part exactly."""
    cols = [(f.key, v.key) for f in FAMILIES for v in f.values]
    return np.array([[float(f in r["visible"] and r["attributes"][f] == v) for f, v in cols] for r in rows])


def test_the_ceiling_is_one_when_nothing_is_hidden_and_falls_with_what_is():
    labels = species()
    assert bayes_ceiling(labels, images(labels, 30)) == 1.0
    # only the plumage shown: every species of that plumage is allowed
    plumage_only = [{"label": lab["id"], "visible": ["plumage"]} for lab in labels]
    same = {lab["id"]: sum(o["attributes"]["plumage"] == lab["attributes"]["plumage"] for o in labels) for lab in labels}
    assert bayes_ceiling(labels, plumage_only) == pytest.approx(np.mean([1 / same[lab["id"]] for lab in labels]))


def test_a_tower_that_sees_everything_is_read_perfectly_and_one_that_sees_nothing_at_chance():
    labels = species(8)
    train, test = images(labels, 400, seed=1), images(labels, 200, seed=2)
    acc, predictors = attribute_probes(onehot(train), train, onehot(test), test, seed=0)
    assert min(acc.values()) == 1.0
    assert attributes_to_species(labels, predictors, onehot(test), test) == 1.0
    assert species_probe(onehot(train), train, onehot(test), test, seed=0) == 1.0

    rng = np.random.default_rng(3)
    blind_train, blind_test = rng.normal(size=(400, 32)), rng.normal(size=(200, 32))
    assert species_probe(blind_train, train, blind_test, test, seed=0) < 2.5 / len(labels)
    acc, _ = attribute_probes(blind_train, train, blind_test, test, seed=0)
    for f in FAMILIES:  # no better than always answering the commonest value of the part
        truth = part_targets(test, f.key)
        commonest = max(np.unique(truth, return_counts=True)[1]) / len(truth)
        assert acc[f.key] <= commonest + 0.1


def test_the_floor_share_counts_images_whose_threshold_kept_fewer_than_the_floor():
    rows = [{"zstar": ["a", "b", "c"], "scores": {"a": 9.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 0.0}},  # 1 above: floor
            {"zstar": ["a", "b", "c", "d"], "scores": {"a": 5.0, "b": 5.0, "c": 5.0, "d": 5.0, "e": 0.0}}]
    share, sizes = zstar_floor_share(rows, beta=0.4, min_concepts=3)
    assert share == 0.5 and sizes == {"3": 1, "4": 1}


def test_a_best_epoch_at_the_cap_fails_convergence_and_leaves_every_claim_untestable():
    cells = epoch_cells({1: {"ours": {"convergence": True, "best_epoch": 8.0, "epochs_cap": 8},
                             "nl": {"convergence": True, "best_epoch": 2.0, "epochs_cap": 8}}})
    assert [c["at_cap"] for c in cells] == [False, True]  # nl, ours
    checks = {c.name: c for c in instrument_checks({"epoch_cells": cells})}
    assert checks["convergence"].passed is False and "ours r1" in checks["convergence"].value
    assert all(untestable(cl, checks.values()) == ["convergence"] for cl in claims(4))


def test_each_failed_check_names_only_the_claims_it_concerns():
    m = {"attribute_probe": {f: 0.99 for f in FAMS} | {"beak": 0.3}, "distinct_candidates": {2: 2.4, 3: 1.2},
         "bayes_ceiling": 0.95, "description_precision": 0.9, "base_identification": 0.0, "chance": 1 / 16,
         "zstar_floor_share": 0.2, "epoch_cells": [{"method": "ours", "round": 1, "at_cap": False}]}
    checks = instrument_checks(m)
    assert [c.name for c in checks if c.passed is False] == ["perception", "diversity"]
    by_text = {cl.text: untestable(cl, checks) for cl in claims(4)}
    assert by_text["ours above NL on CS (round 4): NL cites no feature, so its CS is 0"] == []
    assert by_text["ours above L+GE on accuracy (round 4)"] == ["perception"]
    assert by_text["ours above w/o filtering on accuracy (round 4)"] == ["perception", "diversity"]
    assert by_text["ours above w/o filtering on CS (round 4)"] == ["diversity"]
    assert by_text["w/o filtering: accuracy rises from round 1 to 4"] == ["perception", "diversity"]


def test_a_real_dataset_reports_what_it_can_and_marks_the_rest():
    checks = instrument_checks({"base_identification": 0.01, "chance": 0.005, "distinct_candidates": {2: 2.5}})
    passed = {c.name: c.passed for c in checks}
    assert passed["perception"] is None and passed["ceiling"] is None and passed["diversity"] is True
    assert not any(untestable(cl, checks) for cl in claims(4))


def test_looping_candidates_fail_diversity_however_many_distinct_strings_they_make():
    """A candidate that repeats itself ("wings crossed by pale bars ... and wings crossed by pale
    bars") is another string, not another answer for the score to choose."""
    from selfsynth.method.reject import rejection_stats
    loop = "It is a Bothis Kinglet, identified by pale bars, feet and legs, feet and legs and legs and pale bars."
    groups = [{"label": "Bothis Kinglet", "candidates": ["It is a Bothis Kinglet.", loop, loop + " x"]}]
    stats = rejection_stats([], groups)
    assert stats["distinct_candidates"] == 3 and stats["looping_candidates"] == pytest.approx(2 / 3)
    fluent = {c.name: c for c in instrument_checks({"distinct_candidates": {2: 2.6}, "looping_candidates": {2: 0.1}})}
    looping = {c.name: c for c in instrument_checks({"distinct_candidates": {2: 2.6}, "looping_candidates": {2: 0.6}})}
    assert fluent["diversity"].passed is True and looping["diversity"].passed is False
    assert "0.60 looping" in looping["diversity"].value
