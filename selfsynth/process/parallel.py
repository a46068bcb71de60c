"""Independent jobs of a stage (one per method) side by side, one process each.

A tiny model cannot keep two cores busy with one process (Python overhead between small
kernels), so two single-threaded processes finish four methods ~1.4x sooner than one
two-threaded process doing them in turn. Workers only compute and return; the stage process
writes every output and the tracking store. Workers die with the stage (guard.init_worker), and
when the stage fails or is interrupted the queue is cancelled and the workers killed, so no
method starts, and nothing is written, after the stage is gone.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from itertools import pairwise
from typing import Callable, Sequence, TypeVar

import torch

from .guard import init_worker

J = TypeVar("J")
R = TypeVar("R")
log = logging.getLogger(__name__)


def worker_count(requested: int, jobs: int) -> int:
    """`workers` as given, never more than jobs; 1 on CUDA, where one process owns the GPU.
    Never derived from the core count: the result must not depend on the machine."""
    if torch.cuda.is_available():
        return 1
    return max(1, min(jobs, requested))


def _kill(pool: ProcessPoolExecutor) -> None:
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, AttributeError):
            pass


def batch_spans(n: int, batch_size: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of at most `parts` contiguous shares of n items, as even as whole batches allow:
    cut between batches, so each share is batched (and seeded) as the whole would be."""
    batches = -(-n // batch_size)
    parts = max(1, min(parts, batches))
    cuts = [min(n, round(i * batches / parts) * batch_size) for i in range(parts + 1)]
    return list(pairwise(cuts))


def shard_spans(n: int, batch_size: int, batches: int) -> list[tuple[int, int]]:
    """[start, stop) of shards of `batches` whole batches each (the last one shorter): each shard
    is batched, and seeded, as one run over all n items would be."""
    size = batch_size * batches
    return [(a, min(n, a + size)) for a in range(0, n, size)] or [(0, 0)]


def longest_first(costs: Sequence[float]) -> list[int]:
    """Job indices by falling cost, ties in job order: the longest-processing-time rule, so that the
    workers finish together instead of one idling through the last long job (measured on the study's
    round 1: in job order one core sat idle for 2 of the stage's 10 minutes)."""
    return sorted(range(len(costs)), key=lambda i: (-costs[i], i))


def run_jobs(fn: Callable[[J], R], jobs: Sequence[J], workers: int, threads: int = 1,
             costs: Sequence[float] | None = None, on_result: Callable[[int, R], None] | None = None) -> list[R]:
    """fn over jobs; in `workers` forked processes of `threads` threads each when more than one
    (Linux), else in turn in this process (whose threads the stage already fixed). costs, an
    estimate per job, start the costliest first; results come back in job order either way.
    Each job computes alone in its process, so neither the order nor the worker changes a result.
    on_result(i, result) runs here as each job finishes (resume.run_units keeps it)."""
    if costs is not None and len(costs) != len(jobs):
        raise ValueError(f"run_jobs: {len(costs)} costs for {len(jobs)} jobs")
    n = worker_count(workers, len(jobs))
    keep = on_result or (lambda i, result: None)
    if n <= 1 or sys.platform != "linux":
        results = []
        for i, job in enumerate(jobs):
            results.append(fn(job))
            keep(i, results[-1])
        return results
    order = longest_first(costs) if costs is not None else list(range(len(jobs)))
    log.info("running %d jobs in %d processes x %d threads", len(jobs), n, threads)
    pool = ProcessPoolExecutor(n, mp_context=mp.get_context("fork"), initializer=init_worker,
                               initargs=(os.getpid(), threads))
    try:
        futures = {pool.submit(fn, jobs[i]): i for i in order}
        pending = set(futures)
        while pending:  # a failure stops the rest at once, not when the jobs before it in job order are done
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=futures.get):  # the jobs that finished beside a failure are kept too
                if not f.exception():
                    keep(futures[f], f.result())
            failed = [f.exception() for f in sorted(done, key=futures.get) if f.exception()]
            if failed:
                raise failed[0]
        results = [f.result() for f in sorted(futures, key=futures.get)]
    except BaseException:  # a failed job, Ctrl-C or SIGTERM: nothing more starts
        pool.shutdown(wait=False, cancel_futures=True)
        _kill(pool)
        raise
    pool.shutdown()
    return results
