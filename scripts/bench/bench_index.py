"""Recall@10 and query time of the IVF index against exact search, on clustered data, side by side.

Data: ``--rows`` unit vectors of width ``--dim`` drawn around ``--clusters`` centres of uneven size
and spread (the shape of real embedding sets), plus ``--queries`` held-out points of the same
distribution. Builds ``VectorIndex`` both ways (exact: ``exact_threshold`` above n; IVF: the
defaults, ``nlist = 4 sqrt(n)``, ``nprobe = ivf_nprobe(nlist)``), times the build and the search of
all queries, and prints recall@10 of IVF against exact search, then the same for other nprobe values.
Then the compressed indexes built beyond a memory budget (issue 12), side by side with exact and IVFFlat:
IVF-SQ8 (the budget just under IVFFlat's size) and IVF-PQ (the budget just fits ``--pq-bytes`` bytes a row),
each with its build and query time, recall@10 against exact search and its size (the saved index file, which
is what FAISS holds in memory), as ratios to the exact index.

    .venv/bin/python scripts/bench/bench_index.py [--rows 200000] [--dim 64] [--queries 1000] [--spread 0.6 1.2]
    .venv/bin/python scripts/bench/bench_index.py --rows 1000000 --dim 384 --clusters 2000 --pq-bytes 48
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tagscan.embed.index import VectorIndex, index_bytes, ivf_nlist, ivf_nprobe


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
    parser.add_argument("--pq-bytes", type=int, default=0, help="bytes a row of the IVF-PQ index (default dim / 8)")
    parser.add_argument("--skip-nprobe", action="store_true", help="leave out the table of other nprobe values")
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
    for nprobe in [] if args.skip_nprobe else sorted({8, 16, 32, 64, 128, 256, default} - {default}):
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
    ivf.nprobe = default
    compressed(args, base, queries, truth, {"exact": (exact, exact_build, exact_query), "ivf": (ivf, ivf_build, ivf_query)})
    return 0


def saved_bytes(index: VectorIndex) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "i.faiss"
        index.save(path)
        return path.stat().st_size


def compressed(args, base: np.ndarray, queries: np.ndarray, truth: np.ndarray, built: dict) -> None:
    """Exact, IVFFlat, IVF-SQ8 and IVF-PQ side by side: recall@k, size and times, as ratios to exact."""
    n, d = base.shape
    nlist = ivf_nlist(n)
    m = args.pq_bytes or max(1, d // 8)
    budgets = {
        "ivfsq": index_bytes("ivf", n, d, nlist=nlist) - 1,
        "ivfpq": index_bytes("ivfpq", n, d, nlist=nlist, m=m),
    }
    for kind, budget in budgets.items():
        index, seconds = timed(lambda budget=budget: VectorIndex.build(
            base, exact_threshold=min(n, 100_000), seed=args.seed, memory_budget_bytes=budget))
        assert index.kind == kind, (index.kind, kind)
        (_, found), query = timed(lambda index=index: index.search(queries, args.k))
        built[kind] = (index, seconds, query)
    exact_size, exact_query = saved_bytes(built["exact"][0]), built["exact"][2]
    print(f"\n{n} x {d}: exact vs IVFFlat vs compressed IVF (nlist={nlist}, nprobe={ivf_nprobe(nlist)}, "
          f"PQ {m} bytes a row), recall@{args.k} against exact search")
    print(f"{'index':<8}{'recall':>8}{'size MB':>10}{'size/exact':>12}{'estimate MB':>13}{'build s':>9}"
          f"{'query ms':>10}{'query/exact':>13}")
    for kind, (index, build, query) in built.items():
        _, found = index.search(queries, args.k)
        size = saved_bytes(index)
        estimate = index_bytes(kind, n, d, nlist=nlist if kind != "exact" else 0, m=m if kind == "ivfpq" else 0)
        print(f"{kind:<8}{recall_at(args.k, found, truth):>8.4f}{size / 1e6:>10.1f}{size / exact_size:>12.3f}"
              f"{estimate / 1e6:>13.1f}{build:>9.1f}{query * 1e3:>10.1f}{query / exact_query:>13.3f}")


if __name__ == "__main__":
    sys.exit(main())
