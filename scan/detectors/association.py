"""The association detector: labels over-represented in a group, tested exactly, in two families.

Every non-zero (group, label) cell gets a one-sided exact hypergeometric test of over-representation
within the group's universe. Two families share out the error budget separately: ``watchlist``
(labels of the watchlist and its expansion) and ``discovery`` (every other label), each with
Benjamini-Hochberg at the config's ``fdr`` after Tarone's testability filter: a (group, label) pair
whose margins cannot give a p-value small enough to be significant is not counted as a hypothesis.
Zero cells are hypotheses too (p = 1) when testable, so the family size covers every testable pair,
not only the non-zero cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tagscan.scan import stats
from tagscan.scan.detectors.base import Detector, ScanContext, register

__all__ = ["AssociationDetector", "FamilyResult", "run_family"]

FAMILIES = ("watchlist", "discovery")


@dataclass(frozen=True)
class FamilyResult:
    name: str
    n_labels: int
    n_pairs: int  # every (tested group, label with K > 0 in the universe) pair
    n_testable: int  # after Tarone's filter: the family size used by BH
    tarone_level: float
    n_significant: int


def _testable_level(ctx: ScanContext, label_mask: np.ndarray, alpha: float) -> tuple[float, int, int]:
    """Tarone's search over the whole family (all groups x labels of the mask), per universe.

    Returns (level, m_effective, n_pairs): hypotheses with min attainable p <= level are testable.
    """
    groups, UL = ctx.groups, ctx.counts.universe_label_counts
    per_uni = []
    n_pairs = 0
    for u in range(UL.shape[0]):
        gsz = groups.sizes[groups.universe == u]
        if len(gsz) == 0:
            continue
        K = UL[u, label_mask]
        K = K[K > 0]
        N = int(groups.universe_sizes[groups.universe == u][0])
        per_uni.append((gsz, K, N))
        n_pairs += len(gsz) * len(K)
    if n_pairs == 0:
        return 0.0, 0, 0

    def m_at(level: float) -> int:
        return sum(stats.count_testable_pairs(g, K, N, level) for g, K, N in per_uni)

    # Smallest k >= 1 with m(alpha / k) <= k; m(alpha / k) - k is decreasing in k.
    lo, hi = 1, max(1, n_pairs)
    if m_at(alpha / lo) <= lo:
        hi = lo
    while lo < hi:
        mid = (lo + hi) // 2
        if m_at(alpha / mid) <= mid:
            hi = mid
        else:
            lo = mid + 1
    level = alpha / hi
    return level, m_at(level), n_pairs


def run_family(ctx: ScanContext, name: str, label_mask: np.ndarray) -> tuple[pd.DataFrame, FamilyResult]:
    """Test the non-zero cells whose label is in ``label_mask``; return significant rows and the family."""
    c = ctx.counts
    sel = label_mask[c.label]
    k, n, K, N = c.count[sel], c.group_size[sel], c.label_count[sel], c.total[sel]
    g, lab = c.group[sel], c.label[sel]
    level, m_eff, n_pairs = _testable_level(ctx, label_mask, ctx.fdr)
    minp = stats.min_attainable_pvalue(n, K, N)
    testable = minp <= level
    p = np.ones(len(k))
    p[testable] = stats.hypergeom_upper_tail(k[testable], n[testable], K[testable], N[testable])
    q = np.ones(len(k))
    if testable.any():
        q[testable] = stats.benjamini_hochberg(p[testable], m=max(m_eff, int(testable.sum())))
    hit = testable & (q <= ctx.fdr)
    fam = FamilyResult(name, int(label_mask.sum()), n_pairs, m_eff, float(level), int(hit.sum()))
    if not hit.any():
        return pd.DataFrame(), fam
    k, n, K, N, g, lab, p, q = (a[hit] for a in (k, n, K, N, g, lab, p, q))
    out_n = N - n
    out_k = K - k
    lift, lo, hi = stats.rate_ratio_ci(k, n, out_k, out_n)
    rows = pd.DataFrame(
        {
            "detector": "association",
            "family": name,
            "group_index": g,
            "label_index": lab,
            "count": k,
            "group_size": n,
            "label_count": K,
            "universe_size": N,
            "expected": n * K / N,
            "rate_in_group": k / n,
            "rate_outside": np.divide(out_k, out_n, out=np.zeros(len(k)), where=out_n > 0),
            "lift": lift,
            "lift_low": lo,
            "lift_high": hi,
            "p_value": p,
            "q_value": q,
            "family_size": m_eff,
        }
    )
    return rows, fam


@register
class AssociationDetector(Detector):
    """Labels over-represented in a group (one-sided exact hypergeometric, BH per family)."""

    name = "association"
    requires = ()

    def run(self, ctx: ScanContext) -> pd.DataFrame:
        watch = ctx.watch_weight > 0
        frames, fams = [], []
        for fam_name, mask in (("watchlist", watch), ("discovery", ~watch)):
            rows, fam = run_family(ctx, fam_name, mask)
            frames.append(rows)
            fams.append(fam)
        out = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else pd.DataFrame()
        out.attrs["families"] = [f.__dict__ for f in fams]
        return out
