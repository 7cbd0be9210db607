"""The pure codec: labeling config, findings -> tasks, annotations -> verdicts and votes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.review.backend import AnnotationRecord
from tagscan.review.codec import (
    VOTE_COLUMNS,
    Verdict,
    finding_to_tasks,
    labeling_config,
    parse_annotation,
    tagscan_key,
    votes_from_annotations,
)

CHOICES = ["label correct", "label wrong", "label wrong and harmful", "unsure"]


def choices_result(*choices: str, comment: str | None = None) -> list[dict]:
    res = [{"from_name": "verdict", "to_name": "input", "type": "choices", "value": {"choices": list(choices)}}]
    if comment is not None:
        res.append({"from_name": "comment", "to_name": "input", "type": "textarea", "value": {"text": [comment]}})
    return res


@pytest.mark.parametrize("kind,tag,field", [("text", "Text", "$text"), ("image", "Image", "$image")])
def test_labeling_config_parses_and_has_the_four_choices(kind, tag, field):
    root = ET.fromstring(labeling_config(kind))
    assert root.tag == "View"
    inputs = [e for e in root.iter(tag) if e.get("name") == "input"]
    assert len(inputs) == 1 and inputs[0].get("value") == field
    (choices,) = list(root.iter("Choices"))
    assert choices.get("name") == "verdict" and choices.get("toName") == "input"
    assert choices.get("required") == "true" and choices.get("choice") == "single-radio"
    assert [c.get("value") for c in choices.iter("Choice")] == CHOICES
    (comment,) = list(root.iter("TextArea"))
    assert comment.get("name") == "comment" and comment.get("toName") == "input"
    shown = {e.get("value") for e in root.iter() if e.tag in ("Header", "Text")}
    assert {"$headline", "$context"} <= shown


def test_labeling_config_rejects_unknown_kind():
    with pytest.raises(DataError, match="input_kind must be one of text, image; got 'audio'"):
        labeling_config("audio")


def test_tagscan_key_is_stable_and_distinct():
    k = tagscan_key("m:v1", "f1", "s1")
    assert k == tagscan_key("m:v1", "f1", "s1") and len(k) == 40
    assert len({k, tagscan_key("m:v2", "f1", "s1"), tagscan_key("m:v1", "f2", "s1"), tagscan_key("m:v1", "f1", "s2")}) == 4


def test_finding_to_tasks_one_task_per_example(review_data):
    findings, samples = review_data(3, 4)
    tasks = finding_to_tasks(findings, samples, input_kind="text", model_key="m:v1")
    assert len(tasks) == 12
    t = tasks[0]
    d = t["data"]
    f = findings.iloc[0]
    sid = f["examples"][0]
    assert d["tagscan_key"] == tagscan_key("m:v1", f["finding_id"], sid)
    assert (d["finding_id"], d["sample_id"], d["label"], d["label_name"], d["group"]) == (
        f["finding_id"], sid, f["label"], f["label_name"], f["group"]
    )
    assert d["severity"] == f["severity"] and d["severity_level"] == "high"
    assert d["text"] == samples.set_index("sample_id").loc[sid, "text"]
    assert "label 0" in d["headline"] and "L000" in d["headline"]
    assert "skin tone: dark" in d["context"] and "severity" in d["context"]
    (pred,) = t["predictions"]
    assert pred == {"model_version": "m:v1", "score": f["severity"] / 100, "result": []}
    assert len({t["data"]["tagscan_key"] for t in tasks}) == 12


def test_finding_to_tasks_accepts_numpy_examples_and_dedupes(review_data):
    findings, samples = review_data(1, 3)
    ex = list(findings.at[0, "examples"])
    findings.at[0, "examples"] = np.array(ex + [ex[0]], dtype=object)
    tasks = finding_to_tasks(findings, samples, input_kind="text", model_key="m")
    assert [t["data"]["sample_id"] for t in tasks] == ex


def test_finding_to_tasks_nan_severity_gives_no_score(review_data):
    findings, samples = review_data(1, 2)
    findings["severity"] = np.nan
    tasks = finding_to_tasks(findings, samples, input_kind="text", model_key="m")
    assert tasks[0]["predictions"][0]["score"] is None and tasks[0]["data"]["severity"] is None


def test_finding_to_tasks_empty_examples(review_data):
    findings, samples = review_data(2, 2)
    findings.at[0, "examples"] = []
    findings.at[1, "examples"] = None
    assert finding_to_tasks(findings, samples, input_kind="text", model_key="m") == []


def test_finding_to_tasks_unknown_sample(review_data):
    findings, samples = review_data(1, 2)
    findings.at[0, "examples"] = ["nope"]
    with pytest.raises(DataError, match="finding f0000: example sample 'nope' is not in the samples table"):
        finding_to_tasks(findings, samples, input_kind="text", model_key="m")


def test_finding_to_tasks_missing_input(review_data):
    findings, samples = review_data(1, 2)
    samples["text"] = None
    with pytest.raises(DataError, match="has no text; every review example needs one"):
        finding_to_tasks(findings, samples, input_kind="text", model_key="m")


def test_finding_to_tasks_missing_columns(review_data):
    findings, samples = review_data(1, 2)
    with pytest.raises(DataError, match="findings table lacks the column\\(s\\) examples"):
        finding_to_tasks(findings.drop(columns=["examples"]), samples, input_kind="text", model_key="m")
    with pytest.raises(DataError, match="samples table needs the columns 'sample_id' and 'image'"):
        finding_to_tasks(findings, samples, input_kind="image", model_key="m")


def test_finding_to_tasks_images(review_data):
    findings, samples = review_data(1, 2)
    samples["image"] = [f"https://example.org/{i}.jpg" for i in range(len(samples))]
    tasks = finding_to_tasks(findings, samples, input_kind="image", model_key="m")
    assert all(t["data"]["image"].startswith("https://example.org/") for t in tasks)
    assert "text" not in tasks[0]["data"]
    mapped = finding_to_tasks(findings, samples, input_kind="image", model_key="m", image_url_fn=lambda v: "X" + v)
    assert mapped[0]["data"]["image"].startswith("Xhttps://")
    samples["image"] = "/local/a.jpg"
    with pytest.raises(DataError, match="is a local path and no image_url_fn was given"):
        finding_to_tasks(findings, samples, input_kind="image", model_key="m")


# -- parse_annotation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "choice,verdict",
    [("label correct", "correct"), ("label wrong", "wrong"), ("label wrong and harmful", "harmful"), ("unsure", "unsure")],
)
def test_parse_each_choice(choice, verdict):
    assert parse_annotation(choices_result(choice)) == Verdict(verdict)
    assert parse_annotation({"result": choices_result(choice), "was_cancelled": False}) == Verdict(verdict)


def test_parse_comment_and_spacing():
    v = parse_annotation(choices_result("  Label   WRONG ", comment=" offensive here "))
    assert v == Verdict("wrong", "offensive here")


def test_parse_missing_choice_is_no_verdict():
    assert parse_annotation([]) == Verdict(None)
    assert parse_annotation(None) == Verdict(None)
    only_comment = [{"from_name": "comment", "type": "textarea", "value": {"text": ["hmm"]}}]
    assert parse_annotation(only_comment) == Verdict(None, "hmm")
    assert parse_annotation(choices_result()) == Verdict(None)


def test_parse_cancelled_never_votes():
    v = parse_annotation({"result": choices_result("label wrong"), "was_cancelled": True})
    assert v.verdict is None and v.cancelled


def test_parse_unknown_choice_is_ignored(caplog):
    assert parse_annotation(choices_result("maybe")) == Verdict(None)
    assert "unknown review choice 'maybe'" in caplog.text


def test_parse_contradictory_choices():
    assert parse_annotation(choices_result("label correct", "label wrong")).verdict == "unsure"
    assert parse_annotation(choices_result("label wrong", "label wrong and harmful")).verdict == "harmful"
    assert parse_annotation(choices_result("unsure", "label wrong")).verdict == "wrong"


def test_parse_ignores_junk_items():
    assert parse_annotation(["junk", {"type": "rating", "value": {"rating": 3}}, *choices_result("unsure")]).verdict == "unsure"


# -- votes ------------------------------------------------------------------------------------


def rec(task, ann, who, when, result, cancelled=False, key=None):
    return AnnotationRecord(task, key or f"k{task}", "f1", f"s{task}", ann, who, when, cancelled, result)


def test_votes_latest_per_annotator_wins_and_all_annotators_count():
    records = [
        rec(1, 10, "1", "2024-01-01T00:00:00Z", choices_result("label correct")),
        rec(1, 11, "1", "2024-01-02T00:00:00Z", choices_result("label wrong", comment="changed my mind")),
        rec(1, 12, "2", "2024-01-01T00:00:00Z", choices_result("label wrong and harmful")),
        rec(1, 13, "3", "2024-01-03T00:00:00Z", choices_result("unsure"), cancelled=True),
        rec(2, 14, "1", "2024-01-05T00:00:00Z", []),  # no choice: no vote
        rec(2, 15, "1", "2024-01-04T00:00:00Z", choices_result("label correct")),
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
    records = [rec(1, 21, "1", t, choices_result("label wrong")), rec(1, 20, "1", t, choices_result("label correct"))]
    assert votes_from_annotations(records)["verdict"].tolist() == ["wrong"]


def test_votes_empty():
    votes = votes_from_annotations([])
    assert votes.empty and list(votes.columns) == VOTE_COLUMNS
    assert isinstance(votes, pd.DataFrame)
