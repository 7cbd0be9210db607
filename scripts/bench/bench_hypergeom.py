"""Per-cell time of tagscan's exact hypergeometric upper tail against scipy.stats.hypergeom.sf.

Three cell mixes, each built with a seed:

* scan: the non-zero (label, group) cells of a scan at the issue's headline size: `--samples`
  1,000,000 samples with 10 predictions each over `--labels` 50,000 labels (Zipf popularity),
  1,000 groups: three attributes and one intersection (within the 60% of samples that are
  people) plus clusters at k = 64, 256 and 666 on the held-out half (uneven sizes). Every cell
  as the scan tests it: its count, group size, label count and universe.
* spread: `--cells` cells in a universe of `--total`, group sizes log-uniform in 30..50,000, label
  counts log-uniform in 1..100,000, k = mean + sd * U(-3, 10) plus a jitter of 0..3, clipped to
  the support (from 0 to far above the expectation, as in a scan's planted and extreme cells);
* null: same margins, 90% of cells drawn from the null hypergeometric itself (k = 0 whenever the
  expectation is small), 10% from a planted lift of 1.5..20x.

All in one process, side by side: tagscan on all cells; scipy vectorised (one `hypergeom.sf`
call on an array) on a random subsample of `--scipy-cells`; and one scipy call per cell (the loop
one writes without a vectorised kernel, the baseline of the issue's "100x faster per cell") on
2,000 of them. Prints the median time per cell of each over `--repeat` runs, the ratios, the
largest relative error against scipy where scipy's p < 0.05 and the largest absolute error
elsewhere. Note that scipy (Boost) is itself off by up to ~3e-10 at total = 1e6; see
tests/scan/test_stats.py for the comparison with exact arithmetic.

`--breakdown` also splits each mix by the cell's null standard deviation (trivial cells, whose
answer is 0 or 1 from the margins, apart), showing where the time goes on both sides: scipy's
vectorised Boost kernel and tagscan both sum the tail term by term, so cells with wide
distributions (sd >= 5, a few hundred terms) cost both a similar multiple.

    .venv/bin/python scripts/bench/bench_hypergeom.py [--mix scan spread null] [--repeat 5] [--breakdown]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp
from scipy.stats import hypergeom

from tagscan.scan.stats import hypergeom_upper_tail


def scan_cells(samples: int, labels: int, seed: int, per: int = 10) -> tuple[np.ndarray, ...]:
    """(k, n, K, N) of every non-zero cell of a 1,000-group scan (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, labels + 1) ** 0.9
    pop /= pop.sum()
    rows = np.repeat(np.arange(samples), per)
    cols = rng.choice(labels, size=samples * per, p=pop)
    Y = sp.csr_matrix((np.ones(rows.size, dtype=np.int64), (rows, cols)), shape=(samples, labels))
    Y.data[:] = 1  # a label predicted twice for one sample counts once
    people = np.flatnonzero(rng.random(samples) < 0.6)
    tone, gender, age = (rng.integers(0, m, people.size) for m in (3, 2, 3))
    groupings = [(people, codes) for codes in (tone, gender, age, tone * 2 + gender)]
    held_out = np.flatnonzero(rng.random(samples) < 0.5)
    for k in (64, 256, 666):
        sizes = rng.dirichlet(np.full(k, 5.0))
        groupings.append((held_out, rng.choice(k, size=held_out.size, p=sizes)))
    parts = []
    for universe, codes in groupings:
        Yu = Y[universe]
        m = int(codes.max()) + 1
        G = sp.csr_matrix((np.ones(universe.size, dtype=np.int64), (np.arange(universe.size), codes)), shape=(universe.size, m))
        C = (G.T @ Yu).tocoo()
        K = np.asarray(Yu.sum(axis=0)).ravel()
        n = np.bincount(codes, minlength=m)
        parts.append((C.data.astype(np.int64), n[C.row], K[C.col], np.full(C.nnz, universe.size, dtype=np.int64)))
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(4))


def synthetic_cells(mix: str, cells: int, total: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(30), np.log(50_000), cells)).astype(np.int64)
    K = np.exp(rng.uniform(0, np.log(100_000), cells)).astype(np.int64)
    N = np.full(cells, total, dtype=np.int64)
    mean = n * K / total
    hi = np.minimum(n, K)
    if mix == "spread":
        sd = np.sqrt(mean * (1 - K / total) * (total - n) / (total - 1))
        k = np.floor(mean + sd * rng.uniform(-3, 10, cells)).astype(np.int64) + rng.integers(0, 4, cells)
    else:
        planted = rng.random(cells) < 0.1
        lift = np.exp(rng.uniform(np.log(1.5), np.log(20), cells))
        k = np.where(planted, rng.binomial(n, np.minimum(1.0, K / total * lift)), rng.hypergeometric(K, total - K, n))
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


def null_sd(n: np.ndarray, K: np.ndarray, N: np.ndarray) -> np.ndarray:
    mean = n * K / N
    return np.sqrt(mean * (1 - K / N) * (N - n) / np.maximum(N - 1, 1))


def compare(name: str, k, n, K, N, args) -> None:
    sub = np.random.default_rng(args.seed + 1).choice(k.size, size=min(args.scipy_cells, k.size), replace=False)
    ks, ns, Ks, Ns = k[sub], n[sub], K[sub], N[sub]
    hypergeom_upper_tail(ks, ns, Ks, Ns)  # warm-up: builds the Stirling tables once
    t_ours = median_time(args.repeat, hypergeom_upper_tail, k, n, K, N) / k.size
    t_vec = median_time(args.repeat, hypergeom.sf, ks - 1, Ns, Ks, ns) / sub.size
    m = min(2_000, sub.size)
    t_call = median_time(3, scipy_per_call, ks[:m], ns[:m], Ks[:m], Ns[:m]) / m

    ours = hypergeom_upper_tail(ks, ns, Ks, Ns)
    ref = hypergeom.sf(ks - 1, Ns, Ks, ns)
    small = (ref < 0.05) & (ref > 1e-300)
    rel = float((np.abs(ours - ref)[small] / ref[small]).max()) if small.any() else float("nan")
    absolute = float(np.abs(ours - ref)[~small].max()) if (~small).any() else float("nan")
    trivial = (k <= np.maximum(0, n + K - N)) | (k > np.minimum(n, K))
    print(
        f"mix={name:<6} cells={k.size:,} (trivial {trivial.mean():.0%}, p<0.05 in scipy sample {small.mean():.0%})\n"
        f"  tagscan                    {t_ours * 1e9:>8,.0f} ns/cell\n"
        f"  scipy, one call per cell   {t_call * 1e9:>8,.0f} ns/cell   ratio {t_call / t_ours:>6,.0f}x\n"
        f"  scipy, vectorised call     {t_vec * 1e9:>8,.0f} ns/cell   ratio {t_vec / t_ours:>6,.1f}x\n"
        f"  max relative error where p < 0.05: {rel:.2e}; max absolute error elsewhere: {absolute:.2e}"
    )
    if not args.breakdown:
        return
    sd = null_sd(n, K, N)
    klass = np.select([trivial, sd < 1, sd < 5, sd < 20], [0, 1, 2, 3], default=4)
    for c, label in enumerate(["trivial", "sd < 1", "1 <= sd < 5", "5 <= sd < 20", "sd >= 20"]):
        idx = np.flatnonzero(klass == c)
        if idx.size == 0:
            continue
        ki, ni, Ki, Ni = k[idx], n[idx], K[idx], N[idx]
        t_o = median_time(args.repeat, hypergeom_upper_tail, ki, ni, Ki, Ni) / idx.size
        s = idx[: min(args.scipy_cells, idx.size)]
        t_v = median_time(args.repeat, hypergeom.sf, k[s] - 1, N[s], K[s], n[s]) / s.size
        print(
            f"    {label:<13} {idx.size / k.size:>4.0%} of cells   tagscan {t_o * 1e9:>6,.0f} ns   "
            f"scipy vectorised {t_v * 1e9:>7,.0f} ns   ratio {t_v / t_o:>5,.1f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mix", nargs="+", default=["scan", "spread", "null"], choices=["scan", "spread", "null"])
    ap.add_argument("--samples", type=int, default=1_000_000, help="scan mix: samples")
    ap.add_argument("--labels", type=int, default=50_000, help="scan mix: labels")
    ap.add_argument("--cells", type=int, default=1_000_000, help="spread and null mixes: cells")
    ap.add_argument("--total", type=int, default=1_000_000, help="spread and null mixes: universe size")
    ap.add_argument("--scipy-cells", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--breakdown", action="store_true", help="split each mix by the cells' null sd")
    args = ap.parse_args()

    for mix in args.mix:
        if mix == "scan":
            cells = scan_cells(args.samples, args.labels, args.seed)
        else:
            cells = synthetic_cells(mix, args.cells, args.total, args.seed)
        compare(mix, *cells, args)


if __name__ == "__main__":
    main()
