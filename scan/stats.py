"""Statistics for (group, label) cells: exact tails, testability, multiplicity, intervals, shrinkage.

Every function here is pure: arrays in, arrays out; no files, no config, no printing.

Notation used throughout (a cell is one group x one label inside one universe of ``total`` samples)::

                     in group (n)      outside (N - n)
    has label (K)    k                 K - k
    lacks label      n - k             N - n - K + k

Under independence the count ``k`` is hypergeometric: ``total`` = N samples of which
``label_count`` = K carry the label, ``group_size`` = n drawn. Its support is
``max(0, n + K - N) <= k <= min(n, K)``.

Contents

* :func:`hypergeom_upper_tail`, :func:`hypergeom_lower_tail`, :func:`hypergeom_pmf_log`: exact
  one-sided tails, vectorised over millions of cells (see "Hypergeometric tails" below).
* :func:`min_attainable_pvalue`, :func:`count_testable_pairs`, :func:`testable_label_ranges`,
  :func:`tarone_threshold`, :func:`tarone_bh_family`: Tarone's testability filter for discrete tests.
* :func:`benjamini_hochberg`, :func:`benjamini_yekutieli`: step-up q-values with a family size
  that may exceed the number of p-values passed (untested cells have p = 1).
* :func:`wilson_interval`, :func:`rate_ratio_ci`: effect sizes with intervals.
* :class:`GPSPrior`, :func:`fit_gps_prior`, :func:`gps_quantile`, :func:`gps_ebgm`: DuMouchel's
  Gamma-Poisson Shrinker (empirical-Bayes shrinkage of observed / expected ratios).

Hypergeometric tails
--------------------
*First term.* ``log pmf`` uses Loader's saddle-point decomposition (C. Loader, "Fast and accurate
computation of binomial probabilities", 2000; the method behind R's ``dhyper``): with the four
cells e of the 2x2 table and their expected values E, ``log pmf = -sum bd0(e, E) + sum of H terms``,
where ``bd0(e, E) = e log(e / E) + E - e >= 0`` and ``H(m) = log(m!) - m log m + m`` (a table up to
2**17, Stirling's series above). No large ``log Gamma`` values are subtracted (``gammaln``
differences lose ~1e-9 at ``total`` = 1e6), so the absolute error of ``log pmf`` is about
``1e-15 * |k - nK/N|`` plus a few ``1e-16``.

*The sum.* The tail is summed away from the mode with the exact term ratio
``pmf(x + 1) / pmf(x) = (K - x)(n - x) / ((x + 1)(N - K - n + x + 1))``, vectorised over all
still-open cells (one term at a time per cache-sized chunk; the few cells with long tails are
then pooled over all chunks and finished in blocks of terms). The ratios decrease along the sum,
so after a term ``t`` whose next ratio is ``q < 1`` the rest of the tail is at most
``t q / (1 - q)``; a cell stops when that bound is below 1e-13 of its running sum or its support
ends: a rigorous truncation bound. A tail that contains the mode is computed as one minus the
opposite tail, which is then below about 0.75, so every sum decays from its first term: about
10 terms for Poisson-like cells, a few standard deviations' worth for large margins.

*Accuracy.* Against exact rational arithmetic: relative error below 1e-12 (measured up to
``total`` = 1e8). ``scipy.stats.hypergeom`` (Boost) itself is off by up to ~3e-10 at ``total`` =
1e6 and ~3e-8 at 1e8; the tests compare with it at 1e-9 up to 1e6 and with exact arithmetic
beyond. ``total`` must stay below 2**53 (counts are exact in float64).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

__all__ = [
    "hypergeom_upper_tail",
    "hypergeom_lower_tail",
    "hypergeom_pmf_log",
    "min_attainable_pvalue",
    "count_testable_pairs",
    "testable_label_ranges",
    "mcnemar_exact",
    "rate_increase_pvalue",
    "tarone_threshold",
    "tarone_bh_family",
    "benjamini_hochberg",
    "benjamini_yekutieli",
    "wilson_interval",
    "rate_ratio_ci",
    "GPSPrior",
    "fit_gps_prior",
    "gps_quantile",
    "gps_ebgm",
]

logger = logging.getLogger(__name__)

Alternative = Literal["greater", "less"]

# Cells are processed in chunks of this many so that temporaries stay in cache.
_CHUNK = 1 << 14
# A summed tail stops once its rigorous remainder bound is below this fraction of the sum.
_TAIL_RTOL = 1e-13
# Tails are summed term by term over all open cells of a chunk (convergence checked every
# _CHECK_EVERY terms) while at least _MIN_OPEN cells are open; the rest are pooled over all chunks
# and finished the same way, and the last few in blocks of _BLOCKS terms.
_CHECK_EVERY = 8
_MIN_OPEN = 2048
_BLOCKS = (32, 64, 128, 256)

_MAX_TOTAL = 2**53
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_TWELFTH = 1.0 / 12.0
# log1p guard: a zero cell has (e - E) / E == -1 exactly; 0 * log1p(-1 + 2**-52) is 0, not nan.
_LOG1P_FLOOR = -1.0 + 2.0**-52

# Stirling remainder delta(m) = log(m!) - (m + 1/2) log(m) + m - log(2 pi) / 2 for m = 1..64
# (computed with mpmath at 40 digits). Entry 0 is -log(2 pi) / 2, which makes the Stirling form
# log(2 pi m) / 2 + delta(m) of log(m!) - m log(m) + m equal 0 at m = 0 (with log(max(m, 1))).
_DELTA_TABLE_RAW = np.array(
    [
        -0.9189385332046728, 0.08106146679532726, 0.0413406959554093, 0.02767792568499834,
        0.020790672103765093, 0.016644691189821193, 0.013876128823070748, 0.01189670994589177,
        0.010411265261972096, 0.009255462182712733, 0.00833056343336287, 0.007573675487951841,
        0.00694284010720953, 0.006408994188004207, 0.0059513701127588475, 0.005554733551962801,
        0.0052076559196096404, 0.004901395948434738, 0.004629153749334028, 0.004385560249232324,
        0.004166319691996922, 0.00396795421864086, 0.0037876180684444346, 0.0036229602246830948,
        0.003472021382978767, 0.003333155636728093, 0.003204970228055038, 0.0030862786826087773,
        0.002976063983550409, 0.0028734493623524663, 0.0027776749297526936, 0.002688078828531143,
        0.0026040819192516564, 0.0025251752497567844, 0.002450909735438118, 0.002380887608234112,
        0.002314755290514684, 0.002252197424337524, 0.002192931843287834, 0.0021367053177525,
        0.0020832899383024218, 0.0020324800282566307, 0.0019840894972457954, 0.0019379495639957995,
        0.0018939067896006345, 0.0018518213729931796, 0.0018115656687196307, 0.0017730228939128539,
        0.0017360859968765974, 0.0017006566641960617, 0.0016666444469833656, 0.0016339659899078578,
        0.0016025443491763207, 0.0015723083877161597, 0.0015431922375547637, 0.001515134820843603,
        0.0014880794221971373, 0.0014619733060452678, 0.001436767373567119, 0.001412415854510449,
        0.0013888760298270133, 0.0013661079815878961, 0.0013440743670990404, 0.001322740214528256,
        0.0013020727376910496,
    ]
)  # fmt: skip
# Tables cover 0..2**17; above that delta(m) = 1/(12 m) to within 1/(360 m^3) < 2e-18.
_TABLE_TOP = 1 << 17


@functools.cache
def _stirling_tables() -> tuple[np.ndarray, np.ndarray]:
    """(H, D) for m = 0..2**17, built on first use (1 MiB each).

    ``H[m] = log(m!) - m log(m) + m`` (``H[0] = 0``), the part of ``log(m!)`` left after its
    ``m log m - m`` leading terms. ``D[m] = delta(m) - 1/(12 * 2**17)``, so that
    ``D[min(m, top)] + 1/(12 max(m, top))`` is delta(m) for every m >= 0.
    """
    m = np.arange(_TABLE_TOP + 1, dtype=np.float64)
    delta = np.empty_like(m)
    low = len(_DELTA_TABLE_RAW)
    delta[:low] = _DELTA_TABLE_RAW
    z = 1.0 / m[low:]
    z2 = z * z
    # Asymptotic series; for m >= 65 its first omitted term is below 1e-18.
    delta[low:] = z * (1.0 / 12.0 - z2 * (1.0 / 360.0 - z2 * (1.0 / 1260.0 - z2 / 1680.0)))
    H = _HALF_LOG_2PI + 0.5 * np.log(np.maximum(m, 1.0)) + delta
    H[0] = 0.0
    D = delta - _TWELFTH / _TABLE_TOP
    H.setflags(write=False)
    D.setflags(write=False)
    return H, D


def _delta(m: np.ndarray) -> np.ndarray:
    """delta(m) for int64 arrays of m >= 0 (delta(0) := -log(2 pi) / 2)."""
    _, D = _stirling_tables()
    return D.take(np.minimum(m, _TABLE_TOP)) + _TWELFTH / np.maximum(m, _TABLE_TOP)


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------


def _whole(name: str, value: object) -> np.ndarray:
    """``value`` as an int64 array; whole-valued floats are accepted, anything else is an error."""
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            first = arr.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]].item()
            raise ValueError(
                f"{name} must hold whole numbers (counts); found {first!r}. "
                f"Pass integer counts, e.g. {name}.astype('int64') after rounding."
            )
        return arr.astype(np.int64)
    raise ValueError(f"{name} must be an integer array of counts; found dtype {arr.dtype}. Pass int64 counts.")


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(-1))[0])


def _check_margins(n: np.ndarray, K: np.ndarray, N: np.ndarray) -> None:
    """Broadcastable arrays of group_size, label_count, total: 0 <= n <= N and 0 <= K <= N."""
    n, K, N = np.broadcast_arrays(n, K, N)
    for name, arr in (("group_size", n), ("label_count", K), ("total", N)):
        bad = arr < 0
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(
                f"{name} must be >= 0; found {arr.reshape(-1)[i]} at flat index {i}. Pass non-negative counts."
            )
    for name, arr in (("group_size", n), ("label_count", K)):
        bad = arr > N
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(
                f"{name} must be <= total; found {name}={arr.reshape(-1)[i]} with total={N.reshape(-1)[i]} "
                f"at flat index {i}. Pass margins counted within the same universe of samples."
            )


def _broadcast_counts(k: object, n: object, K: object, N: object) -> tuple[np.ndarray, ...]:
    k_, n_, K_, N_ = np.broadcast_arrays(
        _whole("k", k), _whole("group_size", n), _whole("label_count", K), _whole("total", N)
    )
    _check_margins(n_, K_, N_)
    if N_.size and N_.max() >= _MAX_TOTAL:
        raise ValueError(
            f"total must be below 2**53 (counts are exact in float64); found {int(N_.max())}."
        )
    return k_, n_, K_, N_


def _check_alternative(alternative: str) -> None:
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less'; found {alternative!r}.")


# --------------------------------------------------------------------------------------------------
# Hypergeometric core (already validated arrays)
# --------------------------------------------------------------------------------------------------


def _log_pmf_core(x: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray) -> np.ndarray:
    """log P(X = x) for int64 arrays with a non-degenerate support (lo < hi) and lo <= x <= hi.

    A non-degenerate support implies all four margins K, N - K, n, N - n are >= 1. With the 2x2
    table cells e in (a, b, c, d) = (x, K - x, n - x, N - K - n + x), their expected values
    E = row * column / N, ``bd0(e, E) = e log(e / E) + E - e`` (evaluated as
    ``e log1p((e - E) / E) - (e - E)``: absolute error ~ eps |e - E|, no large cancelling terms)
    and ``H(m) = log(m!) - m log m + m``, the ``m log m - m`` parts of the nine log-factorials
    cancel exactly and ``log pmf = -sum bd0(e, E) + H(K) + H(N-K) + H(n) + H(N-n) - H(N) - sum H(e)``.
    ``H`` comes from a table up to 2**17; above it, ``H(m) = log(2 pi m) / 2 + 1/(12 m)`` to within
    2e-18. In the usual case (K and n within the table, d = N - K - n + x beyond it, hence also
    N - K, N - n and N), the four large H terms reduce by exact algebra to
    ``log1p(-(a - E_a) / d) / 2 + (K / (N (N-K)) - b / ((N-n) d)) / 12``.
    """
    xf = x.astype(np.float64)
    nf = n.astype(np.float64)
    Kf = K.astype(np.float64)
    Nf = N.astype(np.float64)
    NKf = Nf - Kf
    Nnf = Nf - nf
    bf = Kf - xf
    cf = nf - xf
    df = NKf - cf
    pn = nf / Nf
    qn = Nnf / Nf
    Ea = Kf * pn
    Eb = Kf * qn
    Ec = NKf * pn
    Ed = NKf * qn
    da = xf - Ea
    db = bf - Eb
    dc = cf - Ec
    dd = df - Ed
    s = xf * np.log1p(np.maximum(da / Ea, _LOG1P_FLOOR))
    s += bf * np.log1p(np.maximum(db / Eb, _LOG1P_FLOOR))
    s += cf * np.log1p(np.maximum(dc / Ec, _LOG1P_FLOOR))
    s += df * np.log1p(np.maximum(dd / Ed, _LOG1P_FLOOR))
    s -= (da + db) + (dc + dd)
    H, _ = _stirling_tables()
    b = K - x
    c = n - x
    if x.size and K.max() <= _TABLE_TOP and n.max() <= _TABLE_TOP and df.min() > _TABLE_TOP:
        h = H.take(K) + H.take(n) - H.take(x) - H.take(b) - H.take(c)
        h += 0.5 * np.log1p(-da / df)
        h += _TWELFTH * (Kf / (Nf * NKf) - bf / (Nnf * df))
        return h - s
    # General case: H(m) = log(2 pi max(m, 1)) / 2 + delta(m) with delta(0) = -log(2 pi) / 2.
    one = 1.0
    den = np.maximum(xf, one) * np.maximum(bf, one) * np.maximum(cf, one) * np.maximum(df, one)
    h = 0.5 * np.log(Ea * Ed * Nf / den) - _HALF_LOG_2PI
    h += _delta(K) + _delta(N - K) + _delta(n) + _delta(N - n) - _delta(N)
    h -= _delta(x) + _delta(b) + _delta(c) + _delta(N - K - n + x)
    return h - s


def _tail_state(x0: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray) -> list[np.ndarray]:
    """Summation state ``[num, den, dnum, dden, t, S]`` for tails starting at x0 (float arrays).

    The term ratio ``pmf(x + 1) / pmf(x) = num / den`` with ``num = (K - x)(n - x)`` and
    ``den = (x + 1)(N - K - n + x + 1)``; both move to the next x by first differences
    (``num -= dnum; dnum -= 2; den += dden; dden += 2``), exactly, as whole numbers in float64.
    ``t`` is the last term added and ``S`` the running sum, both relative to ``pmf(x0)``.
    """
    A = K - x0
    Bc = n - x0
    C = x0 + 1.0
    Dd = N - K - n + x0 + 1.0
    one = np.ones_like(x0)
    return [A * Bc, C * Dd, A + Bc - 1.0, C + Dd + 1.0, one, one.copy()]


def _converged(state: list[np.ndarray]) -> np.ndarray:
    """The stopping rule: the ratios decrease along the sum, so after a term t whose next ratio is
    q = num / den < 1 the rest of the tail is at most t q / (1 - q). A cell is done when that bound
    is at most _TAIL_RTOL of its running sum, or its support ended (num <= 0, t == 0)."""
    num, den, _, _, t, S = state
    bound = den - num
    bound *= S
    bound *= _TAIL_RTOL
    return (t * num <= bound) | (t == 0.0)


def _take(state: list[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    return [v.take(keep) for v in state]


def _sum_terms(state: list[np.ndarray], min_open: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Add terms one at a time to the open cells while at least ``min_open`` of them are open.

    Returns the sums (final for the closed cells), the indices of the cells still open and their
    state. A step is seven whole-array operations, cheap while many cells are open; the last few
    cells go to :func:`_sum_blocks`. Closed cells are only compacted away once a quarter of the
    cells are closed (extra terms never hurt a closed cell: they are below its bound).
    """
    num, den, dnum, dden, t, S = state
    out = S.copy()
    idx = np.arange(S.size)
    while True:
        for _ in range(_CHECK_EVERY):
            t *= num
            t /= den
            S += t
            num -= dnum
            dnum -= 2.0
            den += dden
            dden += 2.0
        state = [num, den, dnum, dden, t, S]
        done = _converged(state)
        n_done = int(np.count_nonzero(done))
        if n_done == S.size:
            out[idx] = S
            return out, idx[:0], _take(state, idx[:0])
        if S.size - n_done < min_open or 4 * n_done >= S.size:
            out[idx] = S
            keep = np.flatnonzero(~done)
            idx = idx[keep]
            num, den, dnum, dden, t, S = state = _take(state, keep)
            if keep.size < min_open:
                return out, idx, state


def _sum_blocks(state: list[np.ndarray]) -> np.ndarray:
    """Finish tail sums in blocks of terms, for the few cells left open.

    With few open cells the per-call cost of :func:`_sum_terms` dominates, so B ratios per cell
    are formed at once as a (B, cells) array from the closed forms
    ``num_j = num - j dnum + j (j - 1)`` and ``den_j = den + j dden + j (j - 1)``, turned into
    terms by a running product and added; same stopping rule.
    """
    num, den, dnum, dden, t, S = state
    out = S.copy()
    idx = np.arange(S.size)
    for i in itertools.count():
        B = _BLOCKS[min(i, len(_BLOCKS) - 1)]
        J = np.arange(B, dtype=np.float64)[:, None]
        JJ = J * (J - 1.0)
        r = num - J * dnum
        r += JJ
        d = den + J * dden
        d += JJ
        r /= d
        r[0] *= t
        if S.size >= 64:
            for j in range(1, B):
                r[j] *= r[j - 1]
        else:
            np.cumprod(r, axis=0, out=r)
        S = S + r.sum(axis=0)
        t = r[-1]
        num = num - B * dnum + B * (B - 1.0)
        dnum = dnum - 2.0 * B
        den = den + B * dden + B * (B - 1.0)
        dden = dden + 2.0 * B
        state = [num, den, dnum, dden, t, S]
        done = _converged(state)
        out[idx] = S
        if done.all():
            return out
        keep = np.flatnonzero(~done)
        idx = idx[keep]
        num, den, dnum, dden, t, S = _take(state, keep)
    raise AssertionError("unreachable")  # pragma: no cover


def _upper_tail_chunk(
    k: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray
) -> tuple[np.ndarray, tuple | None]:
    """P(X >= k) for one chunk; cells whose tails are still open come back as pending state."""
    kf = k.astype(np.float64)
    nf = n.astype(np.float64)
    Kf = K.astype(np.float64)
    Nf = N.astype(np.float64)
    lo = np.maximum(0.0, nf + Kf - Nf)
    res = (kf <= lo).astype(np.float64)
    mid = np.flatnonzero((kf > lo) & (kf <= np.minimum(nf, Kf)))
    if mid.size == 0:
        return res, None
    km, nm, Km, Nm = k.take(mid), n.take(mid), K.take(mid), N.take(mid)
    kfm, nfm, Kfm, Nfm = kf.take(mid), nf.take(mid), Kf.take(mid), Nf.take(mid)
    mode = np.floor((nfm + 1.0) * (Kfm + 1.0) / (Nfm + 2.0))
    direct = kfm > mode
    comp = ~direct
    # Tail above the mode: sum P(X >= k) directly from x = k. Otherwise p = 1 - P(X <= k - 1), and
    # P(X <= k - 1) = P(X' >= n - k + 1) for X' = n - X, hypergeometric with N - K successes; its
    # first term is pmf_X(k - 1), evaluated in the original orientation.
    lp = _log_pmf_core(km - comp, nm, Km, Nm)
    x0 = np.where(direct, kfm, nfm - kfm + 1.0)
    Ks = np.where(direct, Kfm, Nfm - Kfm)
    S, open_idx, state = _sum_terms(_tail_state(x0, nfm, Ks, Nfm), _MIN_OPEN)
    res[mid] = _finish_tail(lp + np.log(S), comp)
    if open_idx.size == 0:
        return res, None
    return res, (mid[open_idx], lp[open_idx], comp[open_idx], state)


def _finish_tail(log_sum: np.ndarray, comp: np.ndarray) -> np.ndarray:
    out = np.exp(log_sum)
    ci = np.flatnonzero(comp)
    if ci.size:
        out[ci] = -np.expm1(log_sum.take(ci))
    return np.clip(out, 0.0, 1.0, out=out)


def _upper_tail_flat(k: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray) -> np.ndarray:
    """P(X >= k) for validated flat int64 arrays of equal length."""
    out = np.empty(k.shape, dtype=np.float64)
    pending = []
    for s in range(0, k.size, _CHUNK):
        sl = slice(s, s + _CHUNK)
        out[sl], pend = _upper_tail_chunk(k[sl], n[sl], K[sl], N[sl])
        if pend is not None:
            pos, lp, comp, state = pend
            pending.append((s + pos, lp, comp, state))
    # Long tails (large margins, k near the mode), pooled over all chunks: term by term while many
    # are open, then in blocks.
    while pending:
        pos, lp, comp = (np.concatenate([p[j] for p in pending]) for j in range(3))
        state = [np.concatenate([p[3][j] for p in pending]) for j in range(6)]
        pending = []
        for s in range(0, pos.size, _CHUNK):
            sl = slice(s, s + _CHUNK)
            part = [v[sl] for v in state]
            if pos.size >= 2 * _MIN_OPEN:
                S, open_idx, rest = _sum_terms(part, _MIN_OPEN)
                if open_idx.size:
                    pending.append((pos[sl][open_idx], lp[sl][open_idx], comp[sl][open_idx], rest))
            else:
                S = _sum_blocks(part)
            out[pos[sl]] = _finish_tail(lp[sl] + np.log(S), comp[sl])
    return out


def hypergeom_upper_tail(k: object, group_size: object, label_count: object, total: object) -> np.ndarray:
    """P(X >= k) for X ~ Hypergeometric(total, label_count, group_size): the over-representation p-value.

    Equals ``scipy.stats.hypergeom.sf(k - 1, total, label_count, group_size)`` and the one-sided
    ``scipy.stats.fisher_exact([[k, n - k], [K - k, N - n - K + k]], alternative="greater")``.

    Parameters
    ----------
    k, group_size, label_count, total:
        Broadcastable integer arrays (whole-valued floats are accepted): the cell count, the group
        size n, the label's count K in the universe, and the universe size N.
        Requires ``0 <= n <= N`` and ``0 <= K <= N``; ``k`` may be any integer.

    Returns
    -------
    numpy.ndarray
        float64 of the broadcast shape (0-d for scalar inputs), in [0, 1]. Exactly 1 where
        ``k <= max(0, n + K - N)`` and exactly 0 where ``k > min(n, K)``.

    Notes
    -----
    See "Hypergeometric tails" in the module docstring: relative error below 1e-12 against exact
    arithmetic (the truncation of each sum is rigorously below 1e-13). Work per cell is one
    ``log pmf`` plus the terms its tail needs: about 10 for Poisson-like cells, a few standard
    deviations' worth (up to a few hundred at ``total`` = 1e6) when both margins are large.
    """
    k_, n_, K_, N_ = _broadcast_counts(k, group_size, label_count, total)
    shape = k_.shape
    out = _upper_tail_flat(k_.reshape(-1), n_.reshape(-1), K_.reshape(-1), N_.reshape(-1))
    return out.reshape(shape)


def hypergeom_lower_tail(k: object, group_size: object, label_count: object, total: object) -> np.ndarray:
    """P(X <= k) for X ~ Hypergeometric(total, label_count, group_size): the under-representation p-value.

    Equals ``scipy.stats.hypergeom.cdf(k, total, label_count, group_size)``; computed as
    ``P(n - X >= n - k)`` where ``n - X`` is hypergeometric with ``total - label_count`` successes,
    so the accuracy statement of :func:`hypergeom_upper_tail` applies unchanged. Exactly 0 where
    ``k < max(0, n + K - N)`` and exactly 1 where ``k >= min(n, K)``.
    """
    k_, n_, K_, N_ = _broadcast_counts(k, group_size, label_count, total)
    shape = k_.shape
    out = _upper_tail_flat((n_ - k_).reshape(-1), n_.reshape(-1), (N_ - K_).reshape(-1), N_.reshape(-1))
    return out.reshape(shape)


def hypergeom_pmf_log(k: object, group_size: object, label_count: object, total: object) -> np.ndarray:
    """log P(X = k) for X ~ Hypergeometric(total, label_count, group_size); -inf outside the support.

    Same arguments and validation as :func:`hypergeom_upper_tail`. A single-point support
    (``label_count`` in {0, ``total``} or ``group_size`` in {0, ``total``}) gives 0 at that point.
    """
    k_, n_, K_, N_ = _broadcast_counts(k, group_size, label_count, total)
    shape = k_.shape
    k_, n_, K_, N_ = (a.reshape(-1) for a in (k_, n_, K_, N_))
    out = np.full(k_.shape, -np.inf)
    lo = np.maximum(0, n_ + K_ - N_)
    hi = np.minimum(n_, K_)
    out[(k_ == lo) & (lo == hi)] = 0.0
    mid = np.flatnonzero((lo < hi) & (k_ >= lo) & (k_ <= hi))
    for s in range(0, mid.size, _CHUNK):
        sel = mid[s : s + _CHUNK]
        out[sel] = _log_pmf_core(k_.take(sel), n_.take(sel), K_.take(sel), N_.take(sel))
    return out.reshape(shape)


# --------------------------------------------------------------------------------------------------
# Tarone's testability filter
# --------------------------------------------------------------------------------------------------


def min_attainable_pvalue(
    group_size: object, label_count: object, total: object, *, alternative: Alternative = "greater"
) -> np.ndarray:
    """The smallest p-value the one-sided exact test can return for a cell with these margins.

    ``"greater"``: ``P(X = min(n, K))`` (the p-value when the whole smaller margin falls in the cell);
    ``"less"``: ``P(X = max(0, n + K - N))``. A single-point support (K or n equal to 0 or N) gives 1:
    such a cell can never be significant. Broadcasts like :func:`hypergeom_upper_tail`; returns float64.

    For fixed n and N the "greater" value is ``prod_{i<K} (n-i)/(N-i)`` for K <= n (decreasing in K)
    and ``prod_{i<n} (K-i)/(N-i)`` for K >= n (increasing in K): a valley with its floor
    ``1 / C(N, n)`` at K = n. For "less" the valley's floor is at K = N - n.
    """
    _check_alternative(alternative)
    n_, K_, N_ = np.broadcast_arrays(_whole("group_size", group_size), _whole("label_count", label_count), _whole("total", total))
    _check_margins(n_, K_, N_)
    x = np.minimum(n_, K_) if alternative == "greater" else np.maximum(0, n_ + K_ - N_)
    return np.exp(hypergeom_pmf_log(x, n_, K_, N_))


def _scalar_total(total: object) -> int:
    N_arr = _whole("total", total)
    if N_arr.ndim != 0:
        raise ValueError(
            f"total must be a scalar (one universe); found an array of shape {N_arr.shape}. "
            "Call once per universe and add the results."
        )
    return int(N_arr)


def _check_level(level: float) -> float:
    level = float(level)
    if math.isnan(level):
        raise ValueError("level must be a number; found nan. Pass a testability level such as alpha / k.")
    return level


def _valley_ranges(
    n: np.ndarray, K_sorted: np.ndarray, N: int, level: float, alternative: str
) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges [start, stop) into sorted K of min attainable p <= level, one per entry of n.

    The minimum attainable p-value is a valley in K (decreasing up to its floor at K = n for
    "greater", K = N - n for "less", increasing after), so its sublevel set is one contiguous run
    of the sorted label counts. Both ends are found by vectorised bisection over indices of
    ``K_sorted`` (about log2(len(K)) rounds over all of n at once), evaluating the predicate with
    :func:`min_attainable_pvalue` itself, so the ranges agree with a dense evaluation.
    """
    size = K_sorted.size

    def testable(j: np.ndarray) -> np.ndarray:
        Kj = K_sorted[np.minimum(j, size - 1)]
        return min_attainable_pvalue(n, Kj, N, alternative=alternative) <= level

    def first(lo: np.ndarray, hi: np.ndarray, want: bool) -> np.ndarray:
        # First index in [lo, hi) where testable(.) == want (the predicate is monotone there).
        lo, hi = lo.copy(), hi.copy()
        while True:
            act = lo < hi
            if not act.any():
                return lo
            mid = (lo + hi) // 2
            hit = testable(mid) == want
            hi = np.where(act & hit, mid, hi)
            lo = np.where(act & ~hit, mid + 1, lo)

    floor_K = n if alternative == "greater" else N - n
    split = np.searchsorted(K_sorted, floor_K, side="right")  # K <= floor: the decreasing side
    start = first(np.zeros_like(split), split, True)
    stop = first(split, np.full_like(split, size), False)
    return start, stop


def testable_label_ranges(
    group_sizes: object,
    sorted_label_counts: object,
    total: int,
    level: float,
    *,
    alternative: Alternative = "greater",
) -> tuple[np.ndarray, np.ndarray]:
    """For each group, the run of (sorted) labels whose minimum attainable p-value is <= level.

    Parameters
    ----------
    group_sizes:
        1-D integer array of group sizes n (repeats allowed).
    sorted_label_counts:
        1-D integer array of label counts K, sorted ascending (a ValueError otherwise).
    total:
        The universe size N shared by every pair (a scalar).
    level:
        Testability level, e.g. ``alpha / k`` in Tarone's search.

    Returns
    -------
    (start, stop):
        int64 arrays of ``len(group_sizes)``: the pairs (group i, label j) with
        ``start[i] <= j < stop[i]`` are exactly those with
        ``min_attainable_pvalue(n[i], K[j], N, alternative=...) <= level``. The set is contiguous
        because the minimum attainable p-value is a valley in K (see :func:`min_attainable_pvalue`).
    """
    _check_alternative(alternative)
    n = _whole("group_sizes", group_sizes).reshape(-1)
    K = _whole("sorted_label_counts", sorted_label_counts).reshape(-1)
    N = _scalar_total(total)
    _check_margins(n, np.zeros(1, dtype=np.int64), np.array(N))
    _check_margins(np.zeros(1, dtype=np.int64), K, np.array(N))
    level = _check_level(level)
    if K.size > 1 and (np.diff(K) < 0).any():
        raise ValueError(
            "sorted_label_counts must be sorted ascending; sort them (and their label ids) first, e.g. np.argsort."
        )
    if n.size == 0 or K.size == 0:
        zeros = np.zeros(n.size, dtype=np.int64)
        return zeros, zeros.copy()
    un, inverse = np.unique(n, return_inverse=True)
    start, stop = _valley_ranges(un, K, N, level, alternative)
    return start[inverse].astype(np.int64), stop[inverse].astype(np.int64)


def count_testable_pairs(
    group_sizes: object,
    label_counts: object,
    total: int,
    level: float,
    *,
    alternative: Alternative = "greater",
) -> int:
    """How many (group, label) pairs of the full cross product have a minimum attainable p <= level.

    The cross product ``len(group_sizes) x len(label_counts)`` (zero cells included: they are
    hypotheses too) is never built: for each distinct group size the testable labels form one
    run of the sorted label counts (:func:`testable_label_ranges`), so the count is the sum of run
    lengths times the group-size multiplicities. Memory and time are O(#groups + #labels log).

    Parameters
    ----------
    group_sizes, label_counts:
        1-D integer arrays (one entry per group and per label; any order, repeats allowed).
    total:
        The universe size N shared by every pair (a scalar).
    level:
        Testability level, e.g. ``alpha / k`` in Tarone's search.
    """
    _check_alternative(alternative)
    n = _whole("group_sizes", group_sizes).reshape(-1)
    K = np.sort(_whole("label_counts", label_counts).reshape(-1))
    N = _scalar_total(total)
    _check_margins(n, np.zeros(1, dtype=np.int64), np.array(N))
    _check_margins(np.zeros(1, dtype=np.int64), K, np.array(N))
    level = _check_level(level)
    if n.size == 0 or K.size == 0:
        return 0
    un, n_mult = np.unique(n, return_counts=True)
    start, stop = _valley_ranges(un, K, N, level, alternative)
    return int(((stop - start).astype(np.int64) * n_mult.astype(np.int64)).sum())


def tarone_threshold(
    group_sizes: object,
    label_counts: object,
    total: int,
    alpha: float,
    *,
    alternative: Alternative = "greater",
) -> tuple[float, int]:
    """Tarone's search over the full cross product of groups x labels of one universe.

    Finds the smallest integer k >= 1 with ``m(alpha / k) <= k``, where ``m(level)`` is
    :func:`count_testable_pairs`; returns ``(alpha / k, m(alpha / k))``: pairs whose minimum
    attainable p is at most the returned level are testable, and the second value is the family
    size for Benjamini-Hochberg (see :func:`tarone_bh_family` for the rule). ``m(alpha / k) - k``
    strictly decreases in k, so the search is a bisection over ``1..#pairs``.
    """
    alpha = _check_alpha(alpha)
    n_pairs = int(np.size(group_sizes)) * int(np.size(label_counts))

    def m_at(k: int) -> int:
        return count_testable_pairs(group_sizes, label_counts, total, alpha / k, alternative=alternative)

    lo, hi = 1, max(1, n_pairs)
    while lo < hi:
        mid = (lo + hi) // 2
        if m_at(mid) <= mid:
            hi = mid
        else:
            lo = mid + 1
    return alpha / lo, m_at(lo)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1]; found {alpha!r}. Use the target error rate, e.g. 0.05.")
    return alpha


def tarone_bh_family(
    min_p: object, alpha: float, *, method: Literal["bh", "bonferroni"] = "bh"
) -> tuple[np.ndarray, int]:
    """Tarone's testability filter for a family of discrete tests, adapted to FDR control.

    Rule (Tarone 1990; Gilbert 2005 for the FDR version): let ``m(k) = #{i : min_p[i] <= alpha / k}``.
    Take the smallest integer ``k >= 1`` with ``m(k) <= k``. Hypothesis i is *testable* iff
    ``min_p[i] <= alpha / k``; the others can never reach significance and leave the family.

    * ``method="bh"`` (Gilbert's Tarone-BH): run Benjamini-Hochberg at level ``alpha`` on the
      testable hypotheses with family size ``m_effective = m(k)``.
    * ``method="bonferroni"`` (Tarone's original): reject testable hypotheses with
      ``p <= alpha / k``, i.e. Bonferroni with ``m_effective = k`` (note ``m(k) <= k``).

    ``min_p`` must cover every hypothesis of the family (use :func:`count_testable_pairs` /
    :func:`tarone_threshold` when most hypotheses are zero cells that are never materialised).
    An empty family gives ``(empty mask, 0)``; if nothing can reach ``alpha`` then k = 1 and
    ``m_effective`` = 0.

    Returns
    -------
    (testable_mask, m_effective):
        boolean mask of min_p's shape, and the family size to use.
    """
    alpha = _check_alpha(alpha)
    if method not in ("bh", "bonferroni"):
        raise ValueError(f"method must be 'bh' or 'bonferroni'; found {method!r}.")
    mp = np.asarray(min_p, dtype=np.float64)
    flat = mp.reshape(-1)
    if np.isnan(flat).any() or (flat < 0).any() or (flat > 1).any():
        raise ValueError("min_p must hold probabilities in [0, 1] with no NaN; found values outside.")
    if flat.size == 0:
        return np.zeros(mp.shape, dtype=bool), 0
    srt = np.sort(flat)

    def m_at(k: int) -> int:
        return int(np.searchsorted(srt, alpha / k, side="right"))

    lo, hi = 1, flat.size
    while lo < hi:
        mid = (lo + hi) // 2
        if m_at(mid) <= mid:
            hi = mid
        else:
            lo = mid + 1
    level = alpha / lo
    mask = mp <= level
    m_eff = int(mask.sum()) if method == "bh" else lo
    return mask, m_eff


# --------------------------------------------------------------------------------------------------
# Multiple-testing adjustment
# --------------------------------------------------------------------------------------------------


def _pvalues(p: object) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError("p must not contain NaN; drop or resolve undefined tests before adjusting.")
    if (arr < 0).any() or (arr > 1).any():
        raise ValueError(
            f"p must hold p-values in [0, 1]; found values in [{arr.min()!r}, {arr.max()!r}]."
        )
    return arr


def _family_size(m: int | None, n_given: int) -> int:
    if m is None:
        return n_given
    if isinstance(m, bool) or int(m) != m:
        raise ValueError(f"m must be a whole number (the family size); found {m!r}.")
    m = int(m)
    if m < n_given:
        raise ValueError(
            f"m (family size) must be >= the number of p-values given; found m={m} < {n_given}. "
            "m counts every hypothesis of the family, including untested cells with p = 1."
        )
    return m


def _step_up(p: np.ndarray, factor: float) -> np.ndarray:
    flat = p.reshape(-1)
    order = np.argsort(flat, kind="stable")
    ranked = flat[order] * (factor / np.arange(1, flat.size + 1))
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(flat)
    out[order] = np.minimum(q, 1.0)
    return out.reshape(p.shape)


def benjamini_hochberg(p: object, m: int | None = None) -> np.ndarray:
    """Benjamini-Hochberg step-up q-values: ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``.

    ``m`` is the family size (default ``len(p)``). It may exceed ``len(p)``: the hypotheses not
    passed in (e.g. zero cells) are taken to have p = 1, which ranks them last and leaves every
    passed q-value as in the formula above. ``m < len(p)`` is a ValueError. q >= p, q <= 1,
    monotone in p, independent of input order (ties share a q-value). Any shape; returns float64.
    """
    arr = _pvalues(p)
    m_ = _family_size(m, arr.size)
    if arr.size == 0:
        return arr.copy()
    return _step_up(arr, float(m_))


def benjamini_yekutieli(p: object, m: int | None = None) -> np.ndarray:
    """Benjamini-Yekutieli q-values (FDR under arbitrary dependence).

    Benjamini-Hochberg with ``m`` replaced by ``m * c(m)``, ``c(m) = sum_{i=1}^m 1/i``; same ``m``
    rules as :func:`benjamini_hochberg`. Always >= the BH q-values.
    """
    arr = _pvalues(p)
    m_ = _family_size(m, arr.size)
    if arr.size == 0:
        return arr.copy()
    c = float(special.digamma(m_ + 1.0) + np.euler_gamma)
    return _step_up(arr, m_ * max(c, 1.0))


# --------------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); found {confidence!r}. Use e.g. 0.95.")
    return float(special.ndtri(0.5 + confidence / 2.0))


def wilson_interval(x: object, n: object, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion x / n, vectorised.

    ``center = (x + z^2/2) / (n + z^2)``, ``half = z / (n + z^2) * sqrt(x (n - x) / n + z^2 / 4)``,
    clipped to [0, 1]. Policy for an empty denominator: ``n = 0`` gives the uninformative
    interval (0, 1). Requires ``0 <= x <= n``.
    """
    z = _z(confidence)
    x_, n_ = np.broadcast_arrays(_whole("x", x), _whole("n", n))
    if (x_ < 0).any() or (x_ > n_).any():
        i = _first_bad((x_ < 0) | (x_ > n_))
        raise ValueError(
            f"x must satisfy 0 <= x <= n; found x={x_.reshape(-1)[i]}, n={n_.reshape(-1)[i]} at flat index {i}."
        )
    xf = x_.astype(np.float64)
    nf = n_.astype(np.float64)
    z2 = z * z
    empty = nf == 0
    ns = np.where(empty, 1.0, nf)
    denom = ns + z2
    center = (xf + z2 / 2.0) / denom
    half = z / denom * np.sqrt(xf * (ns - xf) / ns + z2 / 4.0)
    # x = 0 (x = n) has the exact bound 0 (1); the formula leaves round-off of about 1e-17 there.
    low = np.where(empty | (xf == 0), 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(empty | (xf == nf), 1.0, np.clip(center + half, 0.0, 1.0))
    return low, high


def rate_ratio_ci(
    a: object, n1: object, b: object, n0: object, *, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate ratio (lift) ``(a / n1) / (b / n0)`` with a Katz log-scale confidence interval, from one estimator.

    The point is ``RR' = (a'/n1') / (b'/n0')`` and the interval ``exp(log RR' +/- z * sqrt(1/a' - 1/n1' +
    1/b' - 1/n0'))``: point and interval come from the same (corrected) table, so ``low <= lift <= high``
    always holds, and all three are finite when ``n1, n0 > 0``.

    Policies for undefined cases (element-wise):

    * one zero event count (``a == 0`` or ``b == 0``, not both): Haldane-Anscombe correction for the
      point *and* the interval: 0.5 is added to each of the four cells of the 2x2 table, i.e.
      ``a' = a + 0.5``, ``b' = b + 0.5``, ``n1' = n1 + 1``, ``n0' = n0 + 1``; otherwise ``a' = a`` etc.
      The lift of 5 of 100 against 0 of 10,000 is therefore ``(5.5/101) / (0.5/10001) = 1089``, a
      bounded estimate inside its interval, not ``inf`` (an uncorrected point would lie outside the
      corrected interval).
    * no events on either side (``a == b == 0``): nothing to compare; all three are ``nan``.
    * an empty group (``n1 == 0`` or ``n0 == 0``): the rate is undefined and all three are ``nan``.

    Requires ``0 <= a <= n1`` and ``0 <= b <= n0``.
    """
    z = _z(confidence)
    a_, n1_, b_, n0_ = np.broadcast_arrays(_whole("a", a), _whole("n1", n1), _whole("b", b), _whole("n0", n0))
    for name, ev, tot in (("a", a_, n1_), ("b", b_, n0_)):
        bad = (ev < 0) | (ev > tot)
        if bad.any():
            i = _first_bad(bad)
            other = "n1" if name == "a" else "n0"
            raise ValueError(
                f"{name} must satisfy 0 <= {name} <= {other}; found {name}={ev.reshape(-1)[i]}, "
                f"{other}={tot.reshape(-1)[i]} at flat index {i}."
            )
    af, bf = a_.astype(np.float64), b_.astype(np.float64)
    n1f, n0f = n1_.astype(np.float64), n0_.astype(np.float64)
    empty = (n1f == 0) | (n0f == 0)
    n1s = np.where(empty, 1.0, n1f)
    n0s = np.where(empty, 1.0, n0f)
    corr = (af == 0) | (bf == 0)
    ac = af + np.where(corr, 0.5, 0.0)
    bc = bf + np.where(corr, 0.5, 0.0)
    n1c = n1s + np.where(corr, 1.0, 0.0)
    n0c = n0s + np.where(corr, 1.0, 0.0)
    undefined = empty | ((af == 0) & (bf == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rr = np.log(ac / n1c) - np.log(bc / n0c)
        var = np.maximum(1.0 / ac - 1.0 / n1c + 1.0 / bc - 1.0 / n0c, 0.0)
    half = z * np.sqrt(var)
    lift = np.where(undefined, np.nan, np.exp(log_rr))
    low = np.where(undefined, np.nan, np.minimum(np.exp(log_rr - half), lift))
    high = np.where(undefined, np.nan, np.maximum(np.exp(log_rr + half), lift))
    return lift, low, high


# --------------------------------------------------------------------------------------------------
# DuMouchel's Gamma-Poisson Shrinker
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPSPrior:
    """Two-gamma mixture prior of DuMouchel's GPS: ``lambda ~ p Gamma(alpha1, beta1) + (1 - p) Gamma(alpha2, beta2)``.

    Gammas use shape ``alpha`` and rate ``beta`` (mean ``alpha / beta``). ``log_likelihood`` is the
    maximised weighted marginal log-likelihood and ``converged`` the optimiser's verdict (both
    informational; defaults for hand-built priors).
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float
    log_likelihood: float = float("nan")
    converged: bool = True

    def _theta(self) -> np.ndarray:
        return np.array(
            [math.log(self.alpha1), math.log(self.beta1), math.log(self.alpha2), math.log(self.beta2),
             math.log(self.p) - math.log1p(-self.p)]
        )  # fmt: skip


_GPS_START = GPSPrior(alpha1=0.2, beta1=0.1, alpha2=2.0, beta2=4.0, p=1.0 / 3.0)
_GPS_BOUNDS = [(-12.0, 12.0)] * 4 + [(-15.0, 15.0)]


def _nb_log_and_grads(
    n: np.ndarray, E: np.ndarray, alpha: float, beta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log NB(n; alpha, beta, E) and its derivatives w.r.t. log alpha and log beta."""
    log_b = math.log(beta)
    log_bE = np.log(beta + E)
    lf = (
        special.gammaln(alpha + n)
        - special.gammaln(alpha)
        - special.gammaln(n + 1.0)
        + alpha * (log_b - log_bE)
        + n * (np.log(E) - log_bE)
    )
    d_log_alpha = alpha * (special.digamma(alpha + n) - special.digamma(alpha) + log_b - log_bE)
    d_log_beta = alpha - beta * (alpha + n) / (beta + E)
    return lf, d_log_alpha, d_log_beta


def _mix_log_and_grad(n: np.ndarray, E: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log of the mixture marginal at (n, E) and its gradient w.r.t. theta (5 x len)."""
    a1, b1, a2, b2 = np.exp(theta[:4])
    p = special.expit(theta[4])
    l1, ga1, gb1 = _nb_log_and_grads(n, E, a1, b1)
    l2, ga2, gb2 = _nb_log_and_grads(n, E, a2, b2)
    w1 = math.log(p) + l1
    w2 = math.log1p(-p) + l2
    lm = np.logaddexp(w1, w2)
    Q = np.exp(w1 - lm)
    grad = np.stack([Q * ga1, Q * gb1, (1.0 - Q) * ga2, (1.0 - Q) * gb2, Q - p])
    return lm, grad


def _gps_objective(theta: np.ndarray, n: np.ndarray, E: np.ndarray, w: np.ndarray, min_count: int) -> tuple[float, np.ndarray]:
    lm, grad = _mix_log_and_grad(n, E, theta)
    # Weighted sums with ufuncs, not BLAS: a threaded gemv is slower here and oversubscribes CPUs.
    value = float((w * lm).sum())
    g = (grad * w).sum(axis=1)
    if min_count > 0:
        # Zero-truncated (left-truncated) likelihood: divide by P(N >= min_count) per cell.
        mass = np.zeros_like(E)
        dmass = np.zeros((5, E.size))
        for j in range(min_count):
            lj, gj = _mix_log_and_grad(np.full_like(E, float(j)), E, theta)
            pj = np.exp(lj)
            mass += pj
            dmass += pj * gj
        rest = np.maximum(1.0 - mass, 1e-300)
        value -= float((w * np.log(rest)).sum())
        g = g + (dmass * (w / rest)).sum(axis=1)
    scale = 1.0 / w.sum()
    return -value * scale, -g * scale


def _collapse_pairs(n: np.ndarray, E: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((E, n))
    n, E, w = n[order], E[order], w[order]
    start = np.ones(n.size, dtype=bool)
    start[1:] = (n[1:] != n[:-1]) | (E[1:] != E[:-1])
    pos = np.flatnonzero(start)
    return n[pos], E[pos], np.add.reduceat(w, pos)


def fit_gps_prior(
    observed: object,
    expected: object,
    *,
    weights: object | None = None,
    min_count: int = 0,
    max_points: int = 200_000,
    seed: int = 0,
) -> GPSPrior:
    """Fit DuMouchel's two-gamma mixture prior by maximum marginal likelihood.

    Model: ``observed ~ Poisson(lambda * expected)`` with ``lambda`` from the mixture of
    :class:`GPSPrior`, so each count's marginal is a two-component negative-binomial mixture. The
    weighted log-likelihood is maximised with L-BFGS-B (analytic gradient) over
    ``(log alpha1, log beta1, log alpha2, log beta2, logit p)`` from DuMouchel's (1999) start
    ``alpha1=0.2, beta1=0.1, alpha2=2, beta2=4, p=1/3``, within ``log`` bounds of +/-12 (+/-15
    for the logit).

    Scaling to millions of cells: identical ``(observed, expected)`` pairs are collapsed into one
    point whose weight is their summed weight (exact, no approximation). If more than
    ``max_points`` distinct pairs remain, a uniform random subsample of ``max_points`` of them
    (``numpy.random.default_rng(seed)``, so reproducible) keeps its weights; the subsampled
    log-likelihood is an unbiased estimate of the full one.

    ``min_count``: set to 1 when only non-zero cells are passed (as in a sparse scan); the
    likelihood is then the left-truncated one, ``P(n) / P(N >= min_count)`` per cell, as in
    DuMouchel & Pregibon's and openEBGM's truncated fits. Every observed count must be
    ``>= min_count``.
    """
    n = _whole("observed", observed).reshape(-1)
    E = np.asarray(expected, dtype=np.float64).reshape(-1)
    if n.shape != E.shape:
        raise ValueError(f"observed and expected must have the same length; found {n.size} and {E.size}.")
    if n.size == 0:
        raise ValueError("observed is empty; the prior needs at least a few cells to be fitted.")
    if (n < 0).any():
        raise ValueError("observed must be >= 0 counts.")
    if not np.isfinite(E).all() or (E <= 0).any():
        raise ValueError(
            "expected must be finite and > 0; found a zero, negative or non-finite value. "
            "Drop cells whose expected count is 0 (the label or group is empty)."
        )
    min_count = int(min_count)
    if min_count < 0 or (n < min_count).any():
        raise ValueError(
            f"every observed count must be >= min_count={min_count}; found {int(n.min())}. "
            "Use min_count=0 when zero cells are included."
        )
    if weights is None:
        w = np.ones(n.size)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != n.shape or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be finite, >= 0, not all zero, and one per cell.")
    nf, Ef, wf = _collapse_pairs(n.astype(np.float64), E, w)
    keep = wf > 0
    nf, Ef, wf = nf[keep], Ef[keep], wf[keep]
    if nf.size > max_points:
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(nf.size, size=int(max_points), replace=False))
        nf, Ef, wf = nf[pick], Ef[pick], wf[pick]
    res = optimize.minimize(
        _gps_objective,
        _GPS_START._theta(),
        args=(nf, Ef, wf, min_count),
        jac=True,
        method="L-BFGS-B",
        bounds=_GPS_BOUNDS,
    )
    theta = res.x
    if not np.isfinite(theta).all() or not np.isfinite(res.fun):
        raise ValueError("the GPS prior fit did not reach a finite optimum; check observed and expected.")
    if not res.success:
        logger.warning("GPS prior fit did not converge: %s", res.message)
    a1, b1, a2, b2 = (float(v) for v in np.exp(theta[:4]))
    p = float(special.expit(theta[4]))
    return GPSPrior(a1, b1, a2, b2, p, log_likelihood=float(-res.fun * wf.sum()), converged=bool(res.success))


def _posterior(observed: object, expected: object, prior: GPSPrior) -> tuple[np.ndarray, ...]:
    n_ = _whole("observed", observed)
    E_ = np.asarray(expected, dtype=np.float64)
    n_, E_ = np.broadcast_arrays(n_, E_)
    if (n_ < 0).any():
        raise ValueError("observed must be >= 0 counts.")
    if not np.isfinite(E_).all() or (E_ <= 0).any():
        raise ValueError("expected must be finite and > 0; drop cells whose expected count is 0.")
    nf = n_.astype(np.float64)
    lm, _ = _mix_log_and_grad(nf.reshape(-1), E_.reshape(-1), prior._theta())
    l1, _, _ = _nb_log_and_grads(nf.reshape(-1), E_.reshape(-1), prior.alpha1, prior.beta1)
    Q = np.exp(math.log(prior.p) + l1 - lm).reshape(nf.shape)
    return (Q, prior.alpha1 + nf, prior.beta1 + E_, prior.alpha2 + nf, prior.beta2 + E_)


def gps_ebgm(observed: object, expected: object, prior: GPSPrior) -> np.ndarray:
    """Empirical-Bayes geometric mean: ``exp(E[log lambda | observed])`` under the fitted prior.

    The posterior is ``Q Gamma(alpha1 + n, beta1 + E) + (1 - Q) Gamma(alpha2 + n, beta2 + E)`` with
    ``Q`` the posterior probability of component 1; ``E[log lambda]`` of a Gamma(a, b) is
    ``digamma(a) - log(b)``.
    """
    Q, a1, b1, a2, b2 = _posterior(observed, expected, prior)
    mean_log = Q * (special.digamma(a1) - np.log(b1)) + (1.0 - Q) * (special.digamma(a2) - np.log(b2))
    return np.exp(mean_log)


def gps_quantile(observed: object, expected: object, prior: GPSPrior, q: float = 0.05) -> np.ndarray:
    """The q-quantile of the posterior of lambda (EB05 for q = 0.05), vectorised.

    Solves ``Q P(a1, b1 x) + (1 - Q) P(a2, b2 x) = q`` (``P`` = ``scipy.special.gammainc``) for each
    cell by safeguarded Newton iteration on ``log x`` inside the bracket formed by the two
    component quantiles (the mixture quantile lies between them), falling back to bisection
    whenever a Newton step leaves the bracket; stops at a relative step of 1e-12 (at most 200
    rounds). A cell with ``observed = 1, expected = 0.01`` is pulled towards the prior and ranks far
    below ``observed = 50, expected = 5``.
    """
    q = float(q)
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1); found {q!r}. EB05 is q=0.05.")
    Q, a1, b1, a2, b2 = _posterior(observed, expected, prior)
    shape = Q.shape
    Q, a1, b1, a2, b2 = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (Q, a1, b1, a2, b2))
    x1 = special.gammaincinv(a1, q) / b1
    x2 = special.gammaincinv(a2, q) / b2
    lo = np.log(np.minimum(x1, x2))
    hi = np.log(np.maximum(x1, x2))
    u = np.log(Q * x1 + (1.0 - Q) * x2)
    u = np.clip(u, lo, hi)
    act = np.flatnonzero(hi - lo > 1e-13 * np.maximum(1.0, np.abs(hi)))
    la1, la2 = special.gammaln(a1), special.gammaln(a2)
    for _ in range(200):
        if act.size == 0:
            break
        ua = u[act]
        x = np.exp(ua)
        Qa = Q[act]
        t1 = b1[act] * x
        t2 = b2[act] * x
        F = Qa * special.gammainc(a1[act], t1) + (1.0 - Qa) * special.gammainc(a2[act], t2) - q
        # dF/du = x f(x) for u = log x: the gamma densities times x, in log space.
        with np.errstate(divide="ignore", over="ignore"):
            dF = Qa * np.exp(a1[act] * np.log(t1) - t1 - la1[act]) + (1.0 - Qa) * np.exp(
                a2[act] * np.log(t2) - t2 - la2[act]
            )
        lo_a = np.where(F < 0, ua, lo[act])
        hi_a = np.where(F > 0, ua, hi[act])
        lo[act] = lo_a
        hi[act] = hi_a
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = ua - F / dF
        inside = np.isfinite(newton) & (newton > lo_a) & (newton < hi_a)
        nu = np.where(inside, newton, 0.5 * (lo_a + hi_a))
        nu = np.where(F == 0, ua, nu)
        u[act] = nu
        scale = np.maximum(1.0, np.abs(ua))
        conv = (F == 0) | (np.abs(nu - ua) <= 1e-12 * scale) | (hi_a - lo_a <= 1e-13 * scale)
        act = act[~conv]
    return np.exp(u).reshape(shape)



def mcnemar_exact(b: object, c: object) -> np.ndarray:
    """One-sided exact McNemar test that changes towards the label outnumber changes away from it.

    ``b``: members that lost the label between two model versions; ``c``: members that gained it.
    Under the null a change is equally likely either way, so ``c ~ Binomial(b + c, 1/2)`` and the
    p-value is ``P(C >= c)`` (from the survival function). Policy: no change at all (b + c = 0) gives 1.
    """
    from scipy.stats import binom

    b_, c_ = np.broadcast_arrays(_whole("b", b), _whole("c", c))
    if (b_ < 0).any() or (c_ < 0).any():
        raise ValueError("b and c must be counts >= 0.")
    n = b_ + c_
    p = np.where(n > 0, binom.sf(c_ - 1, np.maximum(n, 1), 0.5), 1.0)
    return np.clip(p, 0.0, 1.0)


def rate_increase_pvalue(k1: object, n1: object, k0: object, n0: object) -> np.ndarray:
    """One-sided Fisher exact test that the rate k1/n1 (now) exceeds k0/n0 (before), unpaired.

    The table ``[[k1, n1 - k1], [k0, n0 - k0]]`` is a hypergeometric draw of ``n1`` from ``n1 + n0``
    with ``k1 + k0`` successes; the p-value is its upper tail at ``k1``.
    """
    k1_, n1_, k0_, n0_ = (np.asarray(_whole(nm, v)) for nm, v in (("k1", k1), ("n1", n1), ("k0", k0), ("n0", n0)))
    return hypergeom_upper_tail(k1_, n1_, k1_ + k0_, n1_ + n0_)
