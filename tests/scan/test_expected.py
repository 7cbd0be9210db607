"""Expected associations rank low with a reason: labels that restate their group's value, and scan.benign
rules (issue 10, item 14)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tagscan.config import BenignRule
from tagscan.errors import DataError
from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import ScanContext, default_settings
from tagscan.scan.expected import expected_reasons
from tagscan.scan.findings import scan
from tagscan.scan.groups import build_groups

LABELS = np.array(["man", "woman", "child", "guy", "gorilla", "dog", "beach", "kid_toy"] + [f"x{i}" for i in range(30)])


def _vectors(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(len(LABELS), 64))
    V[3] = V[0] + 0.15 * rng.normal(size=64)  # 'guy' is a stand-out neighbour of 'man'
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def _reasons(label_idx, groups, kinds, **kw):
    return expected_reasons(LABELS, LABELS, np.array(label_idx), np.array(groups, object), np.array(kinds, object), **kw)


def test_a_label_that_names_the_group_value_is_expected():
    r = _reasons(
        [0, 2, 0, 1, 3, 6],
        ["gender=man", "age_group=child", "gender=man & skin_tone=dark", "gender=man", "gender=man", "gender=man"],
        ["attribute", "attribute", "intersection", "attribute", "attribute", "attribute"],
        label_vectors=_vectors(),
    )
    assert "names the group's value 'man'" in r[0] and "'child'" in r[1] and r[2] is not None
    assert r[3] is None  # 'woman' on gender=man is not expected
    assert "nearest labels of 'man'" in r[4]  # 'guy' through the label index
    assert r[5] is None


def test_clusters_and_watchlist_labels_are_never_automatically_expected():
    watch = np.zeros(len(LABELS), bool)
    watch[0] = True
    r = _reasons([0, 0], ["cluster:k16/3", "gender=man"], ["cluster", "attribute"], watch_mask=watch)
    assert list(r) == [None, None]


def test_benign_rules_apply_with_their_reason_and_cover_intersections():
    rules = [BenignRule(label="dog", group="species=dog", reason="dogs are tagged dog"),
             BenignRule(label="beach", reason="holiday set")]
    r = _reasons([5, 5, 5, 6], ["species=dog", "species=dog & place=park", "species=cat", "cluster:k8/1"],
                 ["attribute", "intersection", "attribute", "cluster"], benign=rules)
    assert r[0] == "benign (scan.benign): dogs are tagged dog" and r[1] == r[0]
    assert r[2] is None and r[3] == "benign (scan.benign): holiday set"


def test_an_unknown_benign_label_is_a_one_line_error_naming_the_key():
    with pytest.raises(DataError, match=r"scan.benign\[0\]: label 'nope' is not in the vocabulary; use a label id"):
        _reasons([0], ["gender=man"], ["attribute"], benign=[SimpleNamespace(label="nope", group=None, reason="r")])


def _scan_ctx():
    """gender=man gets 'man' (restates it), 'dog' (a benign rule) and 'mugshot' (a watchlist harm) far more often."""
    rng = np.random.default_rng(0)
    n = 2000
    g = np.array(rng.choice(["man", "woman"], size=n), dtype=object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "gender": g})
    labels = np.array(["man", "dog", "mugshot", "tree"], dtype=object)
    man = g == "man"
    Y = np.zeros((n, 4), bool)
    Y[:, 0] = np.where(man, rng.random(n) < 0.6, rng.random(n) < 0.02)
    Y[:, 1] = np.where(man, rng.random(n) < 0.3, rng.random(n) < 0.02)
    Y[:, 2] = np.where(man, rng.random(n) < 0.1, rng.random(n) < 0.005)
    Y[:, 3] = rng.random(n) < 0.1
    Y = sp.csr_matrix(Y.astype(np.int8))
    grp = build_groups(df, attributes=["gender"], min_group_size=10)
    weight = np.array([0.0, 0.0, 0.9, 0.0])
    cat = np.array([None, None, "criminality", None], dtype=object)
    ctx = ScanContext(Y=Y, scores=Y.astype(np.float32), labels=labels, label_names=labels, groups=grp,
                      counts=count_cells(grp, Y), watch_weight=weight, watch_category=cat)
    return df, ctx


def test_scan_ranks_expected_findings_low_with_their_reason():
    df, ctx = _scan_ctx()
    kw = dict(sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
              detectors=default_settings(["association"]))
    before = scan(ctx, **kw).findings
    assert "expected_reason" in before.columns
    out = scan(ctx, benign=[BenignRule(label="dog", group="gender=man", reason="the men's set was shot in a dog park")],
               **kw).findings
    row = {lab: out[(out["label"] == lab) & (out["group"] == "gender=man")].iloc[0] for lab in ("man", "dog", "mugshot")}
    assert row["man"]["severity_level"] == "low" and "names the group's value 'man'" in row["man"]["expected_reason"]
    assert row["man"]["severity"] < 15
    assert row["dog"]["severity_level"] == "low" and row["dog"]["expected_reason"].endswith("dog park")
    assert pd.isna(row["mugshot"]["expected_reason"]) and row["mugshot"]["severity_level"] != "low"
    plain = before[(before["label"] == "man") & (before["group"] == "gender=man")].iloc[0]
    assert plain["severity_level"] == "low"  # even without rules: it restates its own group
