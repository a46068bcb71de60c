"""Step 1.2 at CUB scale: the vectorised selection against the authors' per-image reference.

Random unit embeddings (seeded) stand in for encoder outputs: the cost does not depend on the
values. For each dimension the fast path runs on all images; the reference runs on all
images or, with --reference-images N, on a random subset of N images (negatives are still
every other image's descriptions) and its full-scale time is extrapolated linearly. The
selections are compared on the images the reference ran on.

    python benchmarks/select_scale.py                       # CUB: 5994 images x 30, 200 x 15
    python benchmarks/select_scale.py --images 1500 --reference-images 200
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from selfsynth.core.params import load_params  # noqa: E402
from selfsynth.method.select import reference_select_concepts, select_concepts  # noqa: E402


def unit_rows(rng: np.random.Generator, n: int, d: int, chunk: int = 1 << 15) -> np.ndarray:
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - s), d), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:s + chunk] = x
    return out


def problem(rng, n_images, n_desc, n_classes, n_concepts, d):
    image_class = rng.permutation(np.arange(n_images) % n_classes)
    desc_owner = rng.permutation(np.repeat(np.arange(n_images), n_desc))  # not grouped by image
    concept_class = np.repeat(np.arange(n_classes), n_concepts)
    return (unit_rows(rng, desc_owner.size, d), desc_owner, unit_rows(rng, concept_class.size, d),
            concept_class, image_class)


def measured(fn):
    """(result, seconds, peak MiB allocated during the call above what existed before)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    res = fn()
    secs = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return res, secs, peak / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5994)
    ap.add_argument("--descriptions", type=int, default=30, help="per image")
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--concepts", type=int, default=15, help="per class")
    ap.add_argument("--dims", type=int, nargs="+", default=[384, 1024])
    ap.add_argument("--reference-images", type=int, default=None,
                    help="time the reference on this many random images and extrapolate (default: all)")
    select = load_params(REPO / "params.yaml").select  # the study's beta, tau and floor unless given
    ap.add_argument("--beta", type=float, default=select.beta)
    ap.add_argument("--tau", type=float, default=select.tau)
    ap.add_argument("--min-concepts", type=int, default=select.min_concepts)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    n_ref = a.images if a.reference_images is None else max(1, min(a.reference_images, a.images))
    kw = dict(beta=a.beta, tau=a.tau, min_concepts=a.min_concepts)

    print(f"{a.images} images x {a.descriptions} descriptions = {a.images * a.descriptions} descriptions; "
          f"{a.classes} classes x {a.concepts} concepts; tau={a.tau} beta={a.beta} seed={a.seed}")
    if n_ref < a.images:
        print(f"reference timed on {n_ref} random images, EXTRAPOLATED linearly to {a.images}; "
              f"selections compared on those {n_ref}")
    rows = []
    for d in a.dims:
        rng = np.random.default_rng([a.seed, d])
        D, owner, C, cclass, iclass = problem(rng, a.images, a.descriptions, a.classes, a.concepts, d)
        subset = np.sort(rng.choice(a.images, size=n_ref, replace=False))
        fast, t_fast, m_fast = measured(lambda: select_concepts(D, owner, C, cclass, iclass, **kw))
        ref, t_ref, m_ref = measured(lambda: reference_select_concepts(D, owner, C, cclass, iclass,
                                                                       images=subset, **kw))
        same = sum(np.array_equal(fast[i].selected, r.selected) for i, r in zip(subset, ref))
        dscore = max(float(np.max(np.abs(fast[i].scores - r.scores))) for i, r in zip(subset, ref))
        t_ref_full = t_ref * a.images / n_ref
        rows.append((d, t_fast, t_ref, t_ref_full, t_ref_full / t_fast, m_fast, m_ref, same, n_ref, dscore,
                     D.nbytes / 2**20))
        print(f"  d={d}: fast {t_fast:.2f}s, reference {t_ref:.2f}s on {n_ref} images", flush=True)
        del D, C, fast, ref

    full = "ref s (all)" if n_ref == a.images else f"ref s (extrap. x{a.images / n_ref:.1f})"
    w = max(20, len(full))
    head = (f"{'d':>5} | {'fast s':>7} | {f'ref s ({n_ref} img)':>16} | {full:>{w}} | {'speed-up':>8} | "
            f"{'fast peak MiB':>13} | {'ref peak MiB':>12} | {'identical':>11} | {'max |dS|':>8} | {'desc emb MiB':>12}")
    print()
    print(head)
    print("-" * len(head))
    for d, tf, tr, trf, ratio, mf, mr, same, n, ds, nb in rows:
        print(f"{d:>5} | {tf:>7.2f} | {tr:>16.2f} | {trf:>{w}.1f} | {ratio:>7.0f}x | {mf:>13.1f} | {mr:>12.1f} | "
              f"{f'{same}/{n}':>11} | {ds:>8.1e} | {nb:>12.1f}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak MiB = tracemalloc peak of new allocations during the call (inputs excluded); "
          f"process max RSS {maxrss:.0f} MiB")
    ok = all(r[7] == r[8] for r in rows)
    print(f"identical selections: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
