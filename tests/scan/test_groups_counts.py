"""Groups and counts against brute-force loops over samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tagscan.scan.counts import count_cells
from tagscan.scan.groups import build_groups


def _frame(rng, n):
    a = np.array(rng.choice(["x", "y", "z"], size=n), dtype=object)
    b = np.array(rng.choice(["p", "q"], size=n), dtype=object)
    a[rng.random(n) < 0.2] = None
    b[rng.random(n) < 0.1] = None
    return pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "a": a, "b": b})


def test_groups_ids_universes_and_null_policy():
    rng = np.random.default_rng(0)
    df = _frame(rng, 400)
    clusters = {3: rng.integers(0, 3, size=400)}
    g = build_groups(df, attributes=["a", "b"], intersections=[["a", "b"]], clusters=clusters, min_group_size=5)
    ids = set(g.ids)
    assert {"a=x", "a=y", "a=z", "b=p", "b=q", "a=x & b=p", "cluster:k3/0"} <= ids
    assert not any("None" in i or "nan" in i for i in ids), "a null value never forms a group"
    ia = g.index("a=x")
    members = set(g.members(ia))
    assert members == set(np.flatnonzero(df["a"].to_numpy() == "x"))
    # universe of an attribute group: rows where the attribute is set
    assert g.universe_sizes[ia] == df["a"].notna().sum()
    ii = g.index("a=y & b=q")
    assert g.universe_sizes[ii] == (df["a"].notna() & df["b"].notna()).sum()
    assert g.universe_sizes[g.index("cluster:k3/1")] == 400


def test_small_groups_are_not_tested():
    df = pd.DataFrame({"sample_id": [str(i) for i in range(100)], "a": ["big"] * 95 + ["tiny"] * 5})
    g = build_groups(df, attributes=["a"], min_group_size=10)
    assert list(g.ids) == ["a=big"]
    assert ("a=tiny", "below min_group_size (5 < 10)") in g.untested


def test_group_covering_its_universe_is_not_tested():
    df = pd.DataFrame({"sample_id": [str(i) for i in range(50)], "a": ["only"] * 40 + [None] * 10})
    g = build_groups(df, attributes=["a"], min_group_size=5)
    assert len(g) == 0 and "whole universe" in g.untested[0][1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 300), L=st.integers(1, 30))
def test_counts_match_brute_force(seed, n, L):
    rng = np.random.default_rng(seed)
    df = _frame(rng, n)
    Y = (rng.random((n, L)) < 0.2).astype(np.int8)
    g = build_groups(df, attributes=["a", "b"], intersections=[["a", "b"]], min_group_size=1)
    c = count_cells(g, sp.csr_matrix(Y))
    expect = {}
    for gi in range(len(g)):
        mem = g.members(gi)
        uni = g.universes[:, g.universe[gi]].toarray().ravel().astype(bool)
        for lab in range(L):
            k = int(Y[mem, lab].sum())
            if k:
                expect[(gi, lab)] = (k, len(mem), int(Y[uni, lab].sum()), int(uni.sum()))
    got = {
        (int(a), int(b)): (int(k), int(n_), int(K), int(N))
        for a, b, k, n_, K, N in zip(c.group, c.label, c.count, c.group_size, c.label_count, c.total)
    }
    assert got == expect
    assert c.count.dtype == np.int64


def test_counts_do_not_overflow_int8():
    n = 400
    df = pd.DataFrame({"sample_id": [str(i) for i in range(n)], "a": ["x"] * 300 + ["y"] * 100})
    Y = sp.csr_matrix(np.ones((n, 2), dtype=np.int8))
    g = build_groups(df, attributes=["a"], min_group_size=1)
    c = count_cells(g, Y)
    assert sorted(c.count.tolist()) == [100, 100, 300, 300]


def test_clusters_are_tested_only_in_their_universe():
    rng = np.random.default_rng(2)
    df = _frame(rng, 300)
    assign = rng.integers(0, 3, size=300)
    held_out = rng.random(300) < 0.5
    g = build_groups(df, attributes=[], clusters={3: assign}, cluster_universe=held_out, min_group_size=5)
    for i in range(len(g)):
        mem = g.members(i)
        assert held_out[mem].all()
        assert g.universe_sizes[i] == held_out.sum()
    assert "held-out half" in g.universe_names
