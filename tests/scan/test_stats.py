"""Oracle and property tests for tagscan.scan.stats.

Oracles: scipy.stats.hypergeom / fisher_exact, exact rational arithmetic (math.comb + fractions),
brute-force loops for Tarone and the step-up procedures, hand computations for Wilson and the rate
ratio, and a simulated two-gamma mixture for the GPS fit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy.stats import fisher_exact, hypergeom

from tagscan.scan import stats

# --------------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------------


def exact_upper(k: int, n: int, K: int, N: int) -> float:
    """P(X >= k) as an exact fraction of binomial coefficients, rounded once to float."""
    lo, hi = max(0, n + K - N), min(n, K)
    k = max(k, lo)
    if k > hi:
        return 0.0
    term = math.comb(K, k) * math.comb(N - K, n - k)  # C(K, x) C(N - K, n - x), exactly
    num = term
    for x in range(k, hi):
        term = term * (K - x) * (n - x) // ((x + 1) * (N - K - n + x + 1))  # exact division
        num += term
    return float(Fraction(num, math.comb(N, n)))


def exact_log(value: Fraction) -> float:
    """log of a positive fraction to double precision, even when the fraction underflows a float."""
    shift = value.numerator.bit_length() - value.denominator.bit_length()
    return math.log(float(value / Fraction(2) ** shift)) + shift * math.log(2.0)


def rel_err(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(got - ref) / np.abs(ref)


def assert_tail_close(got: np.ndarray, ref: np.ndarray, *, rtol: float, atol: float) -> None:
    """Relative tolerance where ref < 0.05 (and not underflowed), absolute tolerance elsewhere."""
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    small = (ref < 0.05) & (ref > 1e-300)
    if small.any():
        worst = rel_err(got[small], ref[small]).max()
        assert worst < rtol, f"max relative error {worst:.3g} where p < 0.05"
    assert np.abs(got - ref).max() < atol
    tiny = ref <= 1e-300
    assert (got[tiny] < 1e-290).all()


def all_small_cells(max_total: int) -> tuple[np.ndarray, ...]:
    """Every (k, n, K, N) with 1 <= N <= max_total and -1 <= k <= min(n, K) + 2."""
    rows = []
    for N in range(1, max_total + 1):
        K, n = np.meshgrid(np.arange(N + 1), np.arange(N + 1), indexing="ij")
        K, n = K.ravel(), n.ravel()
        top = np.minimum(n, K) + 2
        reps = top + 2  # k = -1 .. top
        kk = np.concatenate([np.arange(-1, t + 1) for t in top])
        rows.append((kk, np.repeat(n, reps), np.repeat(K, reps), np.full(reps.sum(), N)))
    return tuple(np.concatenate(c) for c in zip(*rows))


def realistic_cells(m: int, seed: int, total: int = 1_000_000) -> tuple[np.ndarray, ...]:
    """Group sizes 30..5e4 and label counts 1..1e5 (log-uniform), k from 0 to far above its mean."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(30), np.log(50_000), m)).astype(np.int64)
    K = np.exp(rng.uniform(0, np.log(100_000), m)).astype(np.int64)
    mean = n * K / total
    sd = np.sqrt(mean * (1 - K / total) * (1 - n / total)) + 0.5
    k = np.floor(mean + sd * rng.uniform(-6, 12, m) + rng.integers(0, 4, m)).astype(np.int64)
    return k, n, K, np.full(m, total)


# --------------------------------------------------------------------------------------------------
# Hypergeometric tails
# --------------------------------------------------------------------------------------------------


def test_tails_match_scipy_on_every_small_table() -> None:
    k, n, K, N = all_small_cells(30)
    assert_tail_close(stats.hypergeom_upper_tail(k, n, K, N), hypergeom.sf(k - 1, N, K, n), rtol=1e-12, atol=1e-13)
    assert_tail_close(stats.hypergeom_lower_tail(k, n, K, N), hypergeom.cdf(k, N, K, n), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1])
def test_tails_match_scipy_on_realistic_margins(seed: int) -> None:
    k, n, K, N = realistic_cells(20_000, seed)
    # Boost (behind scipy) is itself off by up to ~3e-10 at total = 1e6; see the exact test below.
    assert_tail_close(stats.hypergeom_upper_tail(k, n, K, N), hypergeom.sf(k - 1, N, K, n), rtol=1e-9, atol=1e-9)
    assert_tail_close(stats.hypergeom_lower_tail(k, n, K, N), hypergeom.cdf(k, N, K, n), rtol=1e-9, atol=1e-9)


def test_tails_match_scipy_on_random_large_margins() -> None:
    rng = np.random.default_rng(7)
    m = 5_000
    N = rng.integers(2, 1_000_001, m)
    n = (rng.random(m) ** 2 * N).astype(np.int64)
    K = (rng.random(m) ** 2 * N).astype(np.int64)
    mean = n * K / N
    k = np.floor(mean + np.sqrt(mean + 1) * rng.normal(0, 4, m)).astype(np.int64)
    assert_tail_close(stats.hypergeom_upper_tail(k, n, K, N), hypergeom.sf(k - 1, N, K, n), rtol=1e-9, atol=1e-9)
    assert_tail_close(stats.hypergeom_lower_tail(k, n, K, N), hypergeom.cdf(k, N, K, n), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("k", "n", "K", "N"),
    [
        (7, 7813, 215, 1_000_000),  # Boost is off by 2.7e-10 here
        (3, 1000, 300, 1_000_000),
        (2, 30, 5, 1_000_000),
        (40, 900, 20_000, 1_000_000),  # tail of a Poisson-like cell
        (1, 120, 40_000, 1_000_000),  # below the mode: 1 - lower tail
        (31, 1500, 1500, 100_000),
        (12, 150, 3_000_000, 100_000_000),  # total 1e8: Boost is off by ~1e-8 at this size
        (9, 40, 25, 60),
    ],
)
def test_upper_tail_matches_exact_arithmetic(k: int, n: int, K: int, N: int) -> None:
    exact = exact_upper(k, n, K, N)
    got = float(stats.hypergeom_upper_tail(k, n, K, N))
    assert abs(got - exact) <= 1e-12 * exact
    lower = float(stats.hypergeom_lower_tail(k - 1, n, K, N))
    assert abs(lower - (1.0 - exact)) <= 1e-12


def test_pmf_log_matches_exact_arithmetic() -> None:
    cases = [(2, 3, 4, 10), (0, 30, 5, 1_000_000), (5, 7813, 215, 1_000_000), (1150, 1500, 1500, 2000), (1000, 1500, 1500, 2000)]
    for k, n, K, N in cases:
        exact = exact_log(Fraction(math.comb(K, k) * math.comb(N - K, n - k), math.comb(N, n)))
        assert float(stats.hypergeom_pmf_log(k, n, K, N)) == pytest.approx(exact, rel=1e-13, abs=1e-12)


def test_hand_computed_tiny_example() -> None:
    # N = 10, K = 4, n = 3: P(X = 2) = C(4,2) C(6,1) / C(10,3) = 36 / 120, P(X = 3) = 4 / 120.
    assert float(stats.hypergeom_upper_tail(2, 3, 4, 10)) == pytest.approx(40 / 120, rel=1e-14)
    assert float(stats.hypergeom_lower_tail(1, 3, 4, 10)) == pytest.approx(80 / 120, rel=1e-14)
    assert float(np.exp(stats.hypergeom_pmf_log(2, 3, 4, 10))) == pytest.approx(36 / 120, rel=1e-14)
    assert float(stats.min_attainable_pvalue(3, 4, 10)) == pytest.approx(4 / 120, rel=1e-14)
    # "less": the smallest count is max(0, n + K - N) = 0: C(6, 3) / C(10, 3) = 20 / 120.
    assert float(stats.min_attainable_pvalue(3, 4, 10, alternative="less")) == pytest.approx(20 / 120, rel=1e-14)


@pytest.mark.parametrize(
    "table",
    [[[3, 1], [1, 3]], [[8, 2], [1, 5]], [[12, 5], [29, 2]], [[0, 5], [10, 10]], [[25, 75], [400, 99_500]], [[5, 0], [0, 5]]],
)
def test_upper_tail_matches_fisher_exact(table: list[list[int]]) -> None:
    (k, n_minus_k), (K_minus_k, rest) = table
    n, K = k + n_minus_k, k + K_minus_k
    N = n + K_minus_k + rest
    expected = fisher_exact(table, alternative="greater").pvalue
    assert float(stats.hypergeom_upper_tail(k, n, K, N)) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_edge_cases() -> None:
    up, low = stats.hypergeom_upper_tail, stats.hypergeom_lower_tail
    assert float(up(0, 50, 10, 1000)) == 1.0
    assert float(up(-3, 50, 10, 1000)) == 1.0
    assert float(up(11, 50, 10, 1000)) == 0.0  # k > min(n, K)
    assert float(up(51, 50, 100, 1000)) == 0.0
    assert float(up(0, 50, 0, 1000)) == 1.0 and float(up(1, 50, 0, 1000)) == 0.0  # label never predicted
    assert float(up(0, 0, 10, 1000)) == 1.0 and float(up(1, 0, 10, 1000)) == 0.0  # empty group
    # Group is the whole universe: X = K surely.
    assert float(up(10, 1000, 10, 1000)) == 1.0 and float(up(11, 1000, 10, 1000)) == 0.0
    assert float(low(10, 1000, 10, 1000)) == 1.0 and float(low(9, 1000, 10, 1000)) == 0.0
    # k <= n + K - N: the support starts above k.
    assert float(up(5, 8, 7, 10)) == 1.0 and float(low(4, 8, 7, 10)) == 0.0
    assert float(low(10, 50, 10, 1000)) == 1.0
    assert float(stats.min_attainable_pvalue(50, 0, 1000)) == 1.0
    assert float(stats.min_attainable_pvalue(1000, 10, 1000)) == 1.0
    assert np.isneginf(stats.hypergeom_pmf_log(11, 50, 10, 1000))


def test_shapes_and_broadcasting() -> None:
    out = stats.hypergeom_upper_tail(2, 3, 4, 10)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64
    grid = stats.hypergeom_upper_tail(np.arange(4)[:, None], np.array([3, 5, 7])[None, :], 4, 10)
    assert grid.shape == (4, 3)
    assert grid[2, 0] == pytest.approx(hypergeom.sf(1, 10, 4, 3), rel=1e-14)
    assert stats.hypergeom_upper_tail([], [], [], []).shape == (0,)
    # Whole-valued floats are accepted.
    assert float(stats.hypergeom_upper_tail(2.0, 3.0, 4.0, 10.0)) == pytest.approx(1 / 3, rel=1e-14)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1, 11, 4, 10), r"group_size must be <= total; found group_size=11 with total=10"),
        ((1, 3, 12, 10), r"label_count must be <= total; found label_count=12 with total=10"),
        ((1, -1, 4, 10), r"group_size must be >= 0; found -1"),
        ((1.5, 3, 4, 10), r"k must hold whole numbers \(counts\); found 1.5"),
        ((1, 3, 4, 2**53), r"total must be below 2\*\*53"),
    ],
)
def test_invalid_margins_are_named(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stats.hypergeom_upper_tail(*args)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: stats.count_testable_pairs([5, 20], [1, 2], 10, 0.05), r"group_size must be <= total; found group_size=20"),
        (lambda: stats.count_testable_pairs([5], [1], [10, 11], 0.05), r"total must be a scalar \(one universe\)"),
        (lambda: stats.count_testable_pairs([5], [1], 10, float("nan")), "level must be a number; found nan"),
        (lambda: stats.testable_label_ranges([5], [3, 1], 10, 0.05), "sorted_label_counts must be sorted ascending"),
        (lambda: stats.min_attainable_pvalue(3, 4, 10, alternative="two-sided"), "alternative must be 'greater' or 'less'"),
        (lambda: stats.tarone_bh_family([0.1], 0.05, method="holm"), "method must be 'bh' or 'bonferroni'"),
        (lambda: stats.tarone_bh_family([0.1], 0.0), r"alpha must be in \(0, 1\]"),
        (lambda: stats.tarone_bh_family([1.5], 0.05), r"min_p must hold probabilities in \[0, 1\]"),
        (lambda: stats.tarone_threshold([5], [3], 10, 2.0), r"alpha must be in \(0, 1\]"),
        (lambda: stats.rate_ratio_ci(6, 5, 1, 10), "a must satisfy 0 <= a <= n1; found a=6, n1=5"),
        (lambda: stats.benjamini_hochberg([0.1, 0.2], m=1.5), "m must be a whole number"),
        (lambda: stats.hypergeom_upper_tail("a", 3, 4, 10), "k must be an integer array of counts"),
        (lambda: stats.fit_gps_prior([1, 2], [1.0]), "observed and expected must have the same length; found 2 and 1"),
        (lambda: stats.fit_gps_prior([], []), "observed is empty"),
        (lambda: stats.fit_gps_prior([1, 2], [1.0, 1.0], weights=[1.0, -1.0]), "weights must be finite, >= 0"),
    ],
)
def test_error_messages_name_the_rule(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_long_tails_on_huge_margins() -> None:
    # k far below and near the mean with sd ~ 250: complements and long sums, against exact values.
    N, n, K = 1_000_000, 500_000, 500_000
    k = np.array([240_000, 249_000, 249_800, 250_000, 250_400, 251_000, 252_000])
    got = stats.hypergeom_upper_tail(k, n, K, N)
    ref = hypergeom.sf(k - 1, N, K, n)
    assert_tail_close(got, ref, rtol=1e-9, atol=1e-9)
    assert got[0] == 1.0


# Hypothesis properties --------------------------------------------------------------------------


@st.composite
def margins(draw, max_total: int = 2_000):
    N = draw(st.integers(1, max_total))
    n = draw(st.integers(0, N))
    K = draw(st.integers(0, N))
    return n, K, N


@settings(max_examples=200, deadline=None)
@given(margins(), st.integers(-3, 2_003), st.integers(0, 20))
def test_tail_properties(m: tuple[int, int, int], k: int, step: int) -> None:
    n, K, N = m
    ks = np.array([k, k + step])
    p = stats.hypergeom_upper_tail(ks, n, K, N)
    q = stats.hypergeom_lower_tail(ks - 1, n, K, N)
    assert ((p >= 0) & (p <= 1)).all() and ((q >= 0) & (q <= 1)).all()
    assert p[1] <= p[0]  # a larger count never gives a larger p-value
    assert np.allclose(p + q, 1.0, rtol=0, atol=1e-12)
    low = stats.hypergeom_lower_tail(ks, n, K, N)
    assert low[1] >= low[0]


@settings(max_examples=100, deadline=None)
@given(margins(max_total=300_000))
def test_min_attainable_pvalue_is_the_smallest_tail(m: tuple[int, int, int]) -> None:
    n, K, N = m
    hi, lo = min(n, K), max(0, n + K - N)
    greater = float(stats.min_attainable_pvalue(n, K, N))
    less = float(stats.min_attainable_pvalue(n, K, N, alternative="less"))
    assert greater == pytest.approx(float(stats.hypergeom_upper_tail(hi, n, K, N)), rel=1e-12)
    assert less == pytest.approx(float(stats.hypergeom_lower_tail(lo, n, K, N)), rel=1e-12)
    if N <= 2_000:
        assert greater == pytest.approx(hypergeom.pmf(hi, N, K, n), rel=1e-9)


# --------------------------------------------------------------------------------------------------
# Tarone
# --------------------------------------------------------------------------------------------------


def test_count_testable_pairs_matches_dense_count() -> None:
    rng = np.random.default_rng(3)
    for _ in range(150):
        N = int(rng.integers(1, 400))
        n = rng.integers(0, N + 1, int(rng.integers(0, 9)))
        K = rng.integers(0, N + 1, int(rng.integers(0, 15)))
        level = float(10 ** rng.uniform(-8, 0))
        for alternative in ("greater", "less"):
            dense = stats.min_attainable_pvalue(n[:, None], K[None, :], N, alternative=alternative) <= level
            got = stats.count_testable_pairs(n, K, N, level, alternative=alternative)
            assert got == int(dense.sum())
            Ks = np.sort(K)
            start, stop = stats.testable_label_ranges(n, Ks, N, level, alternative=alternative)
            dense_sorted = stats.min_attainable_pvalue(n[:, None], Ks[None, :], N, alternative=alternative) <= level
            j = np.arange(Ks.size)[None, :]
            assert ((j >= start[:, None]) & (j < stop[:, None]) == dense_sorted).all()


def test_count_testable_pairs_scales_without_the_dense_table() -> None:
    rng = np.random.default_rng(4)
    n = np.exp(rng.uniform(np.log(30), np.log(50_000), 1_000)).astype(np.int64)
    K = np.exp(rng.uniform(0, np.log(100_000), 50_000)).astype(np.int64)
    count = stats.count_testable_pairs(n, K, 1_000_000, 1e-6)
    # Spot-check a random slice of the 5e7 pairs against the dense definition.
    sub_n, sub_K = n[:40], K[:2_000]
    dense = int((stats.min_attainable_pvalue(sub_n[:, None], sub_K[None, :], 1_000_000) <= 1e-6).sum())
    assert stats.count_testable_pairs(sub_n, sub_K, 1_000_000, 1e-6) == dense
    assert 0 < count < n.size * K.size


def brute_tarone(min_p: np.ndarray, alpha: float) -> tuple[np.ndarray, int, int]:
    for k in range(1, max(1, min_p.size) + 1):
        m = int((min_p <= alpha / k).sum())
        if m <= k:
            return min_p <= alpha / k, m, k
    raise AssertionError("unreachable")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), max_size=60), st.sampled_from([0.01, 0.05, 0.2]))
def test_tarone_bh_family_matches_brute_force(min_p: list[float], alpha: float) -> None:
    arr = np.array(min_p, dtype=float)
    mask, m_eff = stats.tarone_bh_family(arr, alpha)
    bmask, bm, bk = brute_tarone(arr, alpha)
    assert (mask == bmask).all() and m_eff == bm
    mask_b, k_b = stats.tarone_bh_family(arr, alpha, method="bonferroni")
    assert (mask_b == bmask).all() and k_b == (bk if arr.size else 0)


def test_tarone_threshold_agrees_with_the_dense_family() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        N = int(rng.integers(50, 3_000))
        n = rng.integers(1, N, int(rng.integers(1, 12)))
        K = rng.integers(1, N, int(rng.integers(1, 30)))
        level, m_eff = stats.tarone_threshold(n, K, N, 0.05)
        dense = stats.min_attainable_pvalue(n[:, None], K[None, :], N).ravel()
        mask, m_dense = stats.tarone_bh_family(dense, 0.05)
        assert m_eff == m_dense
        assert (dense <= level).sum() == mask.sum()


# --------------------------------------------------------------------------------------------------
# Step-up adjustments
# --------------------------------------------------------------------------------------------------


def textbook_bh(p: np.ndarray, m: int, c: float = 1.0) -> np.ndarray:
    """q_i = min over j with p_j >= p_i of min(1, m c p_j / rank_j), ranks 1..len(p) by p."""
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    q = np.empty(p.size)
    for i in range(p.size):
        q[i] = min(min(1.0, m * c * ranked[j] / (j + 1)) for j in range(i, p.size))
    out = np.empty(p.size)
    out[order] = q
    return out


pvalues = st.lists(st.floats(0, 1), min_size=1, max_size=40).map(np.array)


@settings(max_examples=200, deadline=None)
@given(pvalues, st.integers(0, 100), st.randoms(use_true_random=False))
def test_bh_properties(p: np.ndarray, extra: int, rnd) -> None:
    m = p.size + extra
    q = stats.benjamini_hochberg(p, m=m)
    assert (q >= p).all() and (q <= 1).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(q[order]) >= 0).all()  # monotone in p
    perm = np.array(rnd.sample(range(p.size), p.size))
    assert np.array_equal(stats.benjamini_hochberg(p[perm], m=m), q[perm])  # order-invariant
    assert np.allclose(q, textbook_bh(p, m), rtol=1e-12, atol=1e-300)
    # Untested hypotheses are p = 1: padding them in changes nothing.
    padded = stats.benjamini_hochberg(np.concatenate([p, np.ones(extra)]))
    assert np.allclose(padded[: p.size], q, rtol=1e-12, atol=1e-300)
    by = stats.benjamini_yekutieli(p, m=m)
    assert (by >= q).all() and (by <= 1).all()
    c = sum(1.0 / i for i in range(1, m + 1))
    assert np.allclose(by, textbook_bh(p, m, c), rtol=1e-12, atol=1e-300)


def test_bh_known_values_and_errors() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    assert np.allclose(stats.benjamini_hochberg(p), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert np.allclose(stats.benjamini_hochberg(p, m=10), [0.1, 0.4 / 3, 0.4 / 3, 1.0])
    assert stats.benjamini_hochberg([]).shape == (0,)
    with pytest.raises(ValueError, match=r"m \(family size\) must be >= the number of p-values given; found m=3 < 4"):
        stats.benjamini_hochberg(p, m=3)
    with pytest.raises(ValueError, match=r"p must hold p-values in \[0, 1\]"):
        stats.benjamini_hochberg([0.2, 1.5])
    with pytest.raises(ValueError, match="p must not contain NaN"):
        stats.benjamini_yekutieli([0.2, np.nan])


# --------------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------------


def test_wilson_interval() -> None:
    low, high = stats.wilson_interval(5, 10)
    # By hand: z = 1.959964, center = (5 + z^2/2) / (10 + z^2) = 0.5,
    # half = z / (10 + z^2) * sqrt(5 * 5 / 10 + z^2 / 4) = 0.2634069.
    assert float(low) == pytest.approx(0.2365931, abs=1e-6)
    assert float(high) == pytest.approx(0.7634069, abs=1e-6)
    # The Wilson bounds solve (x/n - p)^2 = z^2 p (1 - p) / n.
    x, n = np.array([0, 1, 7, 30, 99]), np.array([10, 3, 50, 30, 1000])
    low, high = stats.wilson_interval(x, n, confidence=0.9)
    z = special.ndtri(0.95)
    for bound in (low, high):
        assert np.allclose((x / n - bound) ** 2, z**2 * bound * (1 - bound) / n, atol=1e-12)
    assert low[0] == 0.0 and high[3] == pytest.approx(1.0)
    low, high = stats.wilson_interval([0, 2], [0, 4])  # n = 0: the uninformative interval
    assert (low[0], high[0]) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"x must satisfy 0 <= x <= n; found x=5, n=4"):
        stats.wilson_interval(5, 4)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\)"):
        stats.wilson_interval(1, 4, confidence=95)


def test_rate_ratio_ci() -> None:
    lift, low, high = stats.rate_ratio_ci(10, 100, 5, 200)
    se = math.sqrt(1 / 10 - 1 / 100 + 1 / 5 - 1 / 200)  # Katz
    z = special.ndtri(0.975)
    assert float(lift) == pytest.approx(4.0)
    assert float(low) == pytest.approx(4.0 * math.exp(-z * se), rel=1e-12)
    assert float(high) == pytest.approx(4.0 * math.exp(z * se), rel=1e-12)
    assert float(low) == pytest.approx(1.40489, rel=1e-5) and float(high) == pytest.approx(11.38878, rel=1e-5)


def test_rate_ratio_zero_cells_policy() -> None:
    a, n1, b, n0 = np.array([3, 0, 0, 0]), np.array([50, 50, 50, 0]), np.array([0, 6, 0, 1]), np.array([900, 900, 900, 10])
    lift, low, high = stats.rate_ratio_ci(a, n1, b, n0)
    assert np.isfinite(lift[:2]).all() and np.isfinite(low[:2]).all() and np.isfinite(high[:2]).all()
    assert (low[:2] <= lift[:2]).all() and (lift[:2] <= high[:2]).all()
    # Haldane-Anscombe: 0.5 added to every cell of the table, for the point and the interval alike.
    a2, b2, n12, n02 = 3.5, 0.5, 51.0, 901.0
    centre = math.log((a2 / n12) / (b2 / n02))
    se = math.sqrt(1 / a2 - 1 / n12 + 1 / b2 - 1 / n02)
    assert lift[0] == pytest.approx(math.exp(centre), rel=1e-12)
    assert low[0] == pytest.approx(math.exp(centre - special.ndtri(0.975) * se), rel=1e-12)
    assert np.isnan(lift[2]) and np.isnan(low[2]) and np.isnan(high[2])  # no events on either side
    assert np.isnan(lift[3]) and np.isnan(low[3]) and np.isnan(high[3])  # empty group


def test_rate_ratio_issue_cases_inside_their_interval() -> None:
    """Issue 10 item 9: 5/100 vs 0/10000 gave lift inf with CI [60.6, 19568]; 0/100 vs 50/10000 gave 0
    with [0.061, 15.8]. One estimator now: a bounded point inside its own interval."""
    lift, low, high = stats.rate_ratio_ci(5, 100, 0, 10000)
    assert float(lift) == pytest.approx((5.5 / 101) / (0.5 / 10001), rel=1e-12)
    assert float(low) == pytest.approx(60.6, rel=1e-3) and float(high) == pytest.approx(19568, rel=1e-4)
    assert low <= lift <= high and np.isfinite(lift)
    lift, low, high = stats.rate_ratio_ci(0, 100, 50, 10000)
    assert float(low) == pytest.approx(0.0609, rel=1e-2) and float(high) == pytest.approx(15.78, rel=1e-3)
    assert 0 < low <= lift <= high


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 10**6).flatmap(lambda n1: st.tuples(st.integers(0, n1), st.just(n1))),
    st.integers(1, 10**6).flatmap(lambda n0: st.tuples(st.integers(0, n0), st.just(n0))),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_rate_ratio_point_inside_interval(side1, side0, confidence) -> None:
    """Property: whenever the lift is defined it is finite and low <= lift <= high."""
    (a, n1), (b, n0) = side1, side0
    lift, low, high = (float(x) for x in stats.rate_ratio_ci(a, n1, b, n0, confidence=confidence))
    if a == 0 and b == 0:
        assert math.isnan(lift) and math.isnan(low) and math.isnan(high)
        return
    assert all(math.isfinite(x) for x in (lift, low, high))
    assert 0 < low <= lift <= high


# --------------------------------------------------------------------------------------------------
# Gamma-Poisson Shrinker
# --------------------------------------------------------------------------------------------------


def simulate_gps(m: int, seed: int, median_expected: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """80% background lambda ~ Gamma(5, rate 5) (mean 1), 20% signal ~ Gamma(2, rate 0.5) (mean 4)."""
    rng = np.random.default_rng(seed)
    E = np.exp(rng.normal(np.log(median_expected), 1.0, m))
    background = rng.random(m) < 0.8
    lam = np.where(background, rng.gamma(5.0, 1 / 5.0, m), rng.gamma(2.0, 1 / 0.5, m))
    return rng.poisson(lam * E), E


def components(prior: stats.GPSPrior) -> list[tuple[float, float, float]]:
    """(weight, mean, shape) per component, background (lower mean) first."""
    comps = [(prior.p, prior.alpha1 / prior.beta1, prior.alpha1), (1 - prior.p, prior.alpha2 / prior.beta2, prior.alpha2)]
    return sorted(comps, key=lambda c: c[1])


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray, stats.GPSPrior]:
    obs, E = simulate_gps(15_000, seed=11)
    return obs, E, stats.fit_gps_prior(obs, E)


def test_gps_fit_recovers_the_mixture(simulated) -> None:
    _, _, prior = simulated
    (w_bg, mean_bg, _), (w_sig, mean_sig, _) = components(prior)
    assert w_bg == pytest.approx(0.8, abs=0.1)
    assert mean_bg == pytest.approx(1.0, rel=0.15)
    assert mean_sig == pytest.approx(4.0, rel=0.3)
    assert prior.converged and np.isfinite(prior.log_likelihood)


def test_gps_truncated_fit_on_nonzero_cells() -> None:
    # Small expected counts: half the cells are zero. A sparse scan only sees the non-zero ones.
    obs, E = simulate_gps(15_000, seed=11, median_expected=0.5)
    assert 0.4 < (obs == 0).mean() < 0.6
    nz = obs > 0
    (w_bg, mean_bg, _), (_, mean_sig, _) = components(stats.fit_gps_prior(obs[nz], E[nz], min_count=1))
    assert w_bg == pytest.approx(0.8, abs=0.07) and mean_bg == pytest.approx(1.0, rel=0.1)
    assert mean_sig == pytest.approx(4.0, rel=0.25)
    # Ignoring the truncation overstates the background (the zeros it never saw were its mass).
    (_, naive_bg, _), _ = components(stats.fit_gps_prior(obs[nz], E[nz]))
    assert naive_bg > 1.3
    with pytest.raises(ValueError, match="every observed count must be >= min_count=1; found 0"):
        stats.fit_gps_prior(obs, E, min_count=1)


def test_gps_shrinks_lucky_single_hits(simulated) -> None:
    obs, E, prior = simulated
    lucky, solid = stats.gps_quantile([1, 50], [0.01, 5.0], prior)
    assert lucky < 1.0 < solid and solid > 4 * lucky  # 1 hit where 0.01 expected never tops the ranking
    eb05 = stats.gps_quantile(obs, E, prior)
    ebgm = stats.gps_ebgm(obs, E, prior)
    assert (eb05 <= ebgm).all()
    assert (stats.gps_quantile(obs, E, prior, q=0.95) >= ebgm).all()


def test_gps_quantile_solves_the_posterior_cdf(simulated) -> None:
    obs, E, prior = simulated
    obs, E = obs[:3_000], E[:3_000]
    x = stats.gps_quantile(obs, E, prior, q=0.05)
    # Independent posterior: Bayes' rule on the two negative-binomial marginals.
    a, b = np.array([prior.alpha1, prior.alpha2]), np.array([prior.beta1, prior.beta2])
    log_f = (
        special.gammaln(a[:, None] + obs) - special.gammaln(a[:, None]) - special.gammaln(obs + 1.0)
        + a[:, None] * np.log(b[:, None] / (b[:, None] + E)) + obs * np.log(E / (b[:, None] + E))
    )  # fmt: skip
    w = np.log([prior.p, 1 - prior.p])[:, None] + log_f
    Q = np.exp(w[0] - np.logaddexp(w[0], w[1]))
    F = Q * special.gammainc(a[0] + obs, (b[0] + E) * x) + (1 - Q) * special.gammainc(a[1] + obs, (b[1] + E) * x)
    assert np.abs(F - 0.05).max() < 1e-9
    gm = np.exp(Q * (special.digamma(a[0] + obs) - np.log(b[0] + E)) + (1 - Q) * (special.digamma(a[1] + obs) - np.log(b[1] + E)))
    assert np.allclose(stats.gps_ebgm(obs, E, prior), gm, rtol=1e-12)


def test_gps_collapses_duplicates_and_rejects_bad_input() -> None:
    obs, E = simulate_gps(3_000, seed=2)
    E = np.round(E, 1)  # many duplicate (observed, expected) pairs
    dup = stats.fit_gps_prior(np.concatenate([obs, obs]), np.concatenate([E, E]))
    weighted = stats.fit_gps_prior(obs, E, weights=np.full(obs.size, 2.0))
    assert dup.alpha1 == pytest.approx(weighted.alpha1, rel=1e-6)
    assert dup.p == pytest.approx(weighted.p, rel=1e-6)
    with pytest.raises(ValueError, match="expected must be finite and > 0"):
        stats.fit_gps_prior([1, 2], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"q must be in \(0, 1\)"):
        stats.gps_quantile([1], [1.0], dup, q=5)


def test_wilson_bounds_are_exact_at_the_ends():
    from tagscan.scan.stats import wilson_interval

    lo, hi = wilson_interval(np.array([0, 3, 0]), np.array([3, 3, 1]))
    assert lo[0] == 0.0 and hi[1] == 1.0 and lo[2] == 0.0
    assert 0 < hi[0] < 1 and 0 < lo[1] < 1
