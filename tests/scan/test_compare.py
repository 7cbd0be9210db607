from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import binomtest, fisher_exact

from tagscan.scan.compare import PairedPredictions, compare_with_baseline


def _f(rows):
    return pd.DataFrame(rows, columns=["finding_id", "label", "group", "count", "group_size", "rate_in_group", "status"])


def test_new_persisting_resolved_and_unpaired_regression():
    base = _f([("a", "x", "g1", 10, 100, 0.1, "new"), ("b", "y", "g1", 10, 100, 0.1, "new"),
               ("c", "z", "g2", 5, 50, 0.1, "new"), ("old", "w", "g2", 1, 50, 0.02, "resolved")])
    cur = _f([("a", "x", "g1", 40, 100, 0.4, "new"), ("b", "y", "g1", 11, 100, 0.11, "new"),
              ("d", "q", "g3", 9, 60, 0.15, "new")])
    out, resolved = compare_with_baseline(cur, base, fdr=0.05)
    st = dict(zip(out["finding_id"], out["status"]))
    assert st == {"a": "regressed", "b": "persisting", "d": "new"}
    assert resolved["finding_id"].tolist() == ["c"] and set(resolved["status"]) == {"resolved"}
    p_a = fisher_exact([[40, 60], [10, 90]], alternative="greater")[1]
    p_b = fisher_exact([[11, 89], [10, 90]], alternative="greater")[1]
    q = sorted([p_a, p_b])
    q_a = min(q[0] * 2, q[1]) if p_a == q[0] else q[1]
    assert np.isclose(out.set_index("finding_id").loc["a", "change_q_value"], q_a)
    assert out.set_index("finding_id").loc["a", "baseline_rate"] == 0.1


def test_paired_mcnemar_counts_only_changed_members():
    n = 200
    before = np.zeros((n, 1), dtype=np.int8)
    after = np.zeros((n, 1), dtype=np.int8)
    before[:20, 0] = 1
    after[:20, 0] = 1
    after[20:35, 0] = 1  # 15 members gained the label
    before[35:37, 0] = 1  # 2 lost it
    members = {"g": np.arange(0, 100)}
    paired = PairedPredictions(sp.csc_matrix(after), np.array(["x"], dtype=object), sp.csc_matrix(before),
                               np.array(["x"], dtype=object), members)
    base = _f([("a", "x", "g", 22, 100, 0.22, "new")])
    cur = _f([("a", "x", "g", 35, 100, 0.35, "new")])
    out, _ = compare_with_baseline(cur, base, fdr=0.05, paired=paired)
    assert out["status"].iloc[0] == "regressed"
    assert np.isclose(out["change_q_value"].iloc[0], binomtest(15, 17, 0.5, alternative="greater").pvalue)
    # Balanced churn is not a regression.
    after2 = before.copy()
    after2[40:45, 0] = 1
    after2[35:37, 0] = 0
    after2[:3, 0] = 0
    paired2 = PairedPredictions(sp.csc_matrix(after2), np.array(["x"], dtype=object), sp.csc_matrix(before),
                                np.array(["x"], dtype=object), members)
    out2, _ = compare_with_baseline(cur, base, fdr=0.05, paired=paired2)
    assert out2["status"].iloc[0] == "persisting"
