"""The error_gap detector: with ground truth, error rates of a label inside a group vs outside it.

For each (group, label) pair, within the group's universe:

- **FPR excess** (the label applied wrongly): among the samples whose truth lacks the label (the
  label's *negatives*), is the group's share of the false positives larger than its share of the
  negatives? Conditioning on the negatives, the group's false-positive count is hypergeometric::

                          group negatives (n)    other negatives (N - n)
      predicted (FP, K)   k                      K - k
      not predicted       n - k                  N - n - K + k

  with N = universe samples without the label in truth, n = group members without it, K = false
  positives in the universe, k = false positives in the group. One-sided upper tail
  (:func:`stats.hypergeom_upper_tail`, equal to ``fisher_exact(..., alternative="greater")``).
- **TPR shortfall** (Hardt et al.'s equal opportunity): among the label's true positives, does
  the group receive the label less often? The same table on the positives (N = universe true
  positives, n = group true positives, K = true positives predicted, k = in the group), lower tail
  (:func:`stats.hypergeom_lower_tail`). Only pairs where the group has true positives can be
  tested: with none, the group's TPR is undefined and the support is a single point. A pair
  whose group has true positives but no hit at all (k = 0) is the strongest case, so these cells
  are enumerated from the truth counts ``G.T @ T``, not from the predictions.

Multiplicity: per budget (``error_gap:watchlist``: watchlist labels on groups about people;
``error_gap:discovery``: every other pair, as given by ``ScanContext.family_blocks``) one family
holds both kinds of hypotheses, with Tarone's
testability filter and then Benjamini-Hochberg (or Benjamini-Yekutieli with
``ctx.correction == "by"``) at ``ctx.fdr``.
Tarone's count covers every FPR pair of the family, zero cells included, without the dense
table: pairs where the group has neither a truth positive nor a false positive have margins
(n = group size, K, N = universe size - truth positives), whose minimum attainable p-value is at
least that of (group size, K, universe size) (it decreases in N); those pairs are counted through
:func:`stats.count_testable_pairs` with the universe size, i.e. over-counted, which can only make
the family larger (conservative). Every other pair is materialised and counted exactly.
TPR pairs are all materialised (group true positives > 0) and counted exactly.

Policies for undefined statistics:

- A pair whose label has no false positive in the universe (K = 0) has nothing to test (p = 1)
  and is not a hypothesis; likewise TPR pairs without true positives in the group.
- Rates with an empty denominator print as ``n/a`` in ``detail``; the lift follows
  :func:`stats.rate_ratio_ci` (NaN for an empty side, which cannot be testable anyway).
- One row per (group, label): when both tests are significant, the row reports the FPR excess (the
  over-application this tool is about) and ``detail`` names the TPR shortfall too.
- **The universe is the annotated samples.** ``ctx.truth_rows`` (bool per sample; the pipeline passes
  :attr:`AuditSet.annotated <tagscan.inputs.AuditSet>`) marks the samples that have ground truth: those
  ``data.truth`` names (a row with an empty label: annotated, no positive label), or every sample with
  ``data.truth_exhaustive: true``. Groups and universes are restricted to them, so an unannotated sample
  is neither a negative nor a positive: counting it as a negative would turn every prediction on it into
  a false positive, and a group whose truth covers less of it would show an FPR excess on a perfect
  tagger. None (a caller without the mask): every sample is annotated. run.json records the count as
  ``error_gap.annotated_samples`` (of ``error_gap.samples``).

Row columns: FPR rows carry false positives (``count`` = group FP, ``group_size`` = group negatives,
``label_count`` = universe FP, ``universe_size`` = universe negatives, rates = FPRs, lift = FPR ratio
with its Katz interval). TPR rows carry the misses (false negatives) so that lift > 1 means the
group is worse off in both kinds: ``count`` = group true positives not predicted, ``group_size`` =
group true positives, ``label_count`` = universe misses, ``universe_size`` = universe true positives,
rates = miss rates (1 - TPR), lift = miss-rate ratio; the p-value is the TPR lower tail (the same
number as the miss count's upper tail). ``detail`` starts with ``FPR excess`` or ``TPR shortfall``
and gives both FPR and TPR inside vs outside. Extra columns (dropped by the findings table unless
it keeps them): ``error_kind`` (``fpr`` | ``tpr``) and ``p_fpr``, ``q_fpr``, ``p_tpr``, ``q_tpr`` (NaN
for a test the cell did not get), and ``example_rows`` (sample row numbers for review, best
first: the group's false positives by score, or its missed true positives).
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.errors import DataError
from tagscan.scan import stats
from tagscan.scan.detectors.base import (
    Detector,
    DetectorConfig,
    DetectorResult,
    ScanContext,
    cell_table,
    rate_change,
    register,
    sparse_values_at,
)

__all__ = ["ErrorGapDetector"]

log = logging.getLogger(__name__)

NAME = "error_gap"
EXAMPLE_CANDIDATES = 32


def _binary(M: sp.spmatrix, what: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """A 0/1 int64 CSR copy of ``M`` (any stored non-zero counts as 1)."""
    if M.shape != shape:
        raise DataError(
            f"{what}: expected a samples x labels matrix of shape {shape} (the predictions' shape), "
            f"found {M.shape}; build truth over the same samples and label index as the predictions"
        )
    B = sp.csr_matrix(M, copy=True)
    B.data = (B.data != 0).astype(np.int64)
    B.eliminate_zeros()
    return B


def _mask(rows: np.ndarray | None, n: int) -> np.ndarray | None:
    """The annotated samples as a bool mask of ``n`` (None: every sample); a malformed mask is left for
    :class:`_Cells` to report."""
    if rows is None:
        return None
    rows = np.asarray(rows)
    return rows if rows.shape == (n,) and rows.dtype == bool else None


def _adjust(p: np.ndarray, m: int, correction: str) -> np.ndarray:
    if correction == "by":
        return stats.benjamini_yekutieli(p, m=m)
    if correction != "bh":
        raise ValueError(
            f"correction must be 'bh' or 'by'; found {correction!r}. Use 'bh' (Benjamini-Hochberg) "
            "or 'by' (Benjamini-Yekutieli, for arbitrary dependence)."
        )
    return stats.benjamini_hochberg(p, m=m)


def _tarone_search(m_at, alpha: float, n_pairs: int) -> tuple[float, int]:
    """Smallest k in [1, n_pairs] with m(alpha / k) <= k (m(alpha / k) - k decreases in k)."""
    if n_pairs == 0:
        return 0.0, 0
    lo, hi = 1, n_pairs
    while lo < hi:
        mid = (lo + hi) // 2
        if m_at(alpha / mid) <= mid:
            hi = mid
        else:
            lo = mid + 1
    level = alpha / lo
    return level, int(m_at(level))


def _n_labels(blocks: list) -> int:
    """Labels that appear in the family on at least one group."""
    live = [lm for lm, gm in blocks if gm.any()]
    return int(np.logical_or.reduce(live).sum()) if live else 0


def _count_le(sorted_values: np.ndarray, level: float) -> int:
    return int(np.searchsorted(sorted_values, level, side="right"))


def _pct(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    v = 100.0 * x
    if v == 0 or v >= 1:
        return f"{v:.1f}%"
    return f"{v:.2g}%"


class _Cells:
    """The materialised (group, label) cells with every margin both tests need (parallel arrays)."""

    def __init__(self, ctx: ScanContext) -> None:
        n_s, L = ctx.shape()
        # Out of core: only the annotated samples' positives are read into memory (the rest are not counted).
        Ysrc = ctx.Y if ctx.Y is not None else ctx.positive_store().rows_full(_mask(ctx.truth_rows, n_s))[0]
        Y = _binary(Ysrc, "predictions", (n_s, L))
        T = _binary(ctx.truth, "truth", (n_s, L))
        TP = Y.multiply(T).tocsr()
        FP = (Y - TP).tocsr()
        FP.eliminate_zeros()
        groups = ctx.groups
        G = sp.csc_matrix(groups.membership, dtype=np.int64)
        U = sp.csc_matrix(groups.universes, dtype=np.int64)
        rows = ctx.truth_rows
        if rows is not None:
            rows = np.asarray(rows)
            if rows.shape != (n_s,) or rows.dtype != bool:
                raise DataError(
                    f"ScanContext.truth_rows: expected a bool array with one entry per sample ({n_s}), "
                    f"found dtype {rows.dtype} and shape {rows.shape}; pass a mask of the samples that have truth"
                )
            D = sp.diags(rows.astype(np.int64), dtype=np.int64)
            G, U = (D @ G).tocsc(), (D @ U).tocsc()
        self.sizes = np.asarray(G.sum(axis=0)).ravel().astype(np.int64)
        usizes = np.asarray(U.sum(axis=0)).ravel().astype(np.int64)
        self.uni = np.asarray(groups.universe, dtype=np.int64)
        self.usize_of_group = usizes[self.uni]
        Gt = G.T.tocsr()
        GT, GFP, GTP = (Gt @ T).tocsr(), (Gt @ FP).tocsr(), (Gt @ TP).tocsr()
        Ut = U.T.tocsr()
        self.UT = np.asarray((Ut @ T).todense(), dtype=np.int64)  # universes x labels (few universes)
        self.UFP = np.asarray((Ut @ FP).todense(), dtype=np.int64)
        self.UTP = np.asarray((Ut @ TP).todense(), dtype=np.int64)
        self.usizes = usizes
        self._Y, self._T = Y, T
        self.truth_rows = rows
        # Cells where the group has a truth positive or a false positive (the union of both patterns).
        P = (GT + GFP).tocoo()
        P.sum_duplicates()
        g, lab = P.row.astype(np.int64), P.col.astype(np.int64)
        order = np.lexsort((lab, g))
        g, lab = g[order], lab[order]
        self.g, self.lab = g, lab
        gt, gfp, gtp = (sparse_values_at(M, g, lab, dtype=np.int64) for M in (GT, GFP, GTP))
        u = self.uni[g]
        # FPR table on the negatives.
        self.fp_k = gfp
        self.fp_n = self.sizes[g] - gt
        self.fp_K = self.UFP[u, lab]
        self.fp_N = usizes[u] - self.UT[u, lab]
        # TPR table on the positives.
        self.tp_k = gtp
        self.tp_n = gt
        self.tp_K = self.UTP[u, lab]
        self.tp_N = self.UT[u, lab]

    @functools.cached_property
    def Yc(self) -> sp.csc_matrix:  # by label, for review examples
        return self._Y.tocsc()

    @functools.cached_property
    def Tc(self) -> sp.csc_matrix:
        return self._T.tocsc()


def _family(
    ctx: ScanContext, cells: _Cells, name: str, blocks: list, correction: str
) -> tuple[pd.DataFrame, dict]:
    """Test one budget: the union of its (label mask, group mask) blocks (``ScanContext.family_blocks``)."""
    c = cells
    in_fam = np.zeros(len(c.g), dtype=bool)
    for lm, gm in blocks:
        in_fam |= lm[c.lab] & gm[c.g]
    fsel = np.flatnonzero(in_fam & (c.fp_K > 0))
    tsel = np.flatnonzero(in_fam & (c.tp_n > 0))
    g_f = c.g[fsel]
    minp_fp = stats.min_attainable_pvalue(c.fp_n[fsel], c.fp_K[fsel], c.fp_N[fsel])
    # The bound used for the unmaterialised pairs, evaluated on the materialised ones to remove them.
    minp_fp_bound = stats.min_attainable_pvalue(c.sizes[g_f], c.fp_K[fsel], c.usize_of_group[g_f])
    minp_tp = stats.min_attainable_pvalue(c.tp_n[tsel], c.tp_K[tsel], c.tp_N[tsel], alternative="less")
    s_fp, s_bound, s_tp = np.sort(minp_fp), np.sort(minp_fp_bound), np.sort(minp_tp)

    per_uni = []
    for lm, gm in blocks:  # two blocks at most
        labels_all = np.flatnonzero(lm)
        for u in range(len(c.usizes)):  # a handful of universes
            gi = np.flatnonzero((c.uni == u) & gm)
            if len(gi) == 0 or len(labels_all) == 0:
                continue
            K = c.UFP[u, labels_all]
            per_uni.append((c.sizes[gi], K[K > 0], int(c.usizes[u])))
    n_pairs = sum(len(n) * len(K) for n, K, _ in per_uni) + len(tsel)

    def m_at(level: float) -> int:
        cross = sum(stats.count_testable_pairs(n, K, N, level) for n, K, N in per_uni)
        return cross - _count_le(s_bound, level) + _count_le(s_fp, level) + _count_le(s_tp, level)

    level, m_eff = _tarone_search(m_at, ctx.fdr, n_pairs)
    ft = fsel[minp_fp <= level]
    tt = tsel[minp_tp <= level]
    p_fp = stats.hypergeom_upper_tail(c.fp_k[ft], c.fp_n[ft], c.fp_K[ft], c.fp_N[ft])
    p_tp = stats.hypergeom_lower_tail(c.tp_k[tt], c.tp_n[tt], c.tp_K[tt], c.tp_N[tt])
    n_test = len(ft) + len(tt)
    q = _adjust(np.concatenate([p_fp, p_tp]), max(m_eff, n_test), correction) if n_test else np.zeros(0)
    q_fp, q_tp = q[: len(ft)], q[len(ft) :]
    hit_f, hit_t = q_fp <= ctx.fdr, q_tp <= ctx.fdr
    n_sig = int(hit_f.sum() + hit_t.sum())
    fam = {
        "name": name,
        "n_labels": _n_labels(blocks),
        "n_pairs": int(n_pairs),
        "n_testable": int(m_eff),
        "tarone_level": float(level),
        "n_significant": n_sig,
        "correction": correction,
        "alternative": "FPR greater, TPR less",
    }
    if n_sig == 0:
        return pd.DataFrame(), fam

    # Per-cell test results (NaN where a test was not run), for the detail strings.
    q_cell_fp = np.full(len(c.g), np.nan)
    q_cell_tp = np.full(len(c.g), np.nan)
    p_cell_fp = np.full(len(c.g), np.nan)
    p_cell_tp = np.full(len(c.g), np.nan)
    q_cell_fp[ft], p_cell_fp[ft] = q_fp, p_fp
    q_cell_tp[tt], p_cell_tp[tt] = q_tp, p_tp
    fr = ft[hit_f]
    tr = np.setdiff1d(tt[hit_t], fr)  # one row per cell: FPR excess takes precedence
    frames = []
    for kind, idx in (("fpr", fr), ("tpr", tr)):
        if len(idx) == 0:
            continue
        if kind == "fpr":
            k, n, K, N, p, qv = (
                c.fp_k[idx],
                c.fp_n[idx],
                c.fp_K[idx],
                c.fp_N[idx],
                p_cell_fp[idx],
                q_cell_fp[idx],
            )
        else:  # misses: true positives that were not predicted
            n, N = c.tp_n[idx], c.tp_N[idx]
            k, K = n - c.tp_k[idx], N - c.tp_K[idx]
            p, qv = p_cell_tp[idx], q_cell_tp[idx]
        frames.append(
            cell_table(
                detector=NAME, family=name, group_index=c.g[idx], label_index=c.lab[idx],
                k=k, n=n, K=K, N=N, p=p, q=qv, family_size=m_eff,
                **{
                    "error_kind": kind,
                    "p_fpr": p_cell_fp[idx],
                    "q_fpr": q_cell_fp[idx],
                    "p_tpr": p_cell_tp[idx],
                    "q_tpr": q_cell_tp[idx],
                    "detail": _details(c, idx, kind, q_cell_fp, q_cell_tp),
                    "example_rows": _examples(ctx, c, idx, kind),
                },
            )
        )
    return pd.concat(frames, ignore_index=True), fam


def _column(M: sp.csc_matrix, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers (sorted) and values of column ``j``."""
    sl = slice(M.indptr[j], M.indptr[j + 1])
    rows, vals = M.indices[sl].astype(np.int64), M.data[sl]
    order = np.argsort(rows, kind="stable")
    return rows[order], vals[order]


def _examples(ctx: ScanContext, c: _Cells, idx: np.ndarray, kind: str) -> list[np.ndarray]:
    """Review candidates per finding, best first (at most ``EXAMPLE_CANDIDATES``).

    FPR excess: the group's false positives, highest score first. TPR shortfall: the group's missed
    true positives (they have no score), in sample order.
    """
    scores = ctx.score_columns(np.unique(c.lab[idx]))
    out = []
    for g, lab in zip(c.g[idx], c.lab[idx]):  # one list per finding
        mem = ctx.groups.members(int(g))
        if c.truth_rows is not None:
            mem = mem[c.truth_rows[mem]]
        pred, _ = _column(c.Yc, int(lab))
        true, _ = _column(c.Tc, int(lab))
        if kind == "fpr":
            rows = np.setdiff1d(np.intersect1d(pred, mem), true)
            srows, sval = _column(scores, int(lab))
            val = np.zeros(len(rows))
            at = np.searchsorted(srows, rows)
            ok = at < len(srows)
            ok[ok] = srows[at[ok]] == rows[ok]
            val[ok] = sval[at[ok]]
            rows = rows[np.lexsort((rows, -val))]
        else:
            rows = np.setdiff1d(np.intersect1d(true, mem), pred)
        out.append(rows[:EXAMPLE_CANDIDATES])
    return out


def _rates(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.divide(k, n, out=np.full(len(k), np.nan), where=n > 0)


def _details(c: _Cells, idx: np.ndarray, kind: str, q_fp: np.ndarray, q_tp: np.ndarray) -> list[str]:
    fpr_in = _rates(c.fp_k[idx], c.fp_n[idx])
    fpr_out = _rates(c.fp_K[idx] - c.fp_k[idx], c.fp_N[idx] - c.fp_n[idx])
    tpr_in = _rates(c.tp_k[idx], c.tp_n[idx])
    tpr_out = _rates(c.tp_K[idx] - c.tp_k[idx], c.tp_N[idx] - c.tp_n[idx])
    out = []
    for j, i in enumerate(idx):  # one string per finding
        head = "FPR excess" if kind == "fpr" else "TPR shortfall"
        s = (
            f"{head}: FPR {_pct(fpr_in[j])} vs {_pct(fpr_out[j])} outside "
            f"({c.fp_k[i]:,} false positives among {c.fp_n[i]:,} group negatives); "
            f"TPR {_pct(tpr_in[j])} vs {_pct(tpr_out[j])} outside ({c.tp_n[i]:,} group true positives)"
        )
        if kind == "fpr" and np.isfinite(q_tp[i]):
            s += f"; TPR shortfall test q={q_tp[i]:.2g}"
        out.append(s)
    return out


@register
class ErrorGapDetector(Detector):
    """False-positive rate excess and true-positive rate shortfall of a label in a group (needs truth)."""

    name = NAME
    requires = ("truth",)
    direction = "over"  # FPR rows carry false positives, TPR rows the misses: lift > 1 is worse in both
    pairs_predictions = False  # rows count errors against truth, not the group's predictions of the label

    def change(self, prev, cur, paired):
        """Rescans: the row's own error rate up is worse (FPR rows: false positives among the group's
        negatives; TPR rows: misses among its true positives), unpaired on the recorded counts."""
        kind = cur.get("error_kind") or ("tpr" if str(cur.get("detail") or "").startswith("TPR") else "fpr")
        return rate_change(prev, cur, None, worse="up", what="miss rate" if kind == "tpr" else "false-positive rate")

    def run(self, ctx: ScanContext, config: DetectorConfig) -> DetectorResult:
        correction = ctx.correction
        cells = _Cells(ctx)
        frames, fams = [], []
        for budget, blocks in ctx.family_blocks().items():
            rows, fam = _family(ctx, cells, f"{NAME}:{budget}", blocks, correction)
            fams.append(fam)
            if len(rows):
                frames.append(rows)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        n_s = ctx.shape()[0]
        annotated = n_s if cells.truth_rows is None else int(cells.truth_rows.sum())
        return DetectorResult(out, tuple(fams), {"annotated_samples": annotated, "samples": int(n_s)})
