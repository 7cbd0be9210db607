"""Association detectors: labels over- (or under-) represented in a group, tested exactly, per family.

Every (group, label) cell gets a one-sided exact hypergeometric test within the group's universe.
Two families share out the error budget separately: ``watchlist`` (labels of the watchlist and its
expansion, on groups about people: where they do harm) and ``discovery`` (every other pair,
including a watchlist label on a group that is not about people), each with Benjamini-Hochberg (or
Benjamini-Yekutieli, ``ctx.correction == "by"``) at ``ctx.fdr`` after Tarone's
testability filter: a (group, label) pair whose margins cannot give a p-value small enough to be
significant is not counted as a hypothesis. Zero cells are hypotheses too when testable.

- ``association`` tests over-representation on the non-zero cells (a zero cell has p = 1 there,
  so it only counts in the family size).
- ``under_representation`` (only when its setting ``labels`` is true or a list of labels:
  ``scan.detectors.under_representation.labels``, or the older ``scan.under_representation``) tests
  the lower tail, where zero cells matter most: the testable pairs are enumerated
  from the margins (for each group, a contiguous run of the sorted label counts), never from a
  dense table. Its pairs form one family, ``under:discovery``: a watchlist label applied *less* to a
  group is not that label's harm, so it never spends the watchlist budget nor ranks as harm. In a
  universe with two values (``a=x`` vs ``a=y``) the lower tail of one is the upper tail of the other,
  which ``association`` tests: when it runs, such complementary pairs are left to it (tested once,
  and the finding's group description names both).

Effects: rates inside and outside with Wilson intervals, the lift (rate ratio) with a Katz
interval, and the empirical-Bayes shrunk lift: DuMouchel's Gamma-Poisson shrinker applied to the
count in the group against the count the group would have at the outside rate
(:func:`lift_baseline`), giving ``eb05`` (5th posterior percentile) and ``ebgm``, with one prior
fitted on all non-zero cells of the scan (left-truncated likelihood). ``eb05`` is what severity
ranks on, so one hit where 0.01 were expected never tops the list. The prior goes to run.json's
``detector_facts`` as ``association.gps_prior``; ``ctx.gps_prior``, when given, is used instead of fitting.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
from pydantic import field_validator

from tagscan.scan import stats
from tagscan.scan.detectors.base import (
    Detector,
    DetectorConfig,
    DetectorResult,
    FamilyRecord,
    ScanContext,
    cell_table,
    register,
)
from tagscan.scan.groups import complements

__all__ = [
    "AssociationDetector",
    "UnderRepresentationConfig",
    "UnderRepresentationDetector",
    "fit_prior",
    "lift_baseline",
    "run_family",
]


Blocks = list  # list[tuple[label_mask, group_mask]]: a family is the union of its blocks' products


def _universes(ctx: ScanContext, blocks: Blocks):
    """Per block and universe: (group indices, group sizes, label indices with K > 0, their K, N)."""
    groups, UL = ctx.groups, ctx.counts.universe_label_counts
    for label_mask, group_mask in blocks:
        labels_all = np.flatnonzero(label_mask)
        for u in range(UL.shape[0]):
            gi = np.flatnonzero((groups.universe == u) & group_mask)
            if len(gi) == 0 or len(labels_all) == 0:
                continue
            K = UL[u, labels_all]
            keep = K > 0
            yield gi, groups.sizes[gi], labels_all[keep], K[keep], int(groups.universe_sizes[gi[0]])


def _tarone(ctx: ScanContext, blocks: Blocks, alpha: float, alternative: str) -> tuple[float, int, int]:
    """Tarone's search over the whole family (every block, every universe).

    Smallest k >= 1 with m(alpha / k) <= k, where m counts the pairs whose minimum attainable
    p-value is at most alpha / k; returns (alpha / k, m(alpha / k), number of pairs).
    """
    per_uni = [(n, K, N) for _, n, _, K, N in _universes(ctx, blocks)]
    n_pairs = sum(len(n) * len(K) for n, K, _ in per_uni)
    if n_pairs == 0:
        return 0.0, 0, 0

    def m_at(level: float) -> int:
        return sum(stats.count_testable_pairs(n, K, N, level, alternative=alternative) for n, K, N in per_uni)

    lo, hi = 1, n_pairs
    while lo < hi:  # m(alpha / k) - k is decreasing in k
        mid = (lo + hi) // 2
        if m_at(alpha / mid) <= mid:
            hi = mid
        else:
            lo = mid + 1
    level = alpha / lo
    return level, m_at(level), n_pairs


def _testable_lower_cells(ctx: ScanContext, blocks: Blocks, level: float):
    """Enumerate the (group, label) pairs testable for under-representation, zero cells included."""
    c = ctx.counts
    L = len(ctx.labels)
    keys = c.group * L + c.label  # sorted: counts are ordered by (group, label)
    out = []
    for gi, n, labs, K, N in _universes(ctx, blocks):
        order = np.argsort(K, kind="stable")
        labs, K = labs[order], K[order]
        lo, hi = stats.testable_label_ranges(n, K, N, level, alternative="less")
        sizes = hi - lo
        if sizes.sum() == 0:
            continue
        g = np.repeat(gi, sizes)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        pos = np.arange(int(sizes.sum())) + starts
        lab = labs[pos]
        key = g * L + lab
        at = np.searchsorted(keys, key)
        found = (at < len(keys)) & (keys[np.minimum(at, len(keys) - 1)] == key)
        k = np.where(found, c.count[np.minimum(at, len(keys) - 1)], 0)
        out.append((g, lab, k, np.repeat(n, sizes), K[pos], np.full(len(g), N, dtype=np.int64)))
    if not out:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e, e, e, e
    return tuple(np.concatenate(parts) for parts in zip(*out))


def lift_baseline(k: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray) -> np.ndarray:
    """The count a group of n would have at the outside rate: n (K - k) / (N - n).

    The shrunk ratio count / baseline is the lift. Policy: an outside count of 0 is read as 0.5
    (so the baseline stays positive), and an empty outside as 1 sample.
    """
    return n * np.maximum(K - k, 0.5) / np.maximum(N - n, 1)


def fit_prior(ctx: ScanContext) -> stats.GPSPrior | None:
    """DuMouchel's prior fitted once per scan on all non-zero cells (left-truncated at 1)."""
    c = ctx.counts
    if ctx.gps_prior is not None:
        return ctx.gps_prior
    E = lift_baseline(c.count, c.group_size, c.label_count, c.total)
    ok = E > 0
    if ok.sum() < 10:
        return None
    try:
        # A seeded subsample of 20,000 distinct (count, baseline) pairs estimates the likelihood well.
        return stats.fit_gps_prior(c.count[ok], E[ok], min_count=1, max_points=20_000)
    except (ValueError, FloatingPointError):
        return None


def run_family(
    ctx: ScanContext,
    name: str,
    blocks: Blocks | np.ndarray,
    *,
    alternative: str = "greater",
    prior: stats.GPSPrior | None = None,
) -> tuple[pd.DataFrame, FamilyRecord]:
    """Test one family; return its significant rows and its FamilyRecord.

    ``blocks`` is a list of (label mask, group mask) whose products make up the family; a bare label
    mask means that label set on every group.
    """
    if isinstance(blocks, np.ndarray):
        blocks = [(blocks, np.ones(len(ctx.groups), dtype=bool))]
    correction = ctx.correction
    level, m_eff, n_pairs = _tarone(ctx, blocks, ctx.fdr, alternative)
    live = [lm for lm, gm in blocks if gm.any()]
    n_labels = int(np.logical_or.reduce(live).sum()) if live else 0
    if alternative == "greater":
        c = ctx.counts
        sel = np.zeros(len(c), dtype=bool)
        for lm, gm in blocks:
            sel |= lm[c.label] & gm[c.group]
        g, lab, k, n, K, N = c.group[sel], c.label[sel], c.count[sel], c.group_size[sel], c.label_count[sel], c.total[sel]
        testable = stats.min_attainable_pvalue(n, K, N) <= level
    else:
        g, lab, k, n, K, N = _testable_lower_cells(ctx, blocks, level)
        testable = np.ones(len(k), dtype=bool)
    p = np.ones(len(k))
    tail = stats.hypergeom_upper_tail if alternative == "greater" else stats.hypergeom_lower_tail
    p[testable] = tail(k[testable], n[testable], K[testable], N[testable])
    q = np.ones(len(k))
    if testable.any():
        adjust = stats.benjamini_yekutieli if correction == "by" else stats.benjamini_hochberg
        q[testable] = adjust(p[testable], m=max(m_eff, int(testable.sum())))
    hit = testable & (q <= ctx.fdr)
    fam = FamilyRecord(name, n_labels, n_pairs, m_eff, float(level), int(hit.sum()), correction, alternative)
    if not hit.any():
        return pd.DataFrame(), fam
    k, n, K, N, g, lab, p, q = (a[hit] for a in (k, n, K, N, g, lab, p, q))
    if prior is not None:
        base = lift_baseline(k, n, K, N)
        eb05, ebgm = stats.gps_quantile(k, base, prior, q=0.05), stats.gps_ebgm(k, base, prior)
    else:
        eb05 = ebgm = np.nan
    rows = cell_table(
        detector="association" if alternative == "greater" else "under_representation",
        family=name, group_index=g, label_index=lab, k=k, n=n, K=K, N=N, p=p, q=q, family_size=m_eff,
        eb05=eb05, ebgm=ebgm,
    )
    return rows, fam


def _under_blocks(ctx: ScanContext, label_mask: np.ndarray) -> tuple[dict[str, Blocks], int]:
    """One discovery family for the lower tail: every label of ``label_mask`` on every group but the people
    views, less the groups whose complement ``association`` tests in the upper tail (when it runs)."""
    is_view, _ = ctx.people_views()
    groups = ~is_view
    left = 0
    if "association" in ctx.detectors_run:
        paired = complements(ctx.groups) >= 0
        left = int((groups & paired).sum())
        groups &= ~paired
    return {"discovery": [(label_mask, groups)]}, left


def _run_both_families(ctx: ScanContext, prefix: str, label_mask: np.ndarray, alternative: str) -> DetectorResult:
    prior = fit_prior(ctx) if alternative == "greater" else None
    frames, fams = [], []
    facts = {}
    if alternative == "greater":
        budgets = ctx.family_blocks(label_mask)
    else:
        budgets, left = _under_blocks(ctx, label_mask)
        facts["complementary_groups_left_to_association"] = left
    for fam_name, blocks in budgets.items():
        rows, fam = run_family(ctx, f"{prefix}{fam_name}", blocks, alternative=alternative, prior=prior)
        if len(rows):
            frames.append(rows)
        fams.append(fam)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if prior is not None:
        facts["gps_prior"] = {k: float(v) if not isinstance(v, bool) else v for k, v in asdict(prior).items()}
    return DetectorResult(out, tuple(fams), facts)


@register
class AssociationDetector(Detector):
    """Labels over-represented in a group (one-sided exact hypergeometric, Tarone + BH per family)."""

    name = "association"
    requires = ()
    direction = "over"
    rate_worse = "up"  # rescans: the label applied to more of the group is worse (paired when same samples)

    def run(self, ctx: ScanContext, config: DetectorConfig) -> DetectorResult:
        return _run_both_families(ctx, "", np.ones(len(ctx.labels), dtype=bool), "greater")


class UnderRepresentationConfig(DetectorConfig):
    """``labels``: the labels that should apply equally across groups, tested for under-representation
    (true = every label; a list = those labels; false = none, and the detector is skipped)."""

    labels: bool | list[str] = False

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, v: object) -> object:
        if isinstance(v, bool) or (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            return v
        raise ValueError("must be true (every label), false (none) or a list of label ids")


@register
class UnderRepresentationDetector(Detector):
    """Labels that should apply equally across groups but are applied less often to one (lower tail)."""

    name = "under_representation"
    Config = UnderRepresentationConfig
    requires = ()
    direction = "under"
    rate_worse = "down"  # rescans: the label applied to fewer of the group is worse
    legacy = {"labels": "under_representation"}

    def missing(self, ctx: ScanContext, config: UnderRepresentationConfig) -> list[str]:
        off = [] if config.labels else ["scan.under_representation switched on"]
        return [*super().missing(ctx, config), *off]

    def run(self, ctx: ScanContext, config: UnderRepresentationConfig) -> DetectorResult:
        if config.labels is True:
            mask = np.ones(len(ctx.labels), dtype=bool)
        else:
            mask = np.isin(ctx.labels, np.asarray(list(config.labels), dtype=object))
        return _run_both_families(ctx, "under:", mask, "less")
