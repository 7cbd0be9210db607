"""One row per (label, group): how the terminal summary and the HTML report group a run's findings."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_pairs"]


def group_pairs(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (label, group) of ``findings``, in the order of each pair's first finding.

    ``findings.parquet`` keeps one row per detector; the summary and the HTML report show each pair once.
    The pair's first finding in the frame's order represents it (findings.parquet is ranked most severe
    first, so that is its most severe finding; pass the frame sorted otherwise to choose another).
    Columns, with positions counted in ``findings`` (0-based, whatever its index):

    - ``rep``: position of the representative finding;
    - ``members``: positions of all the pair's findings, in frame order (the representative first);
    - ``also``: the other detectors that raised the pair, each named once, in frame order.

    A missing label or group is a key like any other (two NaN groups are the same pair).
    """
    f = findings.reset_index(drop=True)
    if f.empty:
        return pd.DataFrame({"rep": np.empty(0, np.int64), "members": np.empty(0, object), "also": np.empty(0, object)})
    code = f.groupby(["label", "group"], sort=False, dropna=False).ngroup().to_numpy()  # first-appearance order
    order = np.argsort(code, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(code[order])) + 1)
    det = f["detector"].astype(str).to_numpy()
    also = [[d for d in dict.fromkeys(det[m]) if d != det[m[0]]] for m in members]
    return pd.DataFrame({"rep": [int(m[0]) for m in members], "members": members, "also": also})
