"""`dvc exp show` as the README prints it: the last round's accuracy and CS per method and the
params an ablation changes — nothing else, with headers short enough to read."""
import re

from selfsynth.report.exp_table import align, keep_regex

COLUMNS = ["Experiment", "rev", "Created", "classes", "selected.f1", "metrics/eval/round-0/base.json:accuracy",
           "metrics/eval/round-3/ours.json:accuracy", "metrics/eval/round-4/ours.json:accuracy", "metrics/eval/round-4/ours.json:CS",
           "metrics/eval/round-4/nofilter.json:FS", "metrics/rounds/round-4.json:ours.accepted", "seed", "select.beta",
           "select.sweep.betas", "train.lr"]


def test_keep_regex_keeps_the_last_round_and_the_ablated_params_only():
    kept = [c for c in COLUMNS if re.compile(keep_regex(4)).match(c)]  # DVC matches from the column's start
    assert kept == ["Experiment", "rev", "metrics/eval/round-0/base.json:accuracy", "metrics/eval/round-4/ours.json:accuracy",
                    "metrics/eval/round-4/ours.json:CS", "seed", "select.beta"]


def test_align_shortens_headers_and_lines_up_columns():
    table = align("Experiment,rev,metrics/eval/round-4/ours.json:accuracy,metrics/eval/round-4/ours.json:CS,select.beta\n"
                  ",workspace,0.61,0.382,0.4\nexp-a1,beta-0,0.58,0.161,0.0\n")
    header, *rows = table.splitlines()
    assert header.split() == ["Experiment", "rev", "ours.r4.acc", "ours.r4.CS", "beta"]
    assert len({row.index("0.") for row in rows}) == 1  # the accuracy column starts at one offset
