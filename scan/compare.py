"""Statuses of findings against a baseline run: new, persisting, regressed, resolved.

Pure: DataFrames and sparse matrices in, DataFrames out. A finding present in both runs is
``regressed`` when it got significantly worse by its own detector's rule
(:meth:`tagscan.scan.detectors.Detector.change`), else ``persisting``: association when the group gets
the label more often, under_representation when less often, error_gap when the row's error rate (FPR, or
the miss rate of a TPR row) grew, label_family on the family's pooled count, alignment_gap when the
similarity gap fell further. For the detectors whose rows count the group's own predictions of the label,
the test is paired when both runs scanned the same audit set (an exact one-sided McNemar test over the
group's members whose prediction of the label changed), else an unpaired Fisher test of the two rates.

The p-values of all persisting findings are adjusted together with Benjamini-Hochberg at the scan's FDR;
``change_basis`` says what each was compared on. Findings of the baseline absent now are returned as
``resolved`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.scan import stats
from tagscan.scan.detectors import Detector, get_detector

__all__ = ["PairedPredictions", "change_rule", "compare_with_baseline"]


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


def change_rule(name: str | None) -> Detector:
    """The detector that owns a row's change rule (the base rule, rate up is worse, for a row without one)."""
    try:
        return get_detector(name)()
    except KeyError:
        return Detector()


def compare_with_baseline(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    *,
    fdr: float,
    paired: PairedPredictions | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (current with ``status``, ``baseline_rate``, ``change_q_value``, ``change_basis``; resolved rows).

    Each persisting row is judged by its detector's :meth:`~tagscan.scan.detectors.Detector.change`."""
    cur = current.copy()
    base = baseline[baseline["status"] != "resolved"] if "status" in baseline else baseline
    prev = base.set_index("finding_id")
    known = cur["finding_id"].isin(prev.index).to_numpy()
    cur["status"] = np.where(known, "persisting", "new")
    cur["baseline_rate"] = np.nan
    cur["change_q_value"] = np.nan
    cur["change_basis"] = None
    idx = np.flatnonzero(known)
    if len(idx):
        rows = cur.iloc[idx]
        b = prev.loc[rows["finding_id"]]
        cur.loc[cur.index[idx], "baseline_rate"] = b["rate_in_group"].to_numpy(dtype=np.float64)
        n = paired.now.shape[0] if paired is not None else 0
        p, worse, basis = np.ones(len(idx)), np.zeros(len(idx), dtype=bool), []
        for t, (cur_row, prev_row) in enumerate(zip(rows.to_dict("records"), b.to_dict("records"))):
            det = change_rule(cur_row.get("detector"))
            pair = None
            if paired is not None and det.pairs_predictions:
                mem = paired.members.get(cur_row["group"])
                if mem is not None:
                    after = _column(paired.now, paired.now_labels, cur_row["label"], n)[mem]
                    before = _column(paired.before, paired.before_labels, cur_row["label"], n)[mem]
                    pair = (int((before & ~after).sum()), int((~before & after).sum()))
            ch = det.change(prev_row, cur_row, pair)
            p[t], worse[t] = ch.p, ch.worse
            basis.append(ch.basis)
        q = stats.benjamini_hochberg(p)
        cur.loc[cur.index[idx], "change_q_value"] = q
        cur.loc[cur.index[idx], "change_basis"] = basis
        regressed = worse & (q <= fdr)
        cur.loc[cur.index[idx[regressed]], "status"] = "regressed"
    gone = ~base["finding_id"].isin(cur["finding_id"])
    resolved = base[gone].copy()
    resolved["status"] = "resolved"
    return cur, resolved
