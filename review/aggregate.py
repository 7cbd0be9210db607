"""Pure aggregation of reviewers' votes into one review status per finding.

Input: the votes table of :func:`tagscan.review.codec.votes_from_annotations` (one row per task and
annotator: ``finding_id``, ``sample_id``, ``verdict`` in correct/wrong/harmful/unsure). Output: one row
per finding with :data:`REVIEW_COLUMNS`.

Policies (each named, none accidental)
--------------------------------------
* **Votes, not samples, are counted.** Every annotator's vote on every example counts once; ``n_reviewed``
  is the number of distinct examples with at least one vote. With several annotators per example the
  votes are not independent, so the interval is optimistic; tagscan pushes each example once and Label
  Studio's default is one annotation per task.
* **Share judged wrong** = (wrong + harmful) / (correct + wrong + harmful): "unsure" votes are left out of
  the denominator (they say nothing about the label). With no decided vote it is NaN and its Wilson
  interval is the uninformative (0, 1).
* **A verdict is one reviewer's.** Several votes of one reviewer on a finding's examples are not
  independent evidence that the association is benign: they share that reviewer's reading of the label
  (what one person finds unremarkable another may find degrading), which no number of examples averages
  out. So the votes count for the share and its interval (they do sample different examples), but the
  number of *verdicts* a dismissal needs counts distinct reviewers with a decided vote (votes without an
  annotator count for the share only).
* **Status** (asymmetric on purpose: wrongly dismissing a harmful association hides it from every later
  scan, wrongly confirming one costs a second look):

  - ``confirmed`` if any vote says "label wrong and harmful", or the wrong + harmful votes outnumber the
    "label correct" votes (a strict majority of the decided votes);
  - ``dismissed`` (a benign association) only on enough evidence: no harmful vote, at least
    ``min_verdicts`` distinct reviewers with a decided vote, and the upper bound of the Wilson interval
    (``confidence``, 95% by default) of the share judged wrong below ``dismiss_max_wrong``. With the
    defaults (3 reviewers, 0.35) that takes at least 8 decided votes, all "label correct" (the bound of
    0 wrong in n is z^2 / (n + z^2): 0.32 at n = 8, one push at the default examples_per_finding), or more
    with a few "wrong" ones: 2-to-1 for "correct" (bound 0.79) or one reviewer's votes alone never dismiss;
  - ``needs review`` otherwise: no votes, only "unsure", a tie, or too little evidence to dismiss.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tagscan.scan.stats import wilson_interval

__all__ = ["REVIEW_COLUMNS", "REVIEW_STATUSES", "aggregate_votes"]

REVIEW_STATUSES = ("confirmed", "dismissed", "needs review")
REVIEW_COLUMNS = [
    "finding_id",
    "n_reviewed",
    "n_votes",
    "correct",
    "wrong",
    "harmful",
    "unsure",
    "share_wrong",
    "share_wrong_low",
    "share_wrong_high",
    "review_status",
    "last_reviewed_at",
]
_COUNTS = ["correct", "wrong", "harmful", "unsure"]


def aggregate_votes(
    votes: pd.DataFrame,
    *,
    finding_ids: Iterable[str] | None = None,
    min_verdicts: int = 3,
    dismiss_max_wrong: float = 0.35,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per-finding verdict counts, share judged wrong with its Wilson interval, and review status.

    ``finding_ids`` lists findings to report even without votes (status ``needs review``); findings
    that only appear in ``votes`` are reported too. Rows are sorted by status (confirmed first), then
    share judged wrong (descending) and finding id. ``min_verdicts`` (distinct reviewers a dismissal needs,
    ``review.min_verdicts``) must be >= 1; ``dismiss_max_wrong`` (``review.dismiss_max_wrong``) in (0, 1).
    """
    if min_verdicts < 1:
        raise ValueError(f"min_verdicts must be >= 1; got {min_verdicts} (review.min_verdicts)")
    if not 0.0 < dismiss_max_wrong < 1.0:
        raise ValueError(f"dismiss_max_wrong must be in (0, 1); got {dismiss_max_wrong} (review.dismiss_max_wrong)")
    missing = {"finding_id", "sample_id", "annotator", "verdict"} - set(votes.columns)
    if missing:
        raise ValueError(f"votes lacks the column(s) {', '.join(sorted(missing))}")
    unknown = set(votes["verdict"].dropna().unique()) - set(_COUNTS)
    if unknown:
        raise ValueError(f"unknown verdict(s) {sorted(unknown)}; expected one of {', '.join(_COUNTS)}")
    v = votes[votes["verdict"].notna()]

    counts = pd.crosstab(v["finding_id"], v["verdict"]) if len(v) else pd.DataFrame()
    counts = counts.reindex(columns=_COUNTS, fill_value=0)
    known = [] if finding_ids is None else [str(f) for f in finding_ids]  # an array has no truth value
    ids = list(dict.fromkeys([*known, *counts.index.astype(str)]))
    counts.index = counts.index.astype(str)
    counts = counts.reindex(ids, fill_value=0).astype(np.int64)

    out = pd.DataFrame({"finding_id": ids})
    for c in _COUNTS:
        out[c] = counts[c].to_numpy()
    out["n_votes"] = out[_COUNTS].sum(axis=1).astype(np.int64)
    if len(v):
        reviewed = v.groupby(v["finding_id"].astype(str))["sample_id"].nunique()
        d = v[v["verdict"] != "unsure"]
        reviewers = d.groupby(d["finding_id"].astype(str))["annotator"].nunique()  # NaN annotators not counted
        last = (
            v.groupby(v["finding_id"].astype(str))["updated_at"].max()
            if "updated_at" in v.columns
            else pd.Series(dtype=object)
        )
    else:
        reviewed = reviewers = pd.Series(dtype=np.int64)
        last = pd.Series(dtype=object)
    out["n_reviewed"] = out["finding_id"].map(reviewed).fillna(0).astype(np.int64)
    out["last_reviewed_at"] = out["finding_id"].map(last).astype(object)
    out["last_reviewed_at"] = out["last_reviewed_at"].where(out["last_reviewed_at"].notna(), None)

    bad = (out["wrong"] + out["harmful"]).to_numpy()
    decided = bad + out["correct"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_wrong"] = np.where(decided > 0, bad / np.maximum(decided, 1), np.nan)
    low, high = wilson_interval(bad, decided, confidence=confidence)
    # exact bounds at the edges (the closed form leaves ~1e-17 of round-off at x = 0)
    low = np.where(bad == 0, 0.0, low)
    high = np.where((bad == decided) & (decided > 0), 1.0, high)
    out["share_wrong_low"] = low
    out["share_wrong_high"] = high

    correct = out["correct"].to_numpy()
    harmful = out["harmful"].to_numpy()
    confirmed = (harmful > 0) | (bad > correct)
    n_reviewers = out["finding_id"].map(reviewers).fillna(0).to_numpy(dtype=np.int64)
    dismissed = (harmful == 0) & ~confirmed & (n_reviewers >= min_verdicts) & (decided > 0) & (high < dismiss_max_wrong)
    out["review_status"] = np.select([confirmed, dismissed], ["confirmed", "dismissed"], "needs review")

    rank = out["review_status"].map({s: i for i, s in enumerate(REVIEW_STATUSES)})
    out = (
        out.assign(_rank=rank, _share=out["share_wrong"].fillna(-1.0))
        .sort_values(["_rank", "_share", "finding_id"], ascending=[True, False, True], kind="mergesort")
        .drop(columns=["_rank", "_share"])
        .reset_index(drop=True)
    )
    return out[REVIEW_COLUMNS]
