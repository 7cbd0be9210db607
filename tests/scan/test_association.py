"""The association detector against independent oracles: scipy's Fisher exact test and a brute-force BH."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import fisher_exact

from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import ScanContext, default_settings
from tagscan.scan.detectors.association import AssociationDetector, UnderRepresentationDetector, run_family
from tagscan.scan.findings import scan
from tagscan.scan.groups import build_groups


def _context(seed=0, n=600, L=12, fdr=0.05, watch=(0,), plant=True):
    rng = np.random.default_rng(seed)
    a = np.array(rng.choice(["x", "y", "z"], size=n), dtype=object)
    a[rng.random(n) < 0.25] = None
    b = np.array(rng.choice(["p", "q"], size=n), dtype=object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "a": a, "b": b})
    Y = rng.random((n, L)) < 0.08
    if plant:
        Y[:, 0] = np.where(a == "x", rng.random(n) < 0.4, rng.random(n) < 0.03)
        Y[:, 1] = np.where((a == "y") & (b == "q"), rng.random(n) < 0.5, rng.random(n) < 0.05)
    Y = sp.csr_matrix(Y.astype(np.int8))
    groups = build_groups(df, attributes=["a", "b"], intersections=[["a", "b"]], min_group_size=10)
    counts = count_cells(groups, Y)
    w = np.zeros(L)
    cat = np.full(L, None, dtype=object)
    for j in watch:
        w[j], cat[j] = 1.0, "dehumanizing"
    ctx = ScanContext(
        Y=Y, scores=Y.astype(np.float32), labels=np.array([f"l{j}" for j in range(L)], dtype=object),
        label_names=np.array([f"label {j}" for j in range(L)], dtype=object), groups=groups, counts=counts,
        watch_weight=w, watch_category=cat, fdr=fdr,
    )
    return ctx, df, Y


def _run(ctx):
    return AssociationDetector().run(ctx, AssociationDetector.Config()).findings


def _fisher(k, n, K, N):
    return fisher_exact([[k, n - k], [K - k, N - n - K + k]], alternative="greater")[1]


def test_p_values_match_fisher_exact_and_q_values_match_bh():
    ctx, df, Y = _context(fdr=0.5)  # a loose FDR so that many cells are reported
    rows, fam = run_family(ctx, "discovery", np.ones(ctx.labels.shape, dtype=bool))
    assert len(rows) > 5
    Yd = Y.toarray().astype(bool)
    for r in rows.itertuples():
        g = r.group_index
        mem = ctx.groups.members(g)
        uni = ctx.groups.universes[:, ctx.groups.universe[g]].toarray().ravel().astype(bool)
        k = int(Yd[mem, r.label_index].sum())
        K = int(Yd[uni, r.label_index].sum())
        assert (r.count, r.group_size, r.label_count, r.universe_size) == (k, len(mem), K, int(uni.sum()))
        assert np.isclose(r.p_value, _fisher(k, len(mem), K, int(uni.sum())), rtol=1e-9)
        assert np.isclose(r.expected, len(mem) * K / uni.sum())
    # BH by the textbook definition over the testable family (zero cells count with p = 1).
    c = ctx.counts
    from tagscan.scan import stats

    p_all = stats.hypergeom_upper_tail(c.count, c.group_size, c.label_count, c.total)
    testable = stats.min_attainable_pvalue(c.group_size, c.label_count, c.total) <= fam.tarone_level
    p = np.sort(p_all[testable])
    m = fam.n_testable
    q_sorted = np.minimum.accumulate((p * m / np.arange(1, len(p) + 1))[::-1])[::-1]
    got = np.sort(rows["q_value"].to_numpy())
    assert np.allclose(got, np.minimum(q_sorted, 1)[: len(got)], rtol=1e-12)
    assert fam.n_testable <= fam.n_pairs


def test_planted_found_and_ranked_first_in_watchlist_family():
    ctx, df, Y = _context(watch=(0,))
    out = scan(ctx, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
               examples_per_finding=4)
    f = out.findings
    top = f.iloc[0]
    assert (top["label"], top["group"], top["family"]) == ("l0", "a=x", "watchlist")
    assert top["severity_level"] in ("critical", "high")
    assert ((f["label"] == "l1") & (f["group"] == "a=y & b=q")).any()
    # examples: members of the group that got the label
    mem = set(df.loc[df["a"] == "x", "sample_id"])
    ex = top["examples"]
    assert 0 < len(ex) <= 4 and set(ex) <= mem
    lab0 = set(df["sample_id"].to_numpy()[Y[:, 0].toarray().ravel() > 0])
    assert set(ex) <= lab0
    assert out.detectors["association"] == "ran"
    assert out.detectors["under_representation"] == "skipped: needs scan.under_representation switched on"
    fams = {x["name"]: x for x in out.families}
    assert fams["watchlist"]["n_labels"] == 1 and fams["discovery"]["n_labels"] == 11


def test_null_data_gives_few_false_findings():
    hits = 0
    for seed in range(20):
        ctx, *_ = _context(seed=seed, plant=False)
        hits += len(_run(ctx)) > 0
    assert hits <= 4  # FDR 0.05 under the global null bounds the chance of any finding at ~5%


def test_stronger_effect_never_raises_p():
    ctx, *_ = _context()
    c = ctx.counts
    from tagscan.scan import stats

    p1 = stats.hypergeom_upper_tail(c.count, c.group_size, c.label_count, c.total)
    bump = np.minimum(c.count + 1, np.minimum(c.group_size, c.label_count))
    p2 = stats.hypergeom_upper_tail(bump, c.group_size, c.label_count, c.total)
    assert (p2 <= p1 + 1e-15).all()


def test_row_order_invariance():
    ctx, df, Y = _context(fdr=0.2)
    base = _run(ctx)
    perm = np.random.default_rng(1).permutation(len(df))
    df2 = df.iloc[perm].reset_index(drop=True)
    Y2 = Y[perm]
    groups = build_groups(df2, attributes=["a", "b"], intersections=[["a", "b"]], min_group_size=10)
    ctx2 = ScanContext(**{**ctx.__dict__, "Y": Y2, "scores": Y2.astype(np.float32), "groups": groups,
                          "counts": count_cells(groups, Y2)})
    other = _run(ctx2)
    key = ["group_index", "label_index"]
    assert np.allclose(base.sort_values(key)["p_value"], other.sort_values(key)["p_value"])


def test_under_representation_finds_zero_cells_against_fisher_less():
    ctx, df, Y = _context(plant=False, n=900)
    rng = np.random.default_rng(5)
    a = df["a"].to_numpy(dtype=object)
    Yd = ctx.Y.toarray().astype(bool)
    Yd[:, 3] = np.where(a == "x", False, rng.random(len(a)) < 0.3)  # never applied to a=x
    Yd[:, 4] = np.where(a == "y", rng.random(len(a)) < 0.05, rng.random(len(a)) < 0.35)  # rarely on a=y
    Y = sp.csr_matrix(Yd.astype(np.int8))
    counts = count_cells(ctx.groups, Y)
    ctx2 = ScanContext(**{**ctx.__dict__, "Y": Y, "scores": Y.astype(np.float32), "counts": counts})
    every = {"under_representation": UnderRepresentationDetector.Config(labels=True)}
    out = scan(ctx2, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
               detectors=every)
    f = out.findings
    assert out.detectors == {"under_representation": "ran"}
    assert set(f["detector"]) == {"under_representation"}
    zero = f[(f["label"] == "l3") & (f["group"] == "a=x")]
    assert len(zero) == 1 and int(zero["count"].iloc[0]) == 0
    assert ((f["label"] == "l4") & (f["group"] == "a=y")).any()
    for r in f.itertuples():
        g = ctx.groups.index(r.group)
        uni = ctx.groups.universes[:, ctx.groups.universe[g]].toarray().ravel().astype(bool)
        k, n, K, N = r.count, r.group_size, r.label_count, int(uni.sum())
        expect = fisher_exact([[k, n - k], [K - k, N - n - K + k]], alternative="less")[1]
        assert np.isclose(r.p_value, expect, rtol=1e-9)
        assert r.lift_high < 1
    # Under-representation is never a watchlist harm: one discovery family (issue 10, item 7).
    assert {x["name"] for x in out.families} == {"under:discovery"}
    # Restricted to a list of labels: only those are tested.
    only_l4 = {"under_representation": UnderRepresentationDetector.Config(labels=["l4"])}
    f3 = scan(ctx2, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
              detectors=only_l4).findings
    assert set(f3["label"]) == {"l4"}
    # Switched off (the default), it is skipped with the reason.
    off = scan(ctx2, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
               detectors=default_settings(["under_representation"]))
    assert off.detectors == {"under_representation": "skipped: needs scan.under_representation switched on"}


def test_by_correction_is_more_conservative():
    ctx, *_ = _context(fdr=0.3)
    bh, _ = run_family(ctx, "discovery", np.ones(len(ctx.labels), dtype=bool))
    ctx_by = ScanContext(**{**ctx.__dict__, "correction": "by"})
    by, fam = run_family(ctx_by, "discovery", np.ones(len(ctx.labels), dtype=bool))
    assert fam.correction == "by"
    assert len(by) <= len(bh)
    merged = bh.merge(by, on=["group_index", "label_index"], suffixes=("_bh", "_by"))
    assert (merged["q_value_by"] >= merged["q_value_bh"]).all()


def test_shrunk_lift_ranks_one_lucky_hit_below_a_solid_effect():
    from tagscan.scan import stats
    from tagscan.scan.detectors.association import fit_prior

    ctx, *_ = _context()
    prior = fit_prior(ctx)
    assert prior is not None
    lucky = stats.gps_quantile(np.array([1]), np.array([0.01]), prior)[0]
    solid = stats.gps_quantile(np.array([50]), np.array([5.0]), prior)[0]
    assert lucky < solid and solid > 5
