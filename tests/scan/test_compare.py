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


# Each detector owns its change rule (issue 10, item 10). Every test below fails on the code before it:
# that code called any rise of the row's in-group rate (or of the representative label's predictions) regressed.

def _d(rows):
    cols = ["finding_id", "detector", "label", "group", "count", "group_size", "rate_in_group", "detail", "status"]
    return pd.DataFrame(rows, columns=cols)


def _paired(n, before_rows, after_rows, members, label="x"):
    before, after = np.zeros((n, 1), np.int8), np.zeros((n, 1), np.int8)
    before[before_rows, 0], after[after_rows, 0] = 1, 1
    lab = np.array([label], dtype=object)
    return PairedPredictions(sp.csc_matrix(after), lab, sp.csc_matrix(before), lab, members)


def test_under_representation_improving_is_not_regressed_and_falling_is():
    """The issue's case: an under-representation finding whose rate improves from 6.5% to 19%."""
    base = _d([("u", "under_representation", "x", "g", 13, 200, 0.065, None, "new")])
    better = _d([("u", "under_representation", "x", "g", 38, 200, 0.19, None, "new")])
    out, _ = compare_with_baseline(better, base, fdr=0.05)
    assert out["status"].iloc[0] == "persisting" and out["change_q_value"].iloc[0] > 0.5
    out, _ = compare_with_baseline(base, better, fdr=0.05)  # 19% -> 6.5%: applied to fewer of the group
    assert out["status"].iloc[0] == "regressed"
    assert np.isclose(out["change_q_value"].iloc[0], fisher_exact([[13, 187], [38, 162]], alternative="less")[1])
    # Paired: members gaining the label is an improvement; losing it a regression.
    members = {"g": np.arange(200)}
    gained = _paired(400, np.arange(13), np.arange(38), members)
    out, _ = compare_with_baseline(better, base, fdr=0.05, paired=gained)
    assert out["status"].iloc[0] == "persisting"
    lost = _paired(400, np.arange(38), np.arange(13), members)
    out, _ = compare_with_baseline(base, better, fdr=0.05, paired=lost)
    assert out["status"].iloc[0] == "regressed" and "McNemar" in out["change_basis"].iloc[0]


def test_error_gap_tpr_row_improving_is_not_regressed_even_paired():
    """A TPR shortfall row counts misses: the model predicting the label for more of the group's true positives
    is an improvement, though the group's predictions of the label rose (what the paired test used to count)."""
    detail = "TPR shortfall: FPR 1.0% vs 1.0% outside; TPR 60% vs 90% outside (100 group true positives)"
    base = _d([("e", "error_gap", "x", "g", 40, 100, 0.40, detail, "new")])
    better = _d([("e", "error_gap", "x", "g", 10, 100, 0.10, detail, "new")])
    paired = _paired(300, np.arange(60), np.arange(90), {"g": np.arange(100)})  # 30 members gained the label
    out, _ = compare_with_baseline(better, base, fdr=0.05, paired=paired)
    assert out["status"].iloc[0] == "persisting"
    assert out["change_basis"].iloc[0].startswith("miss rate up is worse; unpaired")
    out, _ = compare_with_baseline(base, better, fdr=0.05, paired=paired)  # misses 10% -> 40%
    assert out["status"].iloc[0] == "regressed"
    fpr = _d([("f", "error_gap", "x", "g", 30, 100, 0.30, "FPR excess: ...", "new")])
    out, _ = compare_with_baseline(fpr, _d([("f", "error_gap", "x", "g", 5, 100, 0.05, "FPR excess: ...", "new")]),
                                   fdr=0.05)
    assert out["status"].iloc[0] == "regressed" and out["change_basis"].iloc[0].startswith("false-positive rate")


def test_label_family_compares_the_pooled_count_not_its_representative():
    """The family's count rose from 10 to 40 of 100 while its representative label did not change at all."""
    base = _d([("f", "label_family", "x", "g", 10, 100, 0.10, None, "new")])
    worse = _d([("f", "label_family", "x", "g", 40, 100, 0.40, None, "new")])
    still = _paired(300, np.arange(5), np.arange(5), {"g": np.arange(100)})  # representative unchanged
    out, _ = compare_with_baseline(worse, base, fdr=0.05, paired=still)
    assert out["status"].iloc[0] == "regressed"
    # The representative gaining the label while the family's pooled count stays is not a regression.
    gained = _paired(300, np.arange(5), np.arange(40), {"g": np.arange(100)})
    out, _ = compare_with_baseline(base, base, fdr=0.05, paired=gained)
    assert out["status"].iloc[0] == "persisting"


def _gap_detail(d, half, df=60):
    return (f"mean cosine to the label 0.300 in group (60 inputs) vs {0.3 - d:.3f} outside (600); "
            f"difference {d:+.3f} (95% CI {d - half:+.3f} to {d + half:+.3f}), Welch t=-3.00, df={df} (Hsu)")


def test_alignment_gap_compares_the_similarity_gap_not_the_label_rate():
    base = _d([("a", "alignment_gap", "x", "g", 10, 100, 0.10, _gap_detail(-0.10, 0.05), "new")])
    # The label is applied to many more of the group, the gap is the same: not a regression.
    more = _d([("a", "alignment_gap", "x", "g", 40, 100, 0.40, _gap_detail(-0.10, 0.05), "new")])
    paired = _paired(300, np.arange(10), np.arange(40), {"g": np.arange(100)})
    out, _ = compare_with_baseline(more, base, fdr=0.05, paired=paired)
    assert out["status"].iloc[0] == "persisting"
    # The gap falls from -0.10 to -0.40: the group's inputs look even less like the label. Regressed.
    worse = _d([("a", "alignment_gap", "x", "g", 10, 100, 0.10, _gap_detail(-0.40, 0.05), "new")])
    out, _ = compare_with_baseline(worse, base, fdr=0.05)
    assert out["status"].iloc[0] == "regressed"
    se = 0.05 / 2.0003  # t(0.975, 60)
    z = 0.30 / np.hypot(se, se)
    from scipy.stats import norm

    assert np.isclose(out["change_q_value"].iloc[0], norm.sf(z), rtol=1e-3)
    assert "similarity gap" in out["change_basis"].iloc[0]
    # A row without a recorded gap is not judged (and says so).
    bare = _d([("a", "alignment_gap", "x", "g", 40, 100, 0.40, None, "new")])
    out, _ = compare_with_baseline(bare, base, fdr=0.05)
    assert out["status"].iloc[0] == "persisting" and "not compared" in out["change_basis"].iloc[0]
