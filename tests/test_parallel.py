"""A stage's jobs side by side: the costliest start first, results come back in job order, a
failure stops the rest at once, and a generation split into parts samples what one process would."""
from __future__ import annotations

import json
import time

import pytest

from selfsynth.process.parallel import batch_spans, longest_first, run_jobs
from tests.conftest import micro_params


def _job(job: tuple) -> str:
    """Note the start, sleep, maybe fail: a stand-in for a method's training."""
    name, seconds, log, fail = job
    with open(log, "a") as f:
        f.write(name + "\n")
    time.sleep(seconds)
    if fail:
        raise RuntimeError(f"{name} failed")
    return name.upper()


def test_longest_first_orders_by_falling_cost_ties_in_job_order():
    assert longest_first([1, 3, 2, 3]) == [1, 3, 2, 0]
    assert longest_first([]) == []


def test_the_costliest_jobs_start_first_and_results_keep_job_order(tmp_path):
    log = tmp_path / "started"
    jobs = [("nl", 0.1, log, False), ("lge", 0.6, log, False), ("ours", 0.4, log, False)]
    assert run_jobs(_job, jobs, workers=2, costs=[1, 3, 2]) == ["NL", "LGE", "OURS"]
    started = log.read_text().split()
    assert set(started[:2]) == {"lge", "ours"} and started[2] == "nl"  # the cheap one waits for a free worker
    assert run_jobs(_job, jobs[:1], workers=2, costs=[5]) == ["NL"]
    with pytest.raises(ValueError, match="2 costs for 3 jobs"):
        run_jobs(_job, jobs, workers=2, costs=[1, 2])


def test_a_failed_job_stops_the_rest_at_once_even_before_earlier_jobs_in_job_order(tmp_path):
    log = tmp_path / "started"
    jobs = [("nl", 30, log, False), ("lge", 0.2, log, True), ("ours", 30, log, False)]
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="lge failed"):
        run_jobs(_job, jobs, workers=2, costs=[1, 3, 2])
    assert time.monotonic() - t0 < 15  # killed, not waited for: neither "ours" nor "nl", first in job order


def test_batch_spans_cut_between_batches_and_cover_every_item_once():
    assert batch_spans(480, 64, 2) == [(0, 256), (256, 480)]
    assert batch_spans(16, 64, 2) == [(0, 16)]  # one batch: one part
    assert batch_spans(10, 4, 3) == [(0, 4), (4, 8), (8, 10)]
    assert batch_spans(0, 4, 2) == [(0, 0)]
    for n, b, k in [(480, 64, 2), (100, 7, 3), (5, 1, 4)]:
        spans = batch_spans(n, b, k)
        assert spans[0][0] == 0 and spans[-1][1] == n and all(a % b == 0 for a, _ in spans)
        assert all(s[1] == t[0] for s, t in zip(spans, spans[1:]))


def test_describe_split_over_two_workers_writes_what_one_process_writes(micro_project):
    """Each batch is seeded by its place among all images, so the shards (two workers, two shards of
    two batches in the micro study) sample what one process describing every image does."""
    from selfsynth.dataset.prepared import load_prepared
    from selfsynth.lmm.backend import open_generator
    from selfsynth.lmm.prompts import load_prompts
    from selfsynth.method.describe import describe_images
    from selfsynth.core.params import parse_params

    root, _ = micro_project
    written = [json.loads(line) for line in (root / "data/describe/descriptions.jsonl").read_text().splitlines()]
    params = parse_params(micro_params())
    assert params.workers == 2 and params.describe.batch_size == 4 and params.resume.shard_batches == 2
    dataset = load_prepared(root / "data/dataset")
    train = dataset.split("train")
    assert len(train) == 16  # two shards
    gen = open_generator("hf", root / "models/round-0", 4, params.seed)
    prompts = load_prompts(params.dataset.name, root / "prompts").describe[: params.describe.prompts]
    expected, _ = describe_images(gen, dataset, train, prompts, params.describe)
    assert written == expected
    assert len({d["text"] for d in written}) > 1  # sampled text, not one repeated answer


def test_a_generation_offset_must_start_a_batch(micro_project):
    from selfsynth.lmm.backend import open_generator
    from selfsynth.lmm.hf import Sampling

    root, _ = micro_project
    image = str(next((root / "data/dataset/images/test").glob("*.png")))
    gen = open_generator("hf", root / "models/round-0", 4, 0)
    with pytest.raises(ValueError, match="offset 2 does not start a batch of 4"):
        gen.generate([image], ["Describe the bird."], Sampling(max_new_tokens=4), offset=2)
