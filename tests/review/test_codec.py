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


def _shared(review_data):
    """Two findings of one label (a group and an intersection inside it) sharing two examples, and a third
    finding of another label over one of those samples."""
    findings, samples = review_data(3, 4)
    ids = list(samples["sample_id"])
    findings.at[0, "examples"] = ids[0:4]
    findings.at[1, "examples"] = [ids[2], ids[3], ids[4]]
    findings.at[1, "label"] = findings.at[0, "label"]
    findings.at[1, "group"], findings.at[1, "group_description"] = "skin_tone=dark & gender=man", "dark-skinned men"
    findings.at[1, "severity"] = 99.0  # the more severe finding names the shared items
    findings.at[2, "examples"] = [ids[0]]
    return findings, samples, ids


def test_one_item_per_sample_and_label_serves_every_finding_that_shows_it(review_data):
    findings, samples, ids = _shared(review_data)
    items = review_items(findings, samples, input_kind="text", model_key="m")
    f0, f1, f2 = findings["finding_id"]
    lab = findings.at[0, "label"]
    assert [(i.sample_id, i.label) for i in items] == [(ids[0], lab), (ids[1], lab), (ids[2], lab), (ids[3], lab),
                                                       (ids[4], lab), (ids[0], findings.at[2, "label"])]
    by = {(i.sample_id, i.label): i for i in items}
    shared = by[(ids[2], lab)]
    assert shared.finding_ids == (f1, f0) and shared.finding_id == f1 and shared.severity == 99.0
    assert shared.groups == ("dark-skinned men", "skin tone: dark")
    assert by[(ids[0], lab)].finding_ids == (f0,) and by[(ids[4], lab)].finding_ids == (f1,)
    assert by[(ids[0], findings.at[2, "label"])].finding_ids == (f2,)  # another label: its own question
    assert shared.tagscan_key == tagscan_key("m", lab, ids[2])
    assert len({i.tagscan_key for i in items}) == 6


def test_record_items_for_samples_without_text_or_image(review_data):
    findings, samples = review_data(1, 2)
    samples = samples.drop(columns=["text"]).assign(city=["Lyon", None, "São Paulo", "Oslo", "Rome"][: len(samples)])
    samples.loc[1, "sample_id"] = "photo 1"
    findings.at[0, "examples"] = ["photo 1", samples["sample_id"].iat[0]]
    with pytest.raises(DataError, match="samples table needs the columns 'sample_id' and 'text'"):
        review_items(findings, samples, input_kind="text", model_key="m")
    a, b = review_items(findings, samples, input_kind="record", model_key="m", link="https://photos.example/{sample_id}?c={city}")
    assert a.input_kind == "record" and a.link == "https://photos.example/photo%201?c=" and b.link.endswith("?c=Lyon")
    assert a.record == (("skin_tone", samples.at[1, "skin_tone"]),)  # a missing value is left out
    assert b.record == (("skin_tone", samples.at[0, "skin_tone"]), ("city", "Lyon"))
    assert b.input == f"skin_tone: {samples.at[0, 'skin_tone']}\ncity: Lyon"
    (c, _) = review_items(findings, samples, input_kind="record", model_key="m", show=["city", "sample_id"])
    assert c.record == (("sample_id", "photo 1"),) and c.link is None
    (t, _) = review_items(findings, samples.assign(text="x"), input_kind="text", model_key="m", link="u/{sample_id}")
    assert t.input == "x" and t.link == "u/photo%201"  # text items carry the link too


def test_link_or_show_naming_a_missing_column_is_a_config_error(review_data):
    from tagscan.errors import ConfigError

    findings, samples = review_data(1, 2)
    with pytest.raises(ConfigError, match=r"review\.link 'https://x/\{photo\}' names the column 'photo', which the samples table does not have"):
        review_items(findings, samples, input_kind="record", model_key="m", link="https://x/{photo}")
    with pytest.raises(ConfigError, match=r"review\.show lists 'tone', which is not a column of the samples table"):
        review_items(findings, samples, input_kind="record", model_key="m", show=["tone"])
