"""The pure Label Studio codec: labeling config, review items -> tasks, annotations -> verdicts and records."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tagscan.errors import DataError
from tagscan.review.backends.label_studio.codec import (
    BATCH_FIELD,
    annotation_records,
    labeling_config,
    parse_annotation,
    task_payloads,
)
from tagscan.review.codec import Verdict, review_items, votes_from_annotations

CHOICES = ["label correct", "label wrong", "label wrong and harmful", "unsure"]


def choices_result(*choices: str, comment: str | None = None) -> list[dict]:
    res = [{"from_name": "verdict", "to_name": "input", "type": "choices", "value": {"choices": list(choices)}}]
    if comment is not None:
        res.append({"from_name": "comment", "to_name": "input", "type": "textarea", "value": {"text": [comment]}})
    return res


def tasks_of(findings, samples, *, input_kind="text", model_key="m", **kw):
    return task_payloads(review_items(findings, samples, input_kind=input_kind, model_key=model_key), **kw)


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
    with pytest.raises(DataError, match="input_kind must be one of text, image, record; got 'audio'"):
        labeling_config("audio")


def test_one_task_per_item(review_data):
    findings, samples = review_data(3, 4)
    tasks = tasks_of(findings, samples, model_key="m:v1")
    assert len(tasks) == 12
    t = tasks[0]
    d = t["data"]
    f = findings.iloc[0]
    sid = f["examples"][0]
    assert list(d) == [
        "tagscan_key", "finding_id", "sample_id", "label", "label_name", "group", "group_description",
        "severity", "severity_level", "headline", "context", "text", "finding_ids", "columns", "detector",
    ]
    assert d["finding_ids"] == [f["finding_id"]]
    assert d["columns"] == {"skin_tone": samples.set_index("sample_id").loc[sid, "skin_tone"]}
    assert (d["finding_id"], d["sample_id"], d["label"], d["label_name"], d["group"]) == (
        f["finding_id"], sid, f["label"], f["label_name"], f["group"]
    )
    assert d["severity"] == f["severity"] and d["severity_level"] == "high" and d["detector"] == "association"
    assert d["text"] == samples.set_index("sample_id").loc[sid, "text"]
    assert d["headline"] == "Model predicted: label 0 (L000)"
    assert d["context"] == f"Group: skin tone: dark [skin_tone=dark] · severity {f['severity']:.0f} (high)"
    (pred,) = t["predictions"]
    assert pred == {"model_version": "m:v1", "score": f["severity"] / 100, "result": []}
    assert len({t["data"]["tagscan_key"] for t in tasks}) == 12


def test_batch_marker_is_the_last_data_field(review_data):
    findings, samples = review_data(1, 2)
    tasks = tasks_of(findings, samples, batch_id="b1")
    assert all(list(t["data"])[-1] == BATCH_FIELD and t["data"][BATCH_FIELD] == "b1" for t in tasks)
    assert BATCH_FIELD not in tasks_of(findings, samples)[0]["data"]


def test_nan_severity_gives_no_score(review_data):
    findings, samples = review_data(1, 2)
    findings["severity"] = np.nan
    tasks = tasks_of(findings, samples)
    assert tasks[0]["predictions"][0]["score"] is None and tasks[0]["data"]["severity"] is None
    assert "severity" not in tasks[0]["data"]["context"]


def test_images(review_data):
    findings, samples = review_data(1, 2)
    samples["image"] = [f"https://example.org/{i}.jpg" for i in range(len(samples))]
    tasks = tasks_of(findings, samples, input_kind="image")
    assert all(t["data"]["image"].startswith("https://example.org/") for t in tasks)
    assert "text" not in tasks[0]["data"]
    mapped = tasks_of(findings, samples, input_kind="image", image_url_fn=lambda v: "X" + v)
    assert mapped[0]["data"]["image"].startswith("Xhttps://")
    samples["image"] = "/local/a.jpg"
    with pytest.raises(DataError, match="is a local path and no image_url_fn was given"):
        tasks_of(findings, samples, input_kind="image")


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


# -- the export -> records -> votes -------------------------------------------------------------


def ann(aid, who, when, result, cancelled=False):
    return {"id": aid, "completed_by": who, "updated_at": when, "was_cancelled": cancelled, "result": result}


def test_annotation_records_from_an_export():
    export = [
        {
            "id": 1,
            "data": {"tagscan_key": "k1", "finding_id": "f1", "sample_id": "s1"},
            "annotations": [
                ann(10, 1, "2024-01-01T00:00:00Z", choices_result("label correct")),
                ann(11, {"id": 1, "email": "a@x"}, "2024-01-02T00:00:00Z", choices_result("label wrong", comment="changed my mind")),
                ann(12, {"email": "b@x"}, "2024-01-01T00:00:00Z", choices_result("label wrong and harmful")),
                ann(13, 3, "2024-01-03T00:00:00Z", choices_result("unsure"), cancelled=True),
            ],
        },
        {
            "id": 2,
            "data": {"tagscan_key": "k2", "finding_id": "f1", "sample_id": 7},
            "annotations": [
                ann(14, 1, "2024-01-05T00:00:00Z", []),  # no choice: no vote
                {"id": 15, "completed_by": 1, "created_at": "2024-01-04T00:00:00Z", "result": choices_result("label correct")},
            ],
        },
        {"id": 3, "data": {"text": "not tagscan's"}, "annotations": []},
    ]
    records = annotation_records(export)
    assert [(r.task_id, r.annotation_id, r.annotator, r.verdict, r.cancelled) for r in records] == [
        (1, 10, "1", "correct", False),
        (1, 11, "1", "wrong", False),
        (1, 12, "b@x", "harmful", False),
        (1, 13, "3", None, True),
        (2, 14, "1", None, False),
        (2, 15, "1", "correct", False),
    ]
    assert records[1].comment == "changed my mind" and records[4].sample_id == "7"
    assert records[5].updated_at == "2024-01-04T00:00:00Z"
    got = {(r.task_id, r.annotator): (r.verdict, r.comment) for r in votes_from_annotations(records).itertuples()}
    assert got == {(1, "1"): ("wrong", "changed my mind"), (1, "b@x"): ("harmful", None), (2, "1"): ("correct", None)}


def test_record_tasks_show_the_link_and_columns_escaped(review_data):
    from tagscan.review.codec import review_items

    findings, samples = review_data(2, 2)
    samples = samples.drop(columns=["text"]).assign(note="<b>x</b> & y")
    findings.at[1, "examples"] = list(findings.at[0, "examples"])
    findings.at[1, "label"] = findings.at[0, "label"]
    findings.at[1, "group_description"] = "dark-skinned men"
    items = review_items(findings, samples, input_kind="record", model_key="m", link="https://photos.example/{sample_id}")
    assert len(items) == 2
    t = task_payloads(items)[0]
    d = t["data"]
    sid = items[0].sample_id
    assert d["link"] == f"https://photos.example/{sid}" and d["columns"]["note"] == "<b>x</b> & y"
    assert f'<a href="https://photos.example/{sid}" target="_blank"' in d["record"]
    assert "<td>&lt;b&gt;x&lt;/b&gt; &amp; y</td>" in d["record"] and "<b>x</b>" not in d["record"]
    assert d["finding_ids"] == list(findings["finding_id"])
    assert d["context"].endswith("· also shown for: dark-skinned men")
    cfg = labeling_config("record")
    assert '<HyperText name="input" value="$record" inline="true"' in cfg and 'toName="input"' in cfg
