"""Per-cell time of tagscan's exact hypergeometric upper tail against scipy.stats.hypergeom.sf.

Builds `--cells` realistic (group, label) cells with a seed: universe of `--total` samples, group
sizes log-uniform in 30..50,000, label counts log-uniform in 1..100,000, and the count k drawn by
one of two mixes:

* spread: k = mean + sd * U(-3, 10) plus a jitter of 0..3, clipped to the support (from 0 to far
  above the expectation, as in a scan's planted and extreme cells);
* null: 90% of cells drawn from the null hypergeometric itself (k = 0 whenever the expectation is
  small), 10% from a planted lift of 1.5..20x.

Both run in one process: tagscan on all cells, scipy on a random subsample (`--scipy-cells`, scipy
is slow), each `--repeat` times; prints the median wall time per cell of each, their ratio, and the
largest relative error against scipy where scipy's p < 0.05 (and the largest absolute error
elsewhere). Note that scipy (Boost) is itself off by up to ~3e-10 at total = 1e6; see
tests/scan/test_stats.py for the comparison with exact arithmetic.

    .venv/bin/python scripts/bench/bench_hypergeom.py [--cells 1000000] [--mix spread null] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.stats import hypergeom

from tagscan.scan.stats import hypergeom_upper_tail


def build_cells(mix: str, cells: int, total: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(30), np.log(50_000), cells)).astype(np.int64)
    K = np.exp(rng.uniform(0, np.log(100_000), cells)).astype(np.int64)
    N = np.full(cells, total, dtype=np.int64)
    mean = n * K / total
    hi = np.minimum(n, K)
    if mix == "spread":
        sd = np.sqrt(mean * (1 - K / total) * (total - n) / (total - 1))
        k = np.floor(mean + sd * rng.uniform(-3, 10, cells)).astype(np.int64) + rng.integers(0, 4, cells)
    elif mix == "null":
        planted = rng.random(cells) < 0.1
        lift = np.exp(rng.uniform(np.log(1.5), np.log(20), cells))
        k = np.where(
            planted,
            rng.binomial(n, np.minimum(1.0, K / total * lift)),
            rng.hypergeometric(K, total - K, n),
        )
    else:
        raise SystemExit(f"unknown --mix {mix!r}; use spread or null")
    return np.clip(k, 0, hi), n, K, N


def median_time(repeat: int, fn, *fn_args) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*fn_args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def scipy_per_call(k: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray) -> None:
    for i in range(len(k)):
        hypergeom.sf(k[i] - 1, N[i], K[i], n[i])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--scipy-cells", type=int, default=20_000)
    ap.add_argument("--total", type=int, default=1_000_000)
    ap.add_argument("--mix", nargs="+", default=["spread", "null"], choices=["spread", "null"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    for mix in args.mix:
        k, n, K, N = build_cells(mix, args.cells, args.total, args.seed)
        sub = np.random.default_rng(args.seed + 1).choice(args.cells, size=min(args.scipy_cells, args.cells), replace=False)
        ks, ns, Ks, Ns = k[sub], n[sub], K[sub], N[sub]
        hypergeom_upper_tail(ks, ns, Ks, Ns)  # warm-up: builds the Stirling tables once

        t_ours = median_time(args.repeat, hypergeom_upper_tail, k, n, K, N) / args.cells
        t_scipy = median_time(args.repeat, hypergeom.sf, ks - 1, Ns, Ks, ns) / sub.size

        ours = hypergeom_upper_tail(ks, ns, Ks, Ns)
        ref = hypergeom.sf(ks - 1, Ns, Ks, ns)
        small = (ref < 0.05) & (ref > 1e-300)
        rel = float((np.abs(ours - ref)[small] / ref[small]).max()) if small.any() else float("nan")
        absolute = float(np.abs(ours - ref)[~small].max()) if (~small).any() else float("nan")
        interior = (k > np.maximum(0, n + K - N)) & (k <= np.minimum(n, K))
        # The loop a user writes without a vectorised kernel: one scipy call per cell.
        m = min(2_000, sub.size)

        t_call = median_time(3, scipy_per_call, ks[:m], ns[:m], Ks[:m], Ns[:m]) / m
        print(
            f"mix={mix:<6} cells={args.cells:,} (non-trivial {interior.mean():.0%}, "
            f"p<0.05 in scipy sample {small.mean():.0%})  "
            f"tagscan {t_ours * 1e9:,.0f} ns/cell  scipy vectorised {t_scipy * 1e9:,.0f} ns/cell "
            f"(ratio {t_scipy / t_ours:,.1f}x)  scipy one call per cell {t_call * 1e9:,.0f} ns/cell "
            f"(ratio {t_call / t_ours:,.0f}x)  max rel err (p<0.05) {rel:.2e}  max abs err (else) {absolute:.2e}"
        )


if __name__ == "__main__":
    main()
