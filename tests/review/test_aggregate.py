"""Votes -> per-finding statuses, without a server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagscan.review.aggregate import REVIEW_COLUMNS, aggregate_votes
from tagscan.scan.stats import wilson_interval


def votes_of(spec: dict[str, list[str]], *, when: str = "2024-01-01T00:00:00Z") -> pd.DataFrame:
    """{finding: [verdict per example]} -> a votes table (one annotator)."""
    rows = [
        {"finding_id": f, "sample_id": f"{f}-s{i}", "annotator": "1", "verdict": v, "updated_at": when}
        for f, vs in spec.items()
        for i, v in enumerate(vs)
    ]
    return pd.DataFrame(rows, columns=["finding_id", "sample_id", "annotator", "verdict", "updated_at"])


def by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("finding_id")


def test_statuses():
    out = by_id(
        aggregate_votes(
            votes_of(
                {
                    "harm1": ["correct"] * 5 + ["harmful"],  # any harmful confirms
                    "wrongmaj": ["wrong", "wrong", "correct"],
                    "benign": ["correct", "correct", "correct", "wrong"],
                    "fewbenign": ["correct", "correct"],  # below min_dismiss_votes
                    "tie": ["correct", "wrong", "unsure"],
                    "unsure": ["unsure", "unsure"],
                }
            ),
            finding_ids=["never"],
        )
    )
    assert list(out.columns) == REVIEW_COLUMNS[1:]
    assert out.loc["harm1", "review_status"] == "confirmed"
    assert out.loc["wrongmaj", "review_status"] == "confirmed"
    assert out.loc["benign", "review_status"] == "dismissed"
    assert out.loc["fewbenign", "review_status"] == "needs review"
    assert out.loc["tie", "review_status"] == "needs review"
    assert out.loc["unsure", "review_status"] == "needs review"
    assert out.loc["never", "review_status"] == "needs review"


def test_counts_share_and_interval():
    out = by_id(aggregate_votes(votes_of({"f": ["correct", "wrong", "harmful", "unsure", "wrong"]})))
    r = out.loc["f"]
    assert (r.correct, r.wrong, r.harmful, r.unsure, r.n_votes, r.n_reviewed) == (1, 2, 1, 1, 5, 5)
    assert r.share_wrong == pytest.approx(3 / 4)
    low, high = wilson_interval(3, 4)
    assert (r.share_wrong_low, r.share_wrong_high) == (pytest.approx(float(low)), pytest.approx(float(high)))
    assert r.last_reviewed_at == "2024-01-01T00:00:00Z"


def test_no_decided_votes_policy():
    out = by_id(aggregate_votes(votes_of({"u": ["unsure"]}), finding_ids=["none"]))
    for f in ("u", "none"):
        assert np.isnan(out.loc[f, "share_wrong"])
        assert (out.loc[f, "share_wrong_low"], out.loc[f, "share_wrong_high"]) == (0.0, 1.0)
    assert out.loc["none", "n_votes"] == 0 and out.loc["none", "last_reviewed_at"] is None


def test_finding_ids_as_an_array():
    """pull passes Series.unique(): an object ndarray on pandas 2, which has no truth value."""
    ids = np.array(["u", "none", "other"], dtype=object)
    out = by_id(aggregate_votes(votes_of({"u": ["wrong"]}), finding_ids=ids))
    assert sorted(out.index) == ["none", "other", "u"]
    assert out.loc["u", "review_status"] == "confirmed" and out.loc["none", "n_votes"] == 0


def test_n_reviewed_counts_samples_and_votes_count_annotators():
    v = pd.DataFrame(
        {
            "finding_id": ["f", "f", "f"],
            "sample_id": ["a", "a", "b"],
            "annotator": ["1", "2", "1"],
            "verdict": ["correct", "correct", "correct"],
        }
    )
    r = by_id(aggregate_votes(v)).loc["f"]
    assert (r.n_reviewed, r.n_votes, r.review_status) == (2, 3, "dismissed")


def test_min_dismiss_votes():
    v = votes_of({"f": ["correct"]})
    assert aggregate_votes(v, min_dismiss_votes=1)["review_status"].tolist() == ["dismissed"]
    assert aggregate_votes(v)["review_status"].tolist() == ["needs review"]
    with pytest.raises(ValueError, match="min_dismiss_votes must be >= 1; got 0"):
        aggregate_votes(v, min_dismiss_votes=0)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown verdict\\(s\\) \\['maybe'\\]"):
        aggregate_votes(votes_of({"f": ["maybe"]}))
    with pytest.raises(ValueError, match="votes lacks the column\\(s\\) verdict"):
        aggregate_votes(pd.DataFrame({"finding_id": [], "sample_id": []}))


def test_empty():
    out = aggregate_votes(votes_of({}))
    assert out.empty and list(out.columns) == REVIEW_COLUMNS
    out = aggregate_votes(votes_of({}), finding_ids=["a", "b"])
    assert out["review_status"].tolist() == ["needs review", "needs review"]


def test_order_confirmed_first():
    out = aggregate_votes(votes_of({"d": ["correct"] * 3, "c": ["wrong"], "n": ["unsure"], "c2": ["wrong", "correct", "wrong"]}))
    assert out["finding_id"].tolist() == ["c", "c2", "d", "n"]


verdict = st.sampled_from(["correct", "wrong", "harmful", "unsure"])


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(list("abcdef")), st.lists(verdict, min_size=1, max_size=12), max_size=6), st.randoms())
def test_properties(spec, rnd):
    v = votes_of(spec)
    out = by_id(aggregate_votes(v))
    shuffled = v.sample(frac=1.0, random_state=rnd.randint(0, 2**31 - 1))
    pd.testing.assert_frame_equal(out, by_id(aggregate_votes(shuffled)))  # row order does not matter
    for f, vs in spec.items():
        r = out.loc[f]
        assert r.n_votes == len(vs) == r.correct + r.wrong + r.harmful + r.unsure
        assert 0.0 <= r.share_wrong_low <= r.share_wrong_high <= 1.0
        if not np.isnan(r.share_wrong):
            assert r.share_wrong_low <= r.share_wrong <= r.share_wrong_high
        # one more harmful vote never turns a finding away from "confirmed", nor into "dismissed"
        worse = by_id(aggregate_votes(votes_of({f: [*vs, "harmful"]}))).loc[f]
        assert worse.review_status == "confirmed"
        if "harmful" in vs:
            assert r.review_status == "confirmed"
        if r.review_status == "dismissed":
            assert r.correct > r.wrong + r.harmful and r.harmful == 0
