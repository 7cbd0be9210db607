"""The alignment_gap detector: a label applied to a group for reasons that don't look like the label.

Only meaningful when inputs and label names live in one embedding space (the same text model
embedded both, or a CLIP-style pair): the detector requires ``vectors``, ``label_vectors`` and
``ctx.shared_space`` true, and is skipped with that reason otherwise.

For every positive prediction (sample i received label l) the cosine similarity
``s_il = <v_i, w_l> / (|v_i| |w_l|)`` is computed once, in blocks over the non-zeros of ``Y``.
Sums of ``1``, ``s`` and ``s^2`` per (group, label) come from sparse products (``G.T @ S``) and per
(universe, label) from ``U.T @ S``; "outside" is the universe minus the group. For each non-zero
cell, the similarities of the group's positives are compared with those of the other positives of
the universe by Welch's unequal-variance t statistic, one-sided (inside lower). Degrees of freedom:
Hsu's conservative ``min(k_in, k_out) - 1``, not the Welch-Satterthwaite estimate: with few inputs
inside, a chance-small sample variance both shrinks the standard error and inflates the estimated
df, and in the far tail that multiple testing over 10^5 cells reaches, Welch-Satterthwaite p-values
were anti-conservative on null data (21 false findings at FDR 0.05 on 200,000 random samples x
5,000 labels); Hsu's choice is valid for normal data whatever the variance ratio and costs little
power once both sides have tens of inputs. The p-value is the Student t lower tail
``scipy.special.stdtr(df, t)``, computed directly (equal to ``scipy.stats.t.sf(-t, df)``). The
z-test on means is the large-count limit of this test.

Policies:

- **Testability**: a cell is tested only with at least ``MIN_PER_SIDE`` (5) positives with a
  defined similarity inside the group and 5 outside it, and a non-zero standard error (not every
  similarity identical on both sides). Other cells are not hypotheses. The rule depends only on
  the counts, and the test is conditional on who received the label, so it is a valid selection.
- **Multiplicity**: Benjamini-Hochberg (or Benjamini-Yekutieli with
  ``ctx.correction == "by"``) over the tested cells, per budget (``alignment_gap:watchlist``:
  watchlist labels on groups about people; ``alignment_gap:discovery``: every other pair; as given
  by ``ScanContext.family_blocks``). No Tarone filter:
  the t-test is continuous, every tested cell can reach any p-value; ``tarone_level`` is None.
- **Zero vectors**: an input or label vector of norm 0 has no direction; its positives have no
  similarity and are left out of the sums (they still count in the label rates).
- **Variance**: sample variance from sums of squares, ``(ss - s^2 / k) / (k - 1)``, set to 0 when
  below 1e-12 of the mean square (round-off of identical values).

Row columns: ``count``, ``group_size``, ``label_count``, ``universe_size``, ``expected``, the rates and
the lift are those of the label itself (as in ``association``: how often the group gets the label),
for context and ranking; the tested effect is in ``detail`` (mean similarity inside vs outside, their
difference with a 95% interval on Hsu's df, t and df) and in the extra columns ``similarity_in``,
``similarity_outside``, ``similarity_diff``, and ``example_rows`` (sample row numbers for review: the
group's inputs that received the label and look least like it, first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from tagscan.errors import DataError
from tagscan.scan import stats
from tagscan.scan.detectors.base import (
    Detector,
    DetectorConfig,
    DetectorResult,
    ScanContext,
    cell_table,
    gap_change,
    register,
    sparse_values_at,
)

__all__ = ["AlignmentGapDetector", "MIN_PER_SIDE", "positive_similarities"]

NAME = "alignment_gap"
MIN_PER_SIDE = 5
EXAMPLE_CANDIDATES = 32
_BLOCK = 8192  # positives per block of row-wise dot products
_VAR_RTOL = 1e-12


def _as_vectors(x: np.ndarray, what: str, rows: int, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] != rows or (dim is not None and arr.shape[1] != dim):
        want = f"({rows}, {dim if dim is not None else 'dim'})"
        raise DataError(
            f"{what}: expected a {want} array, found shape {arr.shape}; embed every "
            f"{'sample' if what == 'vectors' else 'label'} in order with the same model"
        )
    if not np.isfinite(arr).all():
        raise DataError(f"{what}: holds NaN or infinite values; re-embed those rows")
    return arr


def positive_similarities(
    Y: sp.csr_matrix, vectors: np.ndarray, label_vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of every positive (non-zero of ``Y``, in CSR order) and whether it is defined.

    Row-wise dot products of ``vectors[rows]`` and ``label_vectors[cols]`` in blocks, in float64.
    Returns ``(similarity, defined)``; similarity is 0 where undefined (a zero vector).
    """
    Y = sp.csr_matrix(Y)
    n_s, L = Y.shape
    V = _as_vectors(vectors, "vectors", n_s)
    W = _as_vectors(label_vectors, "label_vectors", L, V.shape[1])
    vn = np.sqrt(np.einsum("ij,ij->i", V, V, dtype=np.float64))
    wn = np.sqrt(np.einsum("ij,ij->i", W, W, dtype=np.float64))
    rows = np.repeat(np.arange(n_s, dtype=np.int64), np.diff(Y.indptr))
    cols = Y.indices.astype(np.int64)
    sim = np.zeros(len(rows))
    for s in range(0, len(rows), _BLOCK):
        r, c = rows[s : s + _BLOCK], cols[s : s + _BLOCK]
        sim[s : s + _BLOCK] = np.einsum("ij,ij->i", V[r].astype(np.float64), W[c].astype(np.float64))
    denom = vn[rows] * wn[cols]
    defined = denom > 0
    sim = np.divide(sim, denom, out=np.zeros(len(rows)), where=defined)
    return np.clip(sim, -1.0, 1.0), defined


def _welch(k1, s1, ss1, k2, s2, ss2):
    """Means, squared standard error of the difference (Welch), Hsu's df and t, from sums."""
    m1 = np.divide(s1, k1, out=np.zeros(len(k1)), where=k1 > 0)
    m2 = np.divide(s2, k2, out=np.zeros(len(k2)), where=k2 > 0)

    def var_of_mean(k, s, ss, m):
        dev = ss - s * m
        v = np.divide(dev, k - 1, out=np.zeros(len(k)), where=k > 1)
        tiny = v <= _VAR_RTOL * np.divide(ss, k, out=np.zeros(len(k)), where=k > 0)
        v = np.where(tiny, 0.0, np.maximum(v, 0.0))
        return np.divide(v, k, out=np.zeros(len(k)), where=k > 0)

    se2 = var_of_mean(k1, s1, ss1, m1) + var_of_mean(k2, s2, ss2, m2)
    df = np.maximum(np.minimum(k1, k2) - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (m1 - m2) / np.sqrt(se2)
    return m1, m2, se2, df, t


def _examples(ctx: ScanContext, sims: sp.csc_matrix, idx: np.ndarray) -> list[np.ndarray]:
    """Review candidates per finding: the group's positives that look least like the label first."""
    S = sims
    out = []
    for g, lab in zip(ctx.counts.group[idx], ctx.counts.label[idx]):  # one list per finding
        sl = slice(S.indptr[lab], S.indptr[lab + 1])
        rows, vals = S.indices[sl].astype(np.int64), S.data[sl]
        keep = np.isin(rows, ctx.groups.members(int(g))) & np.isfinite(vals)
        rows, vals = rows[keep], vals[keep]
        out.append(rows[np.lexsort((rows, vals))][:EXAMPLE_CANDIDATES])
    return out


@register
class AlignmentGapDetector(Detector):
    """In-group inputs that received a label look less like it than the label's other inputs (Welch t)."""

    name = NAME
    requires = ("vectors", "label_vectors", "shared_space")
    direction = "over"  # rows carry the label's own rates; the tested effect is in ``detail``

    def change(self, prev, cur, paired):
        """Rescans: the similarity gap (inside minus outside) falling further is worse; a z-test on the two
        runs' gaps and standard errors, read from ``similarity_diff`` / ``similarity_diff_se`` when the row
        has them, else from what ``detail`` records (the difference and its 95% interval on Hsu's df)."""
        return gap_change(prev, cur)

    def run(self, ctx: ScanContext, config: DetectorConfig) -> DetectorResult:
        correction = ctx.correction
        Y = sp.csr_matrix(ctx.Y)  # read only
        sim, defined = positive_similarities(Y, ctx.vectors, ctx.label_vectors)
        w = defined & (Y.data != 0)  # a stored zero is not a positive
        one = sp.csr_matrix((w.astype(np.float64), Y.indices, Y.indptr), shape=Y.shape)
        S = sp.csr_matrix((np.where(w, sim, 0.0), Y.indices, Y.indptr), shape=Y.shape)
        S2 = sp.csr_matrix((np.where(w, sim * sim, 0.0), Y.indices, Y.indptr), shape=Y.shape)
        groups, c = ctx.groups, ctx.counts
        Gt = sp.csc_matrix(groups.membership, dtype=np.float64).T.tocsr()
        Ut = sp.csc_matrix(groups.universes, dtype=np.float64).T.tocsr()
        g, lab = c.group, c.label
        u = np.asarray(groups.universe, dtype=np.int64)[g]
        inside = [sparse_values_at((Gt @ M).tocsr(), g, lab) for M in (one, S, S2)]
        uni = [np.asarray((Ut @ M).todense())[u, lab] for M in (one, S, S2)]
        k1, s1, ss1 = inside
        k1 = np.rint(k1)
        k2, s2, ss2 = np.rint(uni[0]) - k1, uni[1] - s1, uni[2] - ss1
        m1, m2, se2, df, t = _welch(k1, s1, ss1, k2, s2, ss2)
        testable_all = (k1 >= MIN_PER_SIDE) & (k2 >= MIN_PER_SIDE) & (se2 > 0)
        by_label = None  # similarity per positive (inf where undefined), by label, for review examples
        frames, fams = [], []
        for budget, blocks in ctx.family_blocks().items():
            name = f"{NAME}:{budget}"
            in_fam = np.zeros(len(g), dtype=bool)
            for lm, gm in blocks:
                in_fam |= lm[lab] & gm[g]
            live = [lm for lm, gm in blocks if gm.any()]
            tst = np.flatnonzero(in_fam & testable_all)
            p = np.clip(special.stdtr(df[tst], t[tst]), 0.0, 1.0)  # P(T <= t): the lower tail, directly
            if len(tst):
                adjust = stats.benjamini_yekutieli if correction == "by" else stats.benjamini_hochberg
                q = adjust(p)
            else:
                q = np.zeros(0)
            hit = q <= ctx.fdr
            fams.append(
                {
                    "name": name,
                    "n_labels": int(np.logical_or.reduce(live).sum()) if live else 0,
                    "n_pairs": int(in_fam.sum()),
                    "n_testable": len(tst),
                    "tarone_level": None,
                    "n_significant": int(hit.sum()),
                    "correction": correction,
                    "alternative": "similarity less (Welch t, Hsu df)",
                }
            )
            if not hit.any():
                continue
            idx = tst[hit]
            rows = self._rows(ctx, name, idx, p[hit], q[hit], len(tst), k1, k2, m1, m2, se2, df, t)
            if by_label is None:
                by_label = sp.csr_matrix(
                    (np.where(w, sim, np.inf), Y.indices, Y.indptr), shape=Y.shape
                ).tocsc()
            rows["example_rows"] = _examples(ctx, by_label, idx)
            frames.append(rows)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return DetectorResult(out, tuple(fams))

    @staticmethod
    def _rows(ctx, name, idx, p, q, m, k1, k2, m1, m2, se2, df, t) -> pd.DataFrame:
        c = ctx.counts
        k, n, K, N = c.count[idx], c.group_size[idx], c.label_count[idx], c.total[idx]
        diff = m1[idx] - m2[idx]
        half = special.stdtrit(df[idx], 0.975) * np.sqrt(se2[idx])
        detail = [
            f"mean cosine to the label {a:.3f} in group ({int(x):,} inputs) vs {b:.3f} outside ({int(y):,}); "
            f"difference {d:+.3f} (95% CI {d - h:+.3f} to {d + h:+.3f}), Welch t={tt:.2f}, df={f:.0f} (Hsu)"
            for a, b, x, y, d, h, tt, f in zip(
                m1[idx], m2[idx], k1[idx], k2[idx], diff, half, t[idx], df[idx]
            )
        ]
        return cell_table(
            detector=NAME, family=name, group_index=c.group[idx], label_index=c.label[idx],
            k=k, n=n, K=K, N=N, p=p, q=q, family_size=m,
            **{
                "similarity_in": m1[idx],
                "similarity_outside": m2[idx],
                "similarity_diff": diff,
                "detail": detail,
            },
        )
