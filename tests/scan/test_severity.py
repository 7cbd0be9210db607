from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import ScanContext
from tagscan.scan.findings import scan
from tagscan.scan.groups import build_groups
from tagscan.scan.severity import groups_about_people, severity_level, severity_score


def test_severity_score_by_hand():
    # harm 1, people, lift_low 16 -> effect 1 -> 100; lift_low 4 -> effect 0.5 -> 75
    s = severity_score(np.array([1.0, 1.0, 0.5, 1.0]), np.array([True, True, True, False]), np.array([16.0, 4.0, 1.0, 16.0]))
    assert s.tolist() == [100.0, 75.0, 25.0, 25.0]
    assert severity_level(s).tolist() == ["critical", "critical", "medium", "medium"]
    assert severity_level(np.array([59.99, 35.0, 14.9])).tolist() == ["high", "high", "low"]


def test_lift_below_one_has_no_effect_bonus():
    assert severity_score(np.array([1.0]), np.array([True]), np.array([0.5]))[0] == 50.0


def test_clusters_about_people_by_majority():
    # cluster 0: 3 of 4 members are people (about people); cluster 1: 2 of 3 (mixed, not about people)
    M = sp.csc_matrix(np.array([[1, 0], [1, 1], [1, 1], [1, 0], [0, 1]], dtype=np.int8))
    person = np.array([True, True, True, False, False])
    out = groups_about_people(M, person)
    assert out.tolist() == [True, False]
    # Any group, attribute groups included, is about people by its members (a protected value set or a
    # person label): a group with none is not.
    assert groups_about_people(M, np.zeros(5, bool)).tolist() == [False, False]


def test_watchlist_on_people_ranks_before_everything_else():
    rng = np.random.default_rng(3)
    n = 2000
    person = rng.random(n) < 0.5
    tone = np.where(person, rng.choice(["a", "b"], size=n), None).astype(object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "tone": tone})
    Y = rng.random((n, 4)) < 0.02
    Y[:, 0] = np.where(tone == "a", rng.random(n) < 0.06, rng.random(n) < 0.02)  # mild watch effect on people
    Y[:, 1] = np.where(tone == "b", rng.random(n) < 0.6, rng.random(n) < 0.01)  # huge discovery effect
    cl = np.where(person, 0, 1)
    Y[:, 2] = np.where(cl == 1, rng.random(n) < 0.6, rng.random(n) < 0.01)  # watch label on non-people cluster
    Y = sp.csr_matrix(Y.astype(np.int8))
    groups = build_groups(df, attributes=["tone"], clusters={2: cl}, min_group_size=10)
    w = np.array([0.4, 0.0, 1.0, 0.0])
    cat = np.array(["poverty", None, "dehumanizing", None], dtype=object)
    ctx = ScanContext(Y=Y, scores=Y.astype(np.float32), labels=np.array(["w0", "d1", "w2", "d3"], dtype=object),
                      label_names=np.array(["w0", "d1", "w2", "d3"], dtype=object), groups=groups,
                      counts=count_cells(groups, Y), watch_weight=w, watch_category=cat)
    f = scan(ctx, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=person).findings
    first = f.iloc[0]
    assert (first["label"], first["group"], first["family"]) == ("w0", "tone=a", "watchlist")
    assert bool(first["about_people"])
    assert {"d1", "w2"} <= set(f["label"])
    row_w2 = f[f["label"] == "w2"].iloc[0]
    assert not row_w2["about_people"] and row_w2["severity"] <= 25


def test_examples_are_highest_score_first_and_diverse():
    from tagscan.scan.findings import pick_examples

    n = 40
    rng = np.random.default_rng(0)
    scores = np.zeros((n, 1), dtype=np.float32)
    scores[:, 0] = np.linspace(0.99, 0.6, n)
    S = sp.csc_matrix(scores)
    M = sp.csc_matrix(np.ones((n, 1), dtype=np.int8))
    # Rows 0-9 are near-duplicates of each other; the rest are spread out.
    V = rng.normal(size=(n, 8))
    V[:10] = V[0] + 0.01 * rng.normal(size=(10, 8))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    plain = pick_examples(S, M, np.array([0]), np.array([0]), 4)[0]
    assert plain.tolist() == [0, 1, 2, 3]
    diverse = pick_examples(S, M, np.array([0]), np.array([0]), 4, vectors=V)[0]
    assert diverse[0] == 0 and len(set(diverse.tolist()) & set(range(10))) == 1
    # Only members that got the label.
    M2 = sp.csc_matrix(np.r_[np.zeros(20), np.ones(20)].astype(np.int8)[:, None])
    assert set(pick_examples(S, M2, np.array([0]), np.array([0]), 5, vectors=V)[0].tolist()) <= set(range(20, 40))
