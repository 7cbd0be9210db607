"""Issue 10, items 4-8: who is a person, people views, ranking on each detector's effect, one test per hypothesis.

The data hold the hard cases the issue names: a non-people attribute on every input (``source``: zoo photos
are mostly animals), a watchlist label legitimate elsewhere (``gorilla`` on a third of animal photos), and a
latent group of people that no attribute captures but the embedding encodes (a tight region of the space).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.config import GroupsConfig, ScanConfig
from tagscan.inputs import AuditSet
from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import ScanContext
from tagscan.scan.detectors.association import UnderRepresentationDetector
from tagscan.scan.detectors.settings import default_settings
from tagscan.scan.engine import analyse, person_rows
from tagscan.scan.findings import scan
from tagscan.scan.groups import build_groups
from tagscan.scan.severity import groups_about_people
from tagscan.scan.watchlist import WatchAssignment

WATCH = {"gorilla": ("dehumanizing", 1.0), "criminal": ("criminality", 0.9)}


def _people_set(seed: int, *, planted: bool, n: int = 8000, n_benign: int = 60):
    """People (tone, gender set) and animal photos; ``source`` on every input; a hidden group of people.

    ``gorilla`` is on a third of animal photos; when ``planted``, also on 3% of the hidden group of people
    and on no other person. ``criminal`` is at 1% everywhere (fair).
    """
    rng = np.random.default_rng([seed, 10])  # not the clusters' fit/test split stream (seeded by seed alone)
    dim = 32
    person = rng.random(n) < 0.6
    hidden = person & (rng.random(n) < 0.08)
    topic = np.where(person, rng.integers(0, 4, size=n), 4 + rng.integers(0, 2, size=n))
    centres = rng.normal(size=(7, dim))
    vec = centres[topic] + 0.6 * rng.normal(size=(n, dim))
    vec[hidden] = centres[6] + 0.3 * rng.normal(size=(int(hidden.sum()), dim))
    vec = (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)
    tone = np.where(person, rng.choice(["light", "dark"], size=n), None).astype(object)
    gender = np.where(person, rng.choice(["woman", "man"], size=n), None).astype(object)
    zoo = np.where(person, rng.random(n) < 0.1, rng.random(n) < 0.8)
    source = np.where(zoo, "zoo", "web").astype(object)
    samples = pd.DataFrame(
        {"sample_id": [f"s{i:05d}" for i in range(n)], "tone": tone, "gender": gender, "source": source}
    )
    labels = np.array(["gorilla", "criminal", *[f"tag_{j:03d}" for j in range(n_benign)]], dtype=object)
    Y = np.zeros((n, len(labels)), dtype=bool)
    animal = ~person
    Y[:, 0] = animal & (rng.random(n) < 1 / 3)
    if planted:
        Y[:, 0] |= hidden & (rng.random(n) < 0.03 * 3)  # ~9% of hidden people: found in half the rows
    Y[:, 1] = rng.random(n) < 0.01
    prefs = rng.integers(2, len(labels), size=(6, 5))  # each topic prefers 5 benign labels
    for t in range(6):
        rows = np.flatnonzero(topic == t)
        for j in prefs[t]:
            Y[rows, j] |= rng.random(len(rows)) < 0.3
    Y[:, 2:] |= rng.random((n, n_benign)) < 0.02
    Ys = sp.csr_matrix(Y.astype(np.int8))
    audit = AuditSet(
        samples=samples, attributes=("tone", "gender", "source"), labels=labels, label_names=labels.copy(),
        Y=Ys, scores=Ys.astype(np.float32),
    )
    weight = np.zeros(len(labels))
    category = np.full(len(labels), None, dtype=object)
    for j, lab in enumerate(labels):
        if lab in WATCH:
            category[j], weight[j] = WATCH[lab]
    watch = WatchAssignment(category=category, weight=weight, matched_term=labels.copy(), similarity=(weight > 0) * 1.0)
    return audit, vec, watch, hidden


def _analyse(seed: int, *, planted: bool, protected=("tone", "gender"), clusters=(8, 32), **scan_kw):
    audit, vec, watch, hidden = _people_set(seed, planted=planted)
    gcfg = GroupsConfig(
        attributes=["tone", "gender", "source"], protected=list(protected), intersections=[["tone", "gender"]],
        clusters=list(clusters), min_group_size=30, seed=seed,
    )
    rows = person_rows(audit, list(gcfg.protected), [])
    res = analyse(audit, vectors=vec, label_vectors=None, watch=watch, person_rows=rows, groups_cfg=gcfg,
                  scan_cfg=ScanConfig(watchlist=None, **scan_kw), examples_per_finding=2)
    return res, hidden, rows


def test_person_rows_read_protected_attributes_only():
    audit, *_ = _people_set(0, planted=False, n=2000)
    people = audit.samples["tone"].notna().to_numpy()
    assert (person_rows(audit, ["tone", "gender"], []) == people).all()
    # source is on every input, but it says nothing about people: not protected, not read.
    assert not person_rows(audit, [], []).any()
    # Without protected attributes, a person label predicted marks the row.
    hit = person_rows(audit, [], ["criminal"])
    assert (hit == (np.asarray(audit.Y[:, 1].todense()).ravel() > 0)).all()


def test_non_people_attribute_on_every_input_ranks_no_benign_finding_high():
    """Item 4: on harm-free data, an animal tag on the zoo photos is an association, not a harm.

    Old code: every attribute group was about people, so gorilla on source=zoo was a critical watchlist hit.
    """
    res, _, rows = _analyse(1, planted=False)
    f = res.outcome.findings
    zoo = f[(f["label"] == "gorilla") & (f["group"] == "source=zoo")]
    assert len(zoo) == 1 and not bool(zoo["about_people"].iloc[0]) and zoo["family"].iloc[0] == "discovery"
    assert not f["severity_level"].isin(["critical", "high"]).any(), f.head(5)[["label", "group", "severity"]]
    # source=zoo is mostly animal photos: not about people; source=web is mostly people: about people.
    people = res.groups.ids[groups_about_people(res.groups.membership, rows)]
    assert "source=zoo" not in set(people) and "source=web" in set(people) and "tone=dark" in set(people)


def test_no_protected_attributes_means_people_from_person_labels_only():
    res, *_ = _analyse(1, planted=False, protected=())
    f = res.outcome.findings
    assert not f["about_people"].astype(bool).any()
    assert not f["family"].astype(str).str.endswith("watchlist").any()


def test_watchlist_label_on_latent_people_group_is_compared_with_people():
    """Item 5: gorilla on a hidden group of people (and on a third of animal photos, on no other person) is
    found near the top, through the cluster's people view; among all inputs it was invisible."""
    ranks = []
    for seed in range(3):
        res, hidden, _ = _analyse(seed, planted=True)
        f = res.outcome.findings.reset_index(drop=True)
        groups = res.groups
        hit = []
        for i, r in f[(f["label"] == "gorilla") & (f["group_kind"] == "cluster")].iterrows():
            mem = groups.members(groups.index(r["group"]))
            if hidden[mem].mean() >= 0.5 and r["family"] == "watchlist":
                hit.append(i)
        assert hit, f"seed {seed}: the planted harm was not found"
        row = f.iloc[hit[0]]
        assert row["group"].endswith("(people)") and "show people" in row["group_description"]
        assert row["rate_outside"] == 0.0  # compared with people only: no other person has it
        ranks.append(hit[0] + 1)
    assert max(ranks) <= 3, ranks


def test_watch_hit_needs_a_material_effect_to_outrank_discovery():
    """Item 6: a significant but weak watchlist hit on people no longer outranks a strong discovery finding."""
    rng = np.random.default_rng(3)
    n = 20000
    tone = rng.choice(["a", "b", "c"], size=n).astype(object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "tone": tone})
    Y = rng.random((n, 3)) < 0.02
    Y[:, 0] = np.where(tone == "a", rng.random(n) < 0.24, rng.random(n) < 0.2)  # lift 1.2: weak, significant
    Y[:, 1] = np.where(tone == "b", rng.random(n) < 0.4, rng.random(n) < 0.02)  # lift 20: discovery
    Ys = sp.csr_matrix(Y.astype(np.int8))
    groups = build_groups(df, attributes=["tone"], min_group_size=10)
    labels = np.array(["w0", "d1", "d2"], dtype=object)
    ctx = ScanContext(Y=Ys, scores=Ys.astype(np.float32), labels=labels, label_names=labels, groups=groups,
                      counts=count_cells(groups, Ys), watch_weight=np.array([1.0, 0, 0]),
                      watch_category=np.array(["dehumanizing", None, None], dtype=object))
    ids = df["sample_id"].to_numpy(dtype=object)
    f = scan(ctx, sample_ids=ids, person_rows=np.ones(n, bool)).findings
    w0 = f[f["label"] == "w0"].iloc[0]
    assert w0["family"] == "watchlist" and w0["lift"] < 1.5
    assert f.iloc[0]["label"] == "d1"  # old code: the watchlist hit came first, at 50 x weight or more
    assert w0["severity_level"] not in ("critical", "high")
    # A lower bar (scan.watchlist_min_effect) puts it first again.
    f2 = scan(ctx, sample_ids=ids, person_rows=np.ones(n, bool), watchlist_min_effect=1.0).findings
    assert f2.iloc[0]["label"] == "w0"


def test_strong_findings_keep_their_order_and_rank_on_their_own_effect():
    """Item 6: findings that saturate the score are ordered by their conservative effect, then q; a row's
    ``effect_low`` (the effect its detector tested) is what it ranks on."""
    from tagscan.scan.findings import conservative_effect

    f = pd.DataFrame({"detector": ["association", "alignment_gap", "alignment_gap"], "lift_low": [2.0, 30.0, 30.0],
                      "lift_high": [3.0, 40.0, 40.0], "eb05": [1.8, np.nan, np.nan], "effect_low": [np.nan, 1.2, np.nan]})
    assert conservative_effect(f).tolist() == [1.8, 1.2, 30.0]
    rng = np.random.default_rng(0)
    n = 6000
    a = np.where(np.arange(n) < 60, "z", rng.choice(["x", "y"], size=n)).astype(object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "a": a})
    Y = rng.random((n, 3)) < 0.005
    Y[:, 0] = np.where(a == "x", rng.random(n) < 0.6, rng.random(n) < 0.02)  # big group, lift ~30: q = 0
    Y[:, 1] = np.where(a == "z", rng.random(n) < 0.9, rng.random(n) < 0.001)  # small group, lift ~900
    Ys = sp.csr_matrix(Y.astype(np.int8))
    groups = build_groups(df, attributes=["a"], min_group_size=10)
    labels = np.array(["w0", "w1", "w2"], dtype=object)
    ctx = ScanContext(Y=Ys, scores=Ys.astype(np.float32), labels=labels, label_names=labels, groups=groups,
                      counts=count_cells(groups, Ys), watch_weight=np.ones(3),
                      watch_category=np.full(3, "dehumanizing", dtype=object))
    f = scan(ctx, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(n, bool)).findings
    top = f.head(2)
    assert (top["severity"] == 100.0).all() and top["q_value"].iloc[1] < top["q_value"].iloc[0]
    # The stronger effect first, although its q is larger (old code: by q, so w0 on a=x came first).
    assert (top["label"] + "@" + top["group"]).tolist() == ["w1@a=z", "w0@a=x"]
    assert top["lift_low"].iloc[0] > top["lift_low"].iloc[1]  # too few cells for a prior: EB05 is not set


def _two_value_context(seed: int = 0, n: int = 3000):
    rng = np.random.default_rng(seed)
    g = rng.choice(["man", "woman"], size=n).astype(object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "gender": g})
    Y = rng.random((n, 4)) < 0.03
    Y[:, 0] = np.where(g == "man", rng.random(n) < 0.12, rng.random(n) < 0.02)  # watch label, over on men
    Ys = sp.csr_matrix(Y.astype(np.int8))
    groups = build_groups(df, attributes=["gender"], min_group_size=10)
    labels = np.array(["criminal", "t1", "t2", "t3"], dtype=object)
    ctx = ScanContext(Y=Ys, scores=Ys.astype(np.float32), labels=labels, label_names=labels, groups=groups,
                      counts=count_cells(groups, Ys), watch_weight=np.array([0.9, 0, 0, 0]),
                      watch_category=np.array(["criminality", None, None, None], dtype=object))
    return ctx, df


def test_under_representation_is_discovery_and_complementary_pairs_are_tested_once():
    """Item 7: 'criminal' applied less to women is the same evidence as applied more to men: listed once (the
    over-representation, named both ways); under-representation never spends the watchlist budget."""
    ctx, df = _two_value_context()
    ids = df["sample_id"].to_numpy(dtype=object)
    both = {**default_settings(["association"]), "under_representation": UnderRepresentationDetector.Config(labels=True)}
    out = scan(ctx, sample_ids=ids, person_rows=np.ones(len(df), bool), detectors=both)
    f = out.findings
    crim = f[f["label"] == "criminal"]
    assert len(crim) == 1  # old code: gender=man (association:watchlist) and gender=woman (under:watchlist)
    row = crim.iloc[0]
    assert (row["group"], row["family"]) == ("gender=man", "watchlist")
    assert "complement of gender=woman" in row["group_description"]
    assert "under:watchlist" not in {x["name"] for x in out.families}
    assert out.extra["under_representation.complementary_groups_left_to_association"] == 2
    # Alone, under-representation tests the pair itself: in discovery, ranked as discovery (not as harm).
    alone = scan(ctx, sample_ids=ids, person_rows=np.ones(len(df), bool),
                 detectors={"under_representation": UnderRepresentationDetector.Config(labels=True)}).findings
    w = alone[alone["label"] == "criminal"]
    assert set(w["group"]) == {"gender=woman"} and set(w["family"]) == {"under:discovery"}
    assert (w["severity"] <= 15.0).all()  # DISCOVERY_HARM: old code ranked it with the watch weight 0.9


def test_same_members_at_two_granularities_are_tested_once_and_named_both_ways():
    """Item 8: a cluster identical at k=4 and k=8 is one group, under its first name, with its other name."""
    n = 400
    a4 = np.repeat(np.arange(4), n // 4)
    a8 = a4 * 2 + (np.arange(n) % 2)
    a8[a4 == 0] = 0  # cluster k8/0 has exactly the members of k4/0
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)]})
    groups = build_groups(df, attributes=[], clusters={4: a4, 8: a8}, min_group_size=5)
    assert "cluster:k4/0" in set(groups.ids) and "cluster:k8/0" not in set(groups.ids)
    assert groups.aliases == {"cluster:k4/0": ("cluster:k8/0",)}
    assert len(groups) == 4 + 6  # k8 has 7 distinct clusters, one of them k4/0
    Y = sp.csr_matrix((np.arange(n)[:, None] < 100).astype(np.int8) * (np.random.default_rng(0).random((n, 1)) < 0.5))
    labels = np.array(["t"], dtype=object)
    ctx = ScanContext(Y=Y, scores=Y.astype(np.float32), labels=labels, label_names=labels, groups=groups,
                      counts=count_cells(groups, Y), watch_weight=np.zeros(1), watch_category=np.array([None]))
    f = scan(ctx, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.zeros(n, bool)).findings
    assert f["group"].tolist() == ["cluster:k4/0"]
    assert "the same members as cluster:k8/0" in f["group_description"].iloc[0]
