"""error_gap, alignment_gap and label_family against planted effects, null data and independent oracles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import fisher_exact

from tagscan.scan import stats
from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import (
    AlignmentGapDetector,
    AssociationDetector,
    ErrorGapDetector,
    LabelFamilyDetector,
    ScanContext,
    available_detectors,
    default_settings,
)
from tagscan.scan.detectors.alignment_gap import MAX_STRATA, MIN_PER_STRATUM, similarity_strata_test
from tagscan.scan.detectors.label_family import label_families
from tagscan.scan.findings import scan
from tagscan.scan.groups import build_groups

# --------------------------------------------------------------------------------------------------
# Shared builders
# --------------------------------------------------------------------------------------------------


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    a = np.array(rng.choice(["x", "y", "z"], size=n), dtype=object)
    a[rng.random(n) < 0.2] = None  # not applicable: outside every a-universe
    b = np.array(rng.choice(["p", "q"], size=n), dtype=object)
    return pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "a": a, "b": b})


def _context(df, Y, *, truth=None, vectors=None, label_vectors=None, watch=(), fdr=0.05, **fields):
    Y = sp.csr_matrix(np.asarray(Y, dtype=np.int8))
    L = Y.shape[1]
    groups = build_groups(df, attributes=["a", "b"], intersections=[["a", "b"]], min_group_size=10)
    w = np.zeros(L)
    cat = np.full(L, None, dtype=object)
    for j in watch:
        w[j], cat[j] = 1.0, "dehumanizing"
    return ScanContext(
        Y=Y,
        scores=Y.astype(np.float32),
        labels=np.array([f"l{j}" for j in range(L)], dtype=object),
        label_names=np.array([f"label {j}" for j in range(L)], dtype=object),
        groups=groups,
        counts=count_cells(groups, Y),
        watch_weight=w,
        watch_category=cat,
        fdr=fdr,
        truth=None if truth is None else sp.csr_matrix(np.asarray(truth, dtype=np.int8)),
        vectors=vectors,
        label_vectors=label_vectors,
        **fields,
    )


def _run(detector, ctx, **settings):
    """One detector run directly, with its settings (defaults unless given)."""
    return detector().run(ctx, detector.Config(**settings))


def _scan(ctx, df, name):
    return scan(
        ctx,
        sample_ids=df["sample_id"].to_numpy(dtype=object),
        person_rows=np.ones(len(df), dtype=bool),
        examples_per_finding=3,
        detectors=default_settings([name]),
    )


def _universe(ctx, g):
    return ctx.groups.universes[:, ctx.groups.universe[g]].toarray().ravel().astype(bool)


def _member_mask(ctx, g):
    m = np.zeros(ctx.Y.shape[0], dtype=bool)
    m[ctx.groups.members(g)] = True
    return m


def _bh(p, m):
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(q, 1.0)
    return out


def test_detectors_are_registered():
    reg = available_detectors()
    assert {"error_gap", "alignment_gap", "label_family"} <= set(reg)


# --------------------------------------------------------------------------------------------------
# error_gap
# --------------------------------------------------------------------------------------------------


def _error_data(seed, *, plant=True, n=1500, L=15):
    rng = np.random.default_rng(seed)
    df = _frame(rng, n)
    T = rng.random((n, L)) < rng.uniform(0.05, 0.2, L)
    Y = np.where(T, rng.random((n, L)) < 0.85, rng.random((n, L)) < 0.03)
    if plant:
        x = (df["a"] == "x").to_numpy()
        # label 0 applied wrongly to a=x: FPR 15% vs 2%.
        Y[:, 0] = np.where(T[:, 0], Y[:, 0], rng.random(n) < np.where(x, 0.15, 0.02))
        # label 1 missed on b=q: TPR 55% vs 90%.
        q = (df["b"] == "q").to_numpy()
        Y[:, 1] = np.where(T[:, 1], rng.random(n) < np.where(q, 0.55, 0.9), Y[:, 1])
    return df, Y, T


def test_error_gap_finds_planted_fpr_excess_and_tpr_shortfall():
    df, Y, T = _error_data(0)
    ctx = _context(df, Y, truth=T, watch=(0,))
    out = _scan(ctx, df, "error_gap")
    assert out.detectors == {"error_gap": "ran"}
    f = out.findings
    fpr = f[(f["label"] == "l0") & (f["group"] == "a=x")]
    assert len(fpr) == 1
    row = fpr.iloc[0]
    assert row["family"] == "error_gap:watchlist" and row["detail"].startswith("FPR excess")
    assert row["rate_in_group"] > 0.1 and row["rate_outside"] < 0.04 and row["lift_low"] > 2
    # count / group_size are false positives / negatives of the group, computed by hand.
    x = (df["a"] == "x").to_numpy()
    assert row["count"] == int((Y[:, 0] & ~T[:, 0] & x).sum())
    assert row["group_size"] == int((~T[:, 0] & x).sum())
    raw = _run(ErrorGapDetector, ctx).findings
    g = ctx.groups.index("a=x")
    raw_row = raw[(raw["label_index"] == 0) & (raw["group_index"] == g)].iloc[0]
    assert raw_row["universe_size"] == int((~T[:, 0] & df["a"].notna().to_numpy()).sum())
    assert raw_row["label_count"] == int((Y[:, 0] & ~T[:, 0] & df["a"].notna().to_numpy()).sum())
    tpr = f[(f["label"] == "l1") & (f["group"] == "b=q")]
    assert len(tpr) == 1 and tpr.iloc[0]["detail"].startswith("TPR shortfall")
    assert tpr.iloc[0]["family"] == "error_gap:discovery"
    # Miss rates: the group misses ~45% of its true positives, the rest ~10%.
    assert tpr.iloc[0]["rate_in_group"] > 0.3 and tpr.iloc[0]["rate_outside"] < 0.15
    names = {fam["name"] for fam in out.families}
    assert names == {"error_gap:watchlist", "error_gap:discovery"}


def test_error_gap_p_values_match_fisher_exact_on_the_negatives_and_positives():
    df, Y, T = _error_data(1)
    ctx = _context(df, Y, truth=T, fdr=1.0)  # every testable cell is reported
    out = _run(ErrorGapDetector, ctx).findings
    assert len(out) > 30
    checked = {"fpr": 0, "tpr": 0}
    for r in out.itertuples():
        mem, uni = _member_mask(ctx, r.group_index), _universe(ctx, r.group_index)
        t, y = T[:, r.label_index], Y[:, r.label_index]
        neg, pos = uni & ~t, uni & t
        tables = {
            "fpr": (int((y & mem & neg).sum()), int((mem & neg).sum()), int((y & neg).sum()), int(neg.sum())),
            "tpr": (int((y & mem & pos).sum()), int((mem & pos).sum()), int((y & pos).sum()), int(pos.sum())),
        }
        for kind, alt in (("fpr", "greater"), ("tpr", "less")):
            p = getattr(r, f"p_{kind}")
            if np.isnan(p):
                continue
            k, n, K, N = tables[kind]
            oracle = fisher_exact([[k, n - k], [K - k, N - n - K + k]], alternative=alt)[1]
            assert np.isclose(p, oracle, rtol=1e-9, atol=1e-300)
            assert p <= getattr(r, f"q_{kind}") <= 1
            checked[kind] += 1
        k, n, K, N = tables[r.error_kind]
        if r.error_kind == "tpr":
            k, K = n - k, N - K  # TPR rows carry the misses
        assert (r.count, r.group_size, r.label_count, r.universe_size) == (k, n, K, N)
        assert r.p_value == getattr(r, f"p_{r.error_kind}") and r.q_value == getattr(r, f"q_{r.error_kind}")
    assert checked["fpr"] > 10 and checked["tpr"] > 10


def test_error_gap_tarone_family_size_never_undercounts_the_testable_pairs():
    """The family size may over-count (conservative bound for empty cells) but never under-count."""
    df, Y, T = _error_data(2, plant=False)
    ctx = _context(df, Y, truth=T)
    fams = {f["name"]: f for f in _run(ErrorGapDetector, ctx).families}
    fam = fams["error_gap:discovery"]
    level, m_eff = fam["tarone_level"], fam["n_testable"]
    exact = 0
    for g in range(len(ctx.groups)):  # brute force over the dense groups x labels table
        mem, uni = _member_mask(ctx, g), _universe(ctx, g)
        for j in range(Y.shape[1]):
            t, y = T[:, j], Y[:, j]
            neg, pos = uni & ~t, uni & t
            K = int((y & neg).sum())
            if K > 0:
                exact += stats.min_attainable_pvalue(int((mem & neg).sum()), K, int(neg.sum())) <= level
            n_pos = int((mem & pos).sum())
            if n_pos > 0:
                mp = stats.min_attainable_pvalue(
                    n_pos, int((y & pos).sum()), int(pos.sum()), alternative="less"
                )
                exact += mp <= level
    assert exact <= m_eff <= fam["n_pairs"]
    assert m_eff <= 1.05 * exact + 5  # and the bound is tight when few samples are true positives


def test_error_gap_quiet_on_null_data():
    hits = 0
    for s in range(20):
        df, Y, T = _error_data(s, plant=False)
        hits += len(_run(ErrorGapDetector, _context(df, Y, truth=T)).findings) > 0
    assert hits <= 4  # FDR 0.05 under the global null bounds the chance of any finding at ~5%


def test_error_gap_skipped_without_truth():
    df, Y, T = _error_data(0)
    out = _scan(_context(df, Y), df, "error_gap")
    assert out.detectors["error_gap"].startswith("skipped") and "ground truth" in out.detectors["error_gap"]
    assert out.findings.empty


def test_error_gap_truth_rows_restrict_the_universe():
    df, Y, T = _error_data(0)
    rows = np.random.default_rng(5).random(len(df)) < 0.6
    ctx = _context(df, Y, truth=T, watch=(0,), fdr=1.0, truth_rows=rows)
    out = _run(ErrorGapDetector, ctx).findings
    r = out[(out["label_index"] == 0) & (out["error_kind"] == "fpr")].iloc[0]
    mem, uni = _member_mask(ctx, r["group_index"]) & rows, _universe(ctx, r["group_index"]) & rows
    assert r["group_size"] == int((mem & ~T[:, 0]).sum())
    assert r["universe_size"] == int((uni & ~T[:, 0]).sum())


# --------------------------------------------------------------------------------------------------
# alignment_gap
# --------------------------------------------------------------------------------------------------


def _align_data(seed, *, plant=True, n=1500, L=12, d=16):
    rng = np.random.default_rng(seed)
    df = _frame(rng, n)
    W = rng.normal(size=(L, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    Y = rng.random((n, L)) < rng.uniform(0.05, 0.15, L)
    # An input looks like each label it received, by a random amount.
    V = rng.normal(size=(n, d)) + (Y * rng.uniform(2.0, 4.0, (n, L))) @ W
    if plant:  # a=x inputs get label 0 without looking like it
        x = (df["a"] == "x").to_numpy()
        V[x & Y[:, 0]] -= 3.0 * W[0]
        Y[x & (rng.random(n) < 0.15), 0] = True  # and more of them, whose vectors never had label 0's direction
    return df, Y, V.astype(np.float32), W.astype(np.float32)


def _align_ctx(seed, plant=True, **kw):
    df, Y, V, W = _align_data(seed, plant=plant)
    return df, Y, V, W, _context(df, Y, vectors=V, label_vectors=W, shared_space=True, **kw)


def test_alignment_gap_finds_planted_misaligned_label():
    df, Y, V, W, ctx = _align_ctx(0)
    out = _scan(ctx, df, "alignment_gap")
    assert out.detectors == {"alignment_gap": "ran"}
    f = out.findings
    hit = f[(f["label"] == "l0") & (f["group"] == "a=x")]
    assert len(hit) == 1
    assert hit.iloc[0]["family"] == "alignment_gap:discovery"
    assert "expected from their similarity" in hit.iloc[0]["detail"]
    assert np.isfinite(f["severity"]).all()


def test_alignment_gap_p_values_match_a_brute_force_stratified_count():
    """O, E and T of every reported pair from a loop over groups, labels and similarity strata."""
    df, Y, V, W, ctx = _align_ctx(1, fdr=1.0)  # every testable pair with q <= 1 is reported
    res = _run(AlignmentGapDetector, ctx)
    out = res.findings
    V64, W64 = V.astype(np.float64), W.astype(np.float64)
    sims = (V64 @ W64.T) / np.outer(np.linalg.norm(V64, axis=1), np.linalg.norm(W64, axis=1))
    B = int(np.clip(len(df) // MIN_PER_STRATUM, 1, MAX_STRATA))
    assert len(out) > 20
    for r in out.itertuples():
        g, j = r.group_index, r.label_index
        mem, uni = _member_mask(ctx, g), _universe(ctx, g)
        edges = np.quantile(sims[:, j], np.linspace(0, 1, B + 1)[1:-1])
        b = np.searchsorted(edges, sims[:, j], side="right")
        obs = E = T = 0.0
        for s in range(B):
            inb = b == s
            n_b, N_b, K_b = (mem & inb).sum(), (uni & inb).sum(), (uni & inb & Y[:, j]).sum()
            obs += (mem & inb & Y[:, j]).sum()
            E += n_b * K_b / N_b if N_b else 0.0
            T += min(n_b, K_b)
        assert r.count == int((mem & Y[:, j]).sum()) and np.isclose(r.expected_given_similarity, E)
        p, _, low = similarity_strata_test([obs], [E], [T])
        assert np.isclose(r.p_value, p[0], rtol=1e-9) and np.isclose(r.effect_low, low[0])
        assert np.isclose(r.similarity_in, sims[mem & Y[:, j], j].mean(), atol=1e-9)
    fam = {f["name"]: f for f in res.families}["alignment_gap:discovery"]
    assert fam["n_testable"] >= len(out)


def test_alignment_gap_quiet_on_null_data():
    """At most 3 of 20 seeds with any finding: P(Bin(20, 0.05) >= 4) = 0.016 under BH's 0.05."""
    hits = sum(len(_run(AlignmentGapDetector, _align_ctx(s, plant=False)[-1]).findings) > 0 for s in range(20))
    assert hits <= 3


def test_alignment_gap_skipped_without_shared_space_or_vectors():
    df, Y, V, W = _align_data(0)
    out = _scan(_context(df, Y, vectors=V, label_vectors=W), df, "alignment_gap")
    status = out.detectors["alignment_gap"]
    assert status.startswith("skipped") and "same model" in status
    out = _scan(_context(df, Y, label_vectors=W, shared_space=True), df, "alignment_gap")
    assert (
        out.detectors["alignment_gap"].startswith("skipped")
        and "input embeddings" in out.detectors["alignment_gap"]
    )


def test_alignment_gap_does_not_modify_its_inputs():
    df, Y, V, W, ctx = _align_ctx(0)
    before = (ctx.Y.data.copy(), ctx.vectors.copy(), ctx.label_vectors.copy())
    _run(AlignmentGapDetector, ctx)
    assert all(np.array_equal(a, b) for a, b in zip(before, (ctx.Y.data, ctx.vectors, ctx.label_vectors)))


# --------------------------------------------------------------------------------------------------
# label_family
# --------------------------------------------------------------------------------------------------

SYN = [0, 1, 2, 3]


def _family_data(seed, *, plant=True, n=4000, L=150, d=32, inside=0.018, outside=0.01, strong_member=False):
    rng = np.random.default_rng(seed)
    df = _frame(rng, n)
    W = rng.normal(size=(L, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    for j in SYN:  # near-synonyms of label 0's direction: pairwise cosine ~ 0.9
        v = W[0] + 0.25 * rng.normal(size=d) / np.sqrt(d)
        W[j] = v / np.linalg.norm(v)
    Y = rng.random((n, L)) < rng.uniform(0.02, 0.08, L)
    Y[:, SYN] = rng.random((n, len(SYN))) < outside
    x = (df["a"] == "x").to_numpy()
    if plant:  # each synonym a little more often on a=x: too weak alone
        Y[np.ix_(x, SYN)] = rng.random((int(x.sum()), len(SYN))) < inside
    if strong_member:  # one member alone carries the whole effect
        Y[x, 0] = rng.random(int(x.sum())) < 0.1
    return df, Y, W.astype(np.float32)


def test_label_families_match_connected_components_of_the_dense_similarity_graph():
    df, Y, W = _family_data(0)
    fams = label_families(W, similarity=0.8, max_size=25)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    S = (Wn @ Wn.T) >= 0.8
    _, comp = connected_components(sp.csr_matrix(S), directed=False)
    sizes = np.bincount(comp)
    oracle = np.where(sizes[comp] >= 2, comp, -1)
    # Same partition (up to renaming of the families).
    pairs = {(a, b) for a, b in zip(fams.family, oracle)}
    assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})
    assert set(np.flatnonzero(fams.family >= 0)) == set(SYN)


def test_label_families_respect_the_size_cap():
    rng = np.random.default_rng(3)
    centre = rng.normal(size=32)
    W = centre + rng.normal(size=(40, 32)) * np.linspace(0.05, 0.6, 40)[:, None]  # a dense, graded blob
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    uncapped = label_families(W, similarity=0.8, max_size=40)
    assert np.bincount(uncapped.family[uncapped.family >= 0]).max() > 10
    capped = label_families(W, similarity=0.8, max_size=6)
    sizes = np.bincount(capped.family[capped.family >= 0])
    assert sizes.max() <= 6 and sizes.min() >= 2
    assert capped.members.shape == (40, len(sizes))
    # Each family's representative is one of its members.
    assert (capped.family[capped.representative] == np.arange(len(capped))).all()


def test_label_family_finds_a_bug_spread_thin_over_synonyms_that_association_misses():
    df, Y, W = _family_data(0)
    ctx = _context(df, Y, label_vectors=W)
    out = _scan(ctx, df, "label_family")
    assert out.detectors == {"label_family": "ran"}
    f = out.findings
    hit = f[f["group"] == "a=x"]
    assert len(hit) == 1
    row = hit.iloc[0]
    assert row["label"] in {f"l{j}" for j in SYN} and row["family"] == "label_family:discovery"
    assert "family of 4 near-synonyms" in row["detail"]
    x = (df["a"] == "x").to_numpy()
    assert row["count"] == int((Y[:, SYN].any(axis=1) & x).sum())
    assoc = _run(AssociationDetector, ctx).findings
    assert not (len(assoc) and np.isin(assoc["label_index"], SYN).any())


def test_label_family_p_values_match_brute_force_fisher_on_the_union():
    df, Y, W = _family_data(1)
    ctx = _context(df, Y, label_vectors=W, fdr=1.0)
    out = _run(LabelFamilyDetector, ctx).findings
    assert len(out) >= 1
    union = Y[:, SYN].any(axis=1)
    for r in out.itertuples():
        mem, uni = _member_mask(ctx, r.group_index), _universe(ctx, r.group_index)
        k, n = int((union & mem).sum()), int(mem.sum())
        K, N = int((union & uni).sum()), int(uni.sum())
        oracle = fisher_exact([[k, n - k], [K - k, N - n - K + k]], alternative="greater")[1]
        assert (r.count, r.group_size, r.label_count, r.universe_size) == (k, n, K, N)
        assert np.isclose(r.p_value, oracle, rtol=1e-9)
        # The reporting rule: the family beats every member alone.
        for j in SYN:
            kj, Kj = int((Y[:, j] & mem).sum()), int((Y[:, j] & uni).sum())
            pj = fisher_exact([[kj, n - kj], [Kj - kj, N - n - Kj + kj]], alternative="greater")[1]
            assert r.p_value < pj


def test_label_family_stays_silent_when_one_member_explains_it():
    df, Y, W = _family_data(2, plant=False, strong_member=True)
    ctx = _context(df, Y, label_vectors=W)
    assoc = _run(AssociationDetector, ctx).findings
    assert ((assoc["label_index"] == 0) & (ctx.groups.ids[assoc["group_index"]] == "a=x")).any()
    res = _run(LabelFamilyDetector, ctx)
    out = res.findings
    reported = set(ctx.groups.ids[out["group_index"]]) if len(out) else set()
    assert not reported & {"a=x", "a=x & b=p", "a=x & b=q"}  # association already says it
    fam = {f["name"]: f for f in res.families}["label_family:discovery"]
    assert fam["n_not_informative"] >= 3 and fam["n_reported"] == fam["n_significant"] == len(out)
    assert res.facts["label_families"]["not_informative_discovery"] == fam["n_not_informative"]


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_label_family_findings_are_exactly_the_rejections_of_its_correction(seed):
    """Issue 10 item 11: the "adds information" rule is part of the test (p = 1 for a pair one member
    explains), so the rows are exactly BH's rejections at the family's size and the q-values are BH's
    own; before, BH ran first and the rule dropped rejections after it (n_significant > rows shown)."""
    df, Y, W = _family_data(seed, strong_member=True)
    ctx = _context(df, Y, label_vectors=W)
    res = _run(LabelFamilyDetector, ctx)
    out = res.findings
    for fam in res.families:
        rows = out[out["family"] == fam["name"]] if len(out) else out
        assert fam["n_significant"] == len(rows) == fam["n_reported"]
        if len(rows):
            m = int(rows["family_size"].iat[0])
            assert np.allclose(rows["q_value"], _bh(rows["p_value"], m), rtol=1e-12)
            assert (rows["q_value"] <= ctx.fdr).all()


def test_label_family_watchlist_family_uses_the_watchlist_budget_and_label():
    df, Y, W = _family_data(0)
    ctx = _context(df, Y, label_vectors=W, watch=(2,))
    res = _run(LabelFamilyDetector, ctx)
    out = res.findings
    fams = {f["name"]: f for f in res.families}
    assert fams["label_family:watchlist"]["n_labels"] == 1 and fams["label_family:discovery"]["n_labels"] == 0
    assert len(out) >= 1
    assert set(out["family"]) == {"label_family:watchlist"} and set(out["label_index"]) == {2}


def test_label_family_quiet_on_null_data():
    hits = 0
    for s in range(20):
        df, Y, W = _family_data(s, plant=False, n=1500, L=60)
        hits += len(_run(LabelFamilyDetector, _context(df, Y, label_vectors=W)).findings) > 0
    assert hits <= 4


def test_label_family_skipped_without_label_vectors():
    df, Y, W = _family_data(0, n=500, L=20)
    out = _scan(_context(df, Y), df, "label_family")
    assert (
        out.detectors["label_family"].startswith("skipped")
        and "label embeddings" in out.detectors["label_family"]
    )


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("similarity", 1.5, r"key 'scan\.detectors\.label_family\.similarity': .*less than or equal to 1 \(found 1\.5\)"),
        ("max_size", 1, r"key 'scan\.detectors\.label_family\.max_size': .*greater than or equal to 2 \(found 1\)"),
    ],
)
def test_label_family_bad_settings_are_named(key, value, match):
    from tagscan.config import ScanConfig
    from tagscan.errors import ConfigError
    from tagscan.scan.detectors import resolve

    with pytest.raises(ConfigError, match=match):
        resolve(ScanConfig(detectors={"label_family": {key: value}}))


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [("similarity", 1.5, r"similarity must be a cosine in \(0, 1\]"), ("max_size", 1, "max_size must be an integer >= 2")],
)
def test_label_families_bad_arguments_are_named(key, value, match):
    from tagscan.errors import ConfigError

    df, Y, W = _family_data(0, n=500, L=20)
    with pytest.raises(ConfigError, match=match):
        label_families(W, **{key: value})


def test_label_family_max_size_setting_caps_the_families():
    df, Y, W = _family_data(0)
    res = _run(LabelFamilyDetector, _context(df, Y, label_vectors=W), max_size=3)
    assert res.facts["label_families"]["max_size"] == 3 and res.facts["label_families"]["largest"] <= 3


# --------------------------------------------------------------------------------------------------
# Review examples, purity, errors
# --------------------------------------------------------------------------------------------------


def test_example_rows_are_the_cases_behind_each_finding():
    df, Y, T = _error_data(0)
    ctx = _context(df, Y, truth=T, watch=(0,))
    out = _run(ErrorGapDetector, ctx).findings
    for r in out.itertuples():
        mem = _member_mask(ctx, r.group_index)
        ex = np.asarray(r.example_rows)
        assert 0 < len(ex) <= 32
        want = (Y & ~T) if r.error_kind == "fpr" else (T & ~Y)
        assert want[ex, r.label_index].all() and mem[ex].all()

    df, Y, V, W, ctx = _align_ctx(0)
    out = _run(AlignmentGapDetector, ctx).findings
    r = out.iloc[0]
    ex = np.asarray(r["example_rows"])
    sims = (V[ex].astype(float) @ W[r["label_index"]].astype(float)) / np.linalg.norm(V[ex], axis=1)
    assert Y[ex, r["label_index"]].all() and _member_mask(ctx, r["group_index"])[ex].all()
    assert (np.diff(sims) >= -1e-9).all()  # least aligned first

    df, Y, W = _family_data(0)
    ctx = _context(df, Y, label_vectors=W)
    r = _run(LabelFamilyDetector, ctx).findings.iloc[0]
    ex = np.asarray(r["example_rows"])
    assert len(ex) and Y[np.ix_(ex, SYN)].any(axis=1).all() and _member_mask(ctx, r["group_index"])[ex].all()


def test_detectors_do_not_modify_the_context_and_ignore_sample_order():
    df, Y, T = _error_data(0)
    ctx = _context(df, Y, truth=T, watch=(0,), fdr=0.2)
    snap = (ctx.Y.data.copy(), ctx.truth.data.copy(), ctx.counts.count.copy(), ctx.watch_weight.copy())
    base = _run(ErrorGapDetector, ctx).findings
    after = (ctx.Y.data, ctx.truth.data, ctx.counts.count, ctx.watch_weight)
    assert all(np.array_equal(a, b) for a, b in zip(snap, after))
    perm = np.random.default_rng(9).permutation(len(df))
    ctx2 = _context(df.iloc[perm].reset_index(drop=True), Y[perm], truth=T[perm], watch=(0,), fdr=0.2)
    again = _run(ErrorGapDetector, ctx2).findings
    key = ["group_index", "label_index", "error_kind"]
    a, b = base.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True)
    assert np.array_equal(a[key].to_numpy(), b[key].to_numpy())
    assert np.allclose(a["p_value"], b["p_value"], rtol=1e-12) and np.allclose(a["q_value"], b["q_value"])


def _bad(case):
    df, Y, T = _error_data(0, n=300, L=6)
    rng = np.random.default_rng(0)
    V = rng.normal(size=(300, 8)).astype(np.float32)
    W = rng.normal(size=(6, 8)).astype(np.float32)
    ss = {"shared_space": True}
    if case == "truth shape":
        return ErrorGapDetector, _context(df, Y, truth=T[:, :5])
    if case == "truth_rows":
        return ErrorGapDetector, _context(df, Y, truth=T, truth_rows=np.ones(10, dtype=bool))
    if case == "correction":
        return ErrorGapDetector, _context(df, Y, truth=T, correction="holm")
    if case == "vectors shape":
        return AlignmentGapDetector, _context(df, Y, vectors=V[:20], label_vectors=W, **ss)
    if case == "vectors nan":
        V[3, 1] = np.nan
        return AlignmentGapDetector, _context(df, Y, vectors=V, label_vectors=W, **ss)
    if case == "label vectors rows":
        return LabelFamilyDetector, _context(df, Y, label_vectors=W[:4])
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("truth shape", r"truth: expected a samples x labels matrix of shape \(300, 6\).*found \(300, 5\)"),
        ("truth_rows", r"ScanContext.truth_rows: expected a bool array with one entry per sample \(300\)"),
        ("correction", r"ScanContext.correction must be 'bh' or 'by'; found 'holm'"),
        ("vectors shape", r"vectors: expected a \(300, dim\) array, found shape \(20, 8\)"),
        ("vectors nan", r"vectors: holds NaN or infinite values"),
        ("label vectors rows", r"label_vectors: expected one row per label \(6\), found shape \(4, 8\)"),
    ],
)
def test_bad_inputs_are_named(case, match):
    with pytest.raises(Exception, match=match):
        det, ctx = _bad(case)
        det().run(ctx, det.Config())


def test_watchlist_budget_is_watchlist_labels_on_groups_about_people():
    import dataclasses

    df, Y, T = _error_data(0)
    ctx = _context(df, Y, truth=T, watch=(0,))
    not_people = np.isin(ctx.groups.ids, ["a=x", "a=x & b=p", "a=x & b=q"])
    ctx = dataclasses.replace(ctx, group_about_people=~not_people)
    out = _run(ErrorGapDetector, ctx).findings
    row = out[(out["label_index"] == 0) & (out["group_index"] == ctx.groups.index("a=x"))]
    assert list(row["family"]) == ["error_gap:discovery"]  # a watch label on a group not about people

    df, Y, W = _family_data(0)
    ctx = _context(df, Y, label_vectors=W, watch=(2,))
    ctx = dataclasses.replace(ctx, group_about_people=~np.isin(ctx.groups.ids, ["a=x"]))
    out = _run(LabelFamilyDetector, ctx).findings
    on_x = out[out["group_index"] == ctx.groups.index("a=x")]
    assert list(on_x["family"]) == ["label_family:discovery"] and list(on_x["label_index"]) == [2]
    assert (
        out.loc[out["group_index"] != ctx.groups.index("a=x"), "family"] == "label_family:watchlist"
    ).all()
