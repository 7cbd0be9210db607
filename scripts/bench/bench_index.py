"""Recall@10 and query time of the IVF index against exact search, on clustered data, side by side.

Data: ``--rows`` unit vectors of width ``--dim`` drawn around ``--clusters`` centres of uneven size
and spread (the shape of real embedding sets), plus ``--queries`` held-out points of the same
distribution. Builds ``VectorIndex`` both ways (exact: ``exact_threshold`` above n; IVF: the
defaults, ``nlist = 4 sqrt(n)``, ``nprobe = ivf_nprobe(nlist)``), times the build and the search of
all queries, and prints recall@10 of IVF against exact search, then the same for other nprobe values.

    .venv/bin/python scripts/bench/bench_index.py [--rows 200000] [--dim 64] [--queries 1000] [--spread 0.6 1.2]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from tagscan.embed.index import VectorIndex, ivf_nprobe


def clustered(
    n: int, d: int, n_clusters: int, rng: np.random.Generator, spread: tuple[float, float]
) -> np.ndarray:
    centres = rng.standard_normal((n_clusters, d))
    weights = 1.0 / np.arange(1, n_clusters + 1) ** 0.7  # uneven cluster sizes
    spread = rng.uniform(*spread, n_clusters)  # uneven tightness (noise per dimension / centre's)
    which = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    rows = centres[which] + spread[which, None] * rng.standard_normal((n, d))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def recall_at(k: int, found: np.ndarray, truth: np.ndarray) -> float:
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum()
    return float(hits) / truth.size


def timed(run):
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spread", type=float, nargs=2, default=(0.6, 1.2), help="range of cluster spreads")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    data = clustered(args.rows + args.queries, args.dim, args.clusters, rng, tuple(args.spread))
    base, queries = data[: args.rows], data[args.rows :]

    exact, exact_build = timed(lambda: VectorIndex.build(base, exact_threshold=args.rows + 1))
    ivf, ivf_build = timed(
        lambda: VectorIndex.build(base, exact_threshold=min(args.rows, 100_000), seed=args.seed)
    )
    (_, truth), exact_query = timed(lambda: exact.search(queries, args.k))
    (_, found), ivf_query = timed(lambda: ivf.search(queries, args.k))
    recall = recall_at(args.k, found, truth)
    print(
        f"{args.rows} x {args.dim} clustered vectors ({args.clusters} clusters, spread {args.spread[0]}-"
        f"{args.spread[1]}), {args.queries} held-out queries"
    )
    print(
        f"exact  IndexFlatIP                     build {exact_build:6.2f} s  query {exact_query * 1e3:8.1f} ms"
    )
    print(
        f"IVF    nlist={ivf.nlist:<5} nprobe={ivf.nprobe:<4} (default)  build {ivf_build:6.2f} s  "
        f"query {ivf_query * 1e3:8.1f} ms  recall@{args.k} {recall:.4f}  speed-up {exact_query / ivf_query:5.1f}x"
    )
    default = ivf.nprobe
    for nprobe in sorted({8, 16, 32, 64, 128, 256, default} - {default}):
        if nprobe > ivf.nlist:
            continue
        ivf.nprobe = nprobe
        (_, found), seconds = timed(lambda: ivf.search(queries, args.k))
        print(
            f"IVF    nlist={ivf.nlist:<5} nprobe={nprobe:<4}            "
            f"                  query {seconds * 1e3:8.1f} ms  recall@{args.k} {recall_at(args.k, found, truth):.4f}  "
            f"speed-up {exact_query / seconds:5.1f}x"
        )
    assert default == ivf_nprobe(ivf.nlist)
    print(f"recall@{args.k} of the default IVF index: {recall:.4f} (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
