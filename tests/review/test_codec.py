"""The backend-neutral codec: findings -> review items, answers -> votes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.review.backend import AnnotationRecord, ReviewItem
from tagscan.review.codec import VOTE_COLUMNS, review_items, tagscan_key, votes_from_annotations


def test_tagscan_key_is_stable_and_distinct():
    k = tagscan_key("m:v1", "f1", "s1")
    assert k == tagscan_key("m:v1", "f1", "s1") and len(k) == 40
    assert len({k, tagscan_key("m:v2", "f1", "s1"), tagscan_key("m:v1", "f2", "s1"), tagscan_key("m:v1", "f1", "s2")}) == 4


def test_review_items_one_per_sample_and_label(review_data):
    findings, samples = review_data(3, 4)
    items = review_items(findings, samples, input_kind="text", model_key="m:v1")
    assert len(items) == 12 and all(isinstance(i, ReviewItem) for i in items)
    it = items[0]
    f = findings.iloc[0]
    sid = f["examples"][0]
    assert it.tagscan_key == tagscan_key("m:v1", f["label"], sid)
    assert (it.finding_id, it.sample_id, it.label, it.label_name, it.group, it.group_description) == (
        f["finding_id"], sid, f["label"], f["label_name"], f["group"], f["group_description"]
    )
    assert (it.severity, it.severity_level, it.model_key, it.input_kind) == (f["severity"], "high", "m:v1", "text")
    assert it.input == samples.set_index("sample_id").loc[sid, "text"]
    assert (it.detector, it.watch_category) == ("association", None)
    assert len({i.tagscan_key for i in items}) == 12


def test_review_items_defaults_for_missing_names(review_data):
    findings, samples = review_data(1, 1)
    findings = findings.drop(columns=["label_name", "group_description", "severity_level", "detector"])
    (it,) = review_items(findings, samples, input_kind="text", model_key="m")
    assert (it.label_name, it.group_description, it.severity_level, it.detector) == ("L000", "skin_tone=dark", "", None)


def test_review_items_accept_numpy_examples_and_dedupe(review_data):
    findings, samples = review_data(1, 3)
    ex = list(findings.at[0, "examples"])
    findings.at[0, "examples"] = np.array(ex + [ex[0]], dtype=object)
    items = review_items(findings, samples, input_kind="text", model_key="m")
    assert [i.sample_id for i in items] == ex


def test_review_items_nan_severity_is_none(review_data):
    findings, samples = review_data(1, 2)
    findings["severity"] = np.nan
    assert review_items(findings, samples, input_kind="text", model_key="m")[0].severity is None


def test_review_items_empty_examples(review_data):
    findings, samples = review_data(2, 2)
    findings.at[0, "examples"] = []
    findings.at[1, "examples"] = None
    assert review_items(findings, samples, input_kind="text", model_key="m") == []


def test_review_items_bad_examples(review_data):
    findings, samples = review_data(1, 2)
    findings["examples"] = 7
    with pytest.raises(DataError, match="findings 'examples' must hold lists of sample ids; found int: 7"):
        review_items(findings, samples, input_kind="text", model_key="m")


def test_review_items_unknown_sample(review_data):
    findings, samples = review_data(1, 2)
    findings.at[0, "examples"] = ["nope"]
    with pytest.raises(DataError, match="finding f0000: example sample 'nope' is not in the samples table"):
        review_items(findings, samples, input_kind="text", model_key="m")


def test_review_items_missing_input(review_data):
    findings, samples = review_data(1, 2)
    samples["text"] = None
    with pytest.raises(DataError, match="has no text; every review example needs one"):
        review_items(findings, samples, input_kind="text", model_key="m")


def test_review_items_missing_columns_and_unknown_kind(review_data):
    findings, samples = review_data(1, 2)
    with pytest.raises(DataError, match="findings table lacks the column\\(s\\) examples"):
        review_items(findings.drop(columns=["examples"]), samples, input_kind="text", model_key="m")
    with pytest.raises(DataError, match="samples table needs the columns 'sample_id' and 'image'"):
        review_items(findings, samples, input_kind="image", model_key="m")
    with pytest.raises(DataError, match="input_kind must be one of text, image, record; got 'audio'"):
        review_items(findings, samples, input_kind="audio", model_key="m")


def test_review_items_images_through_image_fn(review_data):
    findings, samples = review_data(1, 2)
    samples["image"] = [f"img_{i}.png" for i in range(len(samples))]
    items = review_items(findings, samples, input_kind="image", model_key="m")
    assert all(i.input.startswith("img_") and i.input_kind == "image" for i in items)
    mapped = review_items(findings, samples, input_kind="image", model_key="m", image_fn=lambda v: "/abs/" + v)
    assert all(i.input.startswith("/abs/img_") for i in mapped)
    text = review_items(findings, samples, input_kind="text", model_key="m", image_fn=lambda v: "X")
    assert all(i.input != "X" for i in text)  # image_fn is for images only


# -- votes ------------------------------------------------------------------------------------


def rec(task, ann, who, when, verdict, cancelled=False, comment=None, key=None):
    return AnnotationRecord(task, key or f"k{task}", "f1", f"s{task}", ann, who, when, cancelled, verdict, comment)


def test_votes_latest_per_annotator_wins_and_all_annotators_count():
    records = [
        rec(1, 10, "1", "2024-01-01T00:00:00Z", "correct"),
        rec(1, 11, "1", "2024-01-02T00:00:00Z", "wrong", comment="changed my mind"),
        rec(1, 12, "2", "2024-01-01T00:00:00Z", "harmful"),
        rec(1, 13, "3", "2024-01-03T00:00:00Z", "unsure", cancelled=True),
        rec(2, 14, "1", "2024-01-05T00:00:00Z", None, comment="no choice"),  # no verdict: no vote
        rec(2, 15, "1", "2024-01-04T00:00:00Z", "correct"),
    ]
    votes = votes_from_annotations(records)
    assert list(votes.columns) == VOTE_COLUMNS
    got = {(r.task_id, r.annotator): (r.verdict, r.comment) for r in votes.itertuples()}
    assert got == {
        (1, "1"): ("wrong", "changed my mind"),
        (1, "2"): ("harmful", None),
        (2, "1"): ("correct", None),
    }


def test_votes_same_timestamp_breaks_ties_by_annotation_id():
    t = "2024-01-01T00:00:00Z"
    records = [rec(1, 21, "1", t, "wrong"), rec(1, 20, "1", t, "correct")]
    assert votes_from_annotations(records)["verdict"].tolist() == ["wrong"]


def test_votes_empty():
    votes = votes_from_annotations([])
    assert votes.empty and list(votes.columns) == VOTE_COLUMNS
    assert isinstance(votes, pd.DataFrame)
