"""Votes -> per-finding statuses, without a server."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagscan.review.aggregate import REVIEW_COLUMNS
from tagscan.review.aggregate import aggregate_votes as _aggregate_votes
from tagscan.scan.stats import wilson_interval

# The rule's arithmetic is tested at a bound of 0.2 (16 unanimous votes); the shipped default is tested apart.
aggregate_votes = functools.partial(_aggregate_votes, dismiss_max_wrong=0.2)


def votes_of(spec: dict[str, list[str]], *, when: str = "2024-01-01T00:00:00Z", reviewers: int = 1) -> pd.DataFrame:
    """{finding: [verdict per example]} -> a votes table; the examples are shared round-robin among
    ``reviewers`` annotators (one by default)."""
    rows = [
        {"finding_id": f, "sample_id": f"{f}-s{i}", "annotator": str(i % reviewers), "verdict": v, "updated_at": when}
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
                    "benign": ["correct"] * 20,  # Wilson bound on "wrong" 0.16 < 0.2, from 3 reviewers
                    "fewbenign": ["correct", "correct", "correct", "wrong"],  # bound 0.70: not enough to dismiss
                    "tie": ["correct", "wrong", "unsure"],
                    "unsure": ["unsure", "unsure"],
                },
                reviewers=3,
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
    assert (r.n_reviewed, r.n_votes) == (2, 3)
    assert r.review_status == "needs review"  # 2 reviewers, 3 votes: too little evidence to dismiss
    r = by_id(aggregate_votes(v, min_verdicts=2, dismiss_max_wrong=0.6)).loc["f"]
    assert (r.share_wrong_high, r.review_status) == (pytest.approx(float(wilson_interval(0, 3)[1])), "dismissed")


def test_two_to_one_for_correct_is_not_a_dismissal():
    """The issue's case: 2 "correct" to 1 "wrong" from three reviewers leaves the share judged wrong
    anywhere up to 0.79 (Wilson 95%): not evidence that the association is benign."""
    r = by_id(aggregate_votes(votes_of({"f": ["correct", "correct", "wrong"]}, reviewers=3))).loc["f"]
    assert r.share_wrong_high == pytest.approx(0.7923, abs=1e-4)
    assert r.review_status == "needs review"


def test_one_reviewers_votes_are_one_verdict():
    """Several votes of one reviewer share that reviewer's reading of the label: however many examples
    they judge, they are one verdict, and a dismissal needs review.min_verdicts reviewers."""
    one = by_id(aggregate_votes(votes_of({"three": ["correct"] * 3, "many": ["correct"] * 40}))).loc[:, "review_status"]
    assert one.to_dict() == {"three": "needs review", "many": "needs review"}  # "many": bound 0.088, one reviewer
    three = by_id(aggregate_votes(votes_of({"many": ["correct"] * 40}, reviewers=3))).loc["many"]
    assert three.review_status == "dismissed"
    # A reviewer who only said "unsure" gave no verdict.
    v = votes_of({"f": ["correct"] * 40}, reviewers=2)
    v = pd.concat([v, pd.DataFrame([{"finding_id": "f", "sample_id": "f-s0", "annotator": "x", "verdict": "unsure"}])])
    assert aggregate_votes(v)["review_status"].tolist() == ["needs review"]
    assert aggregate_votes(v, min_verdicts=2)["review_status"].tolist() == ["dismissed"]
    # Votes without an annotator count for the share, not as reviewers.
    v = votes_of({"f": ["correct"] * 40}, reviewers=2).assign(annotator=None)
    assert aggregate_votes(v, min_verdicts=1)["review_status"].tolist() == ["needs review"]


def test_dismissal_threshold_is_the_wilson_upper_bound():
    """All "correct" from 3 reviewers: 15 votes leave a bound of 0.204 on "wrong", 16 votes 0.194 (< 0.2)."""
    out = by_id(aggregate_votes(votes_of({"n15": ["correct"] * 15, "n16": ["correct"] * 16}, reviewers=3)))
    assert out.loc["n15", "share_wrong_high"] > 0.2 > out.loc["n16", "share_wrong_high"]
    assert out["review_status"].to_dict() == {"n16": "dismissed", "n15": "needs review"}
    # One "wrong" among 30: bound 0.167, dismissed; at dismiss_max_wrong 0.15 it needs review.
    v = votes_of({"f": ["wrong"] + ["correct"] * 29}, reviewers=3)
    assert aggregate_votes(v)["review_status"].tolist() == ["dismissed"]
    assert aggregate_votes(v, dismiss_max_wrong=0.15)["review_status"].tolist() == ["needs review"]


def test_dismissal_settings_are_checked():
    v = votes_of({"f": ["correct"]})
    with pytest.raises(ValueError, match="min_verdicts must be >= 1; got 0 \\(review.min_verdicts\\)"):
        aggregate_votes(v, min_verdicts=0)
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="dismiss_max_wrong must be in \\(0, 1\\)"):
            aggregate_votes(v, dismiss_max_wrong=bad)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown verdict\\(s\\) \\['maybe'\\]"):
        aggregate_votes(votes_of({"f": ["maybe"]}))
    with pytest.raises(ValueError, match="votes lacks the column\\(s\\) annotator, verdict"):
        aggregate_votes(pd.DataFrame({"finding_id": [], "sample_id": []}))


def test_empty():
    out = aggregate_votes(votes_of({}))
    assert out.empty and list(out.columns) == REVIEW_COLUMNS
    out = aggregate_votes(votes_of({}), finding_ids=["a", "b"])
    assert out["review_status"].tolist() == ["needs review", "needs review"]


def test_order_confirmed_first():
    out = aggregate_votes(
        votes_of({"d": ["correct"] * 16, "c": ["wrong"], "n": ["unsure"], "c2": ["wrong", "correct", "wrong"]}, reviewers=3)
    )
    assert out["finding_id"].tolist() == ["c", "c2", "d", "n"]


verdict = st.sampled_from(["correct", "wrong", "harmful", "unsure"])


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.sampled_from(list("abcdef")), st.lists(verdict, min_size=1, max_size=40), max_size=6),
    st.integers(1, 4),
    st.randoms(),
)
def test_properties(spec, reviewers, rnd):
    v = votes_of(spec, reviewers=reviewers)
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
        worse = by_id(aggregate_votes(votes_of({f: [*vs, "harmful"]}, reviewers=reviewers))).loc[f]
        assert worse.review_status == "confirmed"
        if "harmful" in vs:
            assert r.review_status == "confirmed"
        if r.review_status == "dismissed":  # only on enough evidence
            assert r.correct > r.wrong + r.harmful and r.harmful == 0
            assert r.share_wrong_high < 0.2
            decided = v[(v["finding_id"] == f) & (v["verdict"] != "unsure")]
            assert decided["annotator"].nunique() >= 3


def test_the_default_bound_lets_one_push_of_eight_examples_dismiss():
    """review.examples_per_finding is 8 by default: 8 unanimous "correct" verdicts from 3 reviewers leave a bound of
    0.32 on "wrong", under the default 0.35, so the default setup can dismiss; 7 (bound 0.35) cannot, and neither
    can a 2-to-1 vote or one reviewer's votes."""
    out = by_id(_aggregate_votes(votes_of({"e8": ["correct"] * 8, "e7": ["correct"] * 7}, reviewers=3)))
    assert out.loc["e8", "share_wrong_high"] < 0.35 <= out.loc["e7", "share_wrong_high"]
    assert out["review_status"].to_dict() == {"e8": "dismissed", "e7": "needs review"}
    two_to_one = by_id(_aggregate_votes(votes_of({"f": ["correct", "correct", "wrong"]}, reviewers=3))).loc["f"]
    assert two_to_one["review_status"] == "needs review"
    alone = by_id(_aggregate_votes(votes_of({"f": ["correct"] * 8}))).loc["f"]
    assert alone["review_status"] == "needs review"
