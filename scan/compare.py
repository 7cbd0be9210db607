"""Statuses of findings against a baseline run: new, persisting, regressed, resolved.

Pure: DataFrames and sparse matrices in, DataFrames out. A finding present in both runs is
``regressed`` when its in-group rate grew significantly, else ``persisting``. Significance:

- paired, when both runs scanned the same audit set (same samples): per (label, group), an exact
  one-sided McNemar test over the group's members whose prediction of the label changed (gained
  vs lost), so that "regressed" means the new model really applies the label to more of them;
- unpaired otherwise: a one-sided Fisher exact test of the in-group rates of the two runs.

Either way the p-values of all persisting findings are adjusted together with Benjamini-Hochberg
at the scan's FDR. Findings of the baseline absent now are returned as ``resolved`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.scan import stats

__all__ = ["PairedPredictions", "compare_with_baseline"]


@dataclass(frozen=True, eq=False)
class PairedPredictions:
    """Positives of both runs over the same samples (rows aligned), with their label ids."""

    now: sp.csc_matrix
    now_labels: np.ndarray
    before: sp.csc_matrix
    before_labels: np.ndarray
    members: dict[str, np.ndarray]  # group id -> member rows (current grouping)


def _column(Y: sp.csc_matrix, labels: np.ndarray, label: str, n: int) -> np.ndarray:
    hit = np.flatnonzero(labels == label)
    out = np.zeros(n, dtype=bool)
    if len(hit):
        j = int(hit[0])
        out[Y.indices[Y.indptr[j] : Y.indptr[j + 1]]] = True
    return out


def compare_with_baseline(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    *,
    fdr: float,
    paired: PairedPredictions | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (current with ``status``, ``baseline_rate``, ``change_q_value``; resolved rows)."""
    cur = current.copy()
    base = baseline[baseline["status"] != "resolved"] if "status" in baseline else baseline
    prev = base.set_index("finding_id")
    known = cur["finding_id"].isin(prev.index).to_numpy()
    cur["status"] = np.where(known, "persisting", "new")
    cur["baseline_rate"] = np.nan
    cur["change_q_value"] = np.nan
    idx = np.flatnonzero(known)
    if len(idx):
        rows = cur.iloc[idx]
        b = prev.loc[rows["finding_id"]]
        cur.loc[cur.index[idx], "baseline_rate"] = b["rate_in_group"].to_numpy(dtype=np.float64)
        if paired is not None:
            n = paired.now.shape[0]
            lost, gained = np.zeros(len(idx), np.int64), np.zeros(len(idx), np.int64)
            for t, (label, group) in enumerate(zip(rows["label"], rows["group"])):
                mem = paired.members.get(group)
                if mem is None:
                    continue
                after = _column(paired.now, paired.now_labels, label, n)[mem]
                before = _column(paired.before, paired.before_labels, label, n)[mem]
                lost[t], gained[t] = int((before & ~after).sum()), int((~before & after).sum())
            p = stats.mcnemar_exact(lost, gained)
            grew = gained > lost
        else:
            k1, n1 = rows["count"].to_numpy(np.int64), rows["group_size"].to_numpy(np.int64)
            k0, n0 = b["count"].to_numpy(np.int64), b["group_size"].to_numpy(np.int64)
            p = stats.rate_increase_pvalue(k1, n1, k0, n0)
            grew = k1 * n0 > k0 * n1
        q = stats.benjamini_hochberg(p)
        cur.loc[cur.index[idx], "change_q_value"] = q
        regressed = grew & (q <= fdr)
        cur.loc[cur.index[idx[regressed]], "status"] = "regressed"
    gone = ~base["finding_id"].isin(cur["finding_id"])
    resolved = base[gone].copy()
    resolved["status"] = "resolved"
    return cur, resolved
