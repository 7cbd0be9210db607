"""One task per (sample, label) and reviews without text, against a real Label Studio server.

* A sample shown by several findings of one label is one task; its verdict counts for each of them, and a
  later finding over the same pair is linked to the existing task, never given a duplicate.
* Samples with no text or image (an audit from the user's own vectors) are pushed as records: the label,
  the groups, the severity, the sample's columns and a link from ``review.link``.
"""

from __future__ import annotations

import json

import pandas as pd
import yaml
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.review.backends.label_studio import labeling_config
from tagscan.review.service import pull, push

MODEL = "pairs-tagger:v1"
runner = CliRunner()


def choice(value: str) -> list[dict]:
    return [{"from_name": "verdict", "to_name": "input", "type": "choices", "value": {"choices": [value]}}]


def shared_findings(review_data):
    """f0000 (skin tone) and f0001 (an intersection inside it) of one label share 2 of their examples."""
    findings, samples = review_data(3, 4)  # 6 samples
    findings = findings.iloc[:2].copy()
    ids = list(samples["sample_id"])
    findings.at[0, "examples"] = ids[0:4]
    findings.at[1, "examples"] = [ids[2], ids[3], ids[4]]
    findings.at[1, "label"] = findings.at[0, "label"]
    findings.at[1, "group"], findings.at[1, "group_description"] = "skin_tone=dark & gender=man", "dark-skinned men"
    return findings, samples, ids


def test_one_task_per_pair_serves_every_finding_and_pushes_stay_idempotent(backend, store, project_title, review_data):
    findings, samples, ids = shared_findings(review_data)
    args = dict(backend=backend, store=store, model_key=MODEL, project_title=project_title, input_kind="text")
    r = push(findings, samples, run_id="run1", **args)
    assert (r.created, r.n_tasks) == (5, 5)  # 7 examples, 5 distinct (sample, label) pairs
    assert backend.task_count(r.project_id) == 5
    assert push(findings, samples, run_id="run1", **args).created == 0  # idempotent
    assert backend.task_count(r.project_id) == 5

    # A later run finds the label on a third group over two reviewed samples and one new one: one new task.
    later = pd.concat([findings, findings.iloc[[0]].assign(
        finding_id="f0009", group="gender=man", group_description="men", examples=[[ids[0], ids[4], ids[5]]]
    )], ignore_index=True)  # fmt: skip
    r2 = push(later, samples, run_id="run2", **args)
    assert (r2.created, r2.already_present, r2.n_tasks) == (1, 5, 6)
    assert backend.task_count(r.project_id) == 6
    links = store.task_findings(r.project_id)
    assert links.groupby("finding_id").size().to_dict() == {"f0000": 4, "f0001": 3, "f0009": 3}
    task_of = {(s, f): t for s, f, t in zip(links["sample_id"], links["finding_id"], links["task_id"])}
    assert task_of[(ids[0], "f0000")] == task_of[(ids[0], "f0009")]  # the same task, linked
    data = {t.id: t.data for t in backend.sdk.tasks.list(project=r.project_id)}
    shared = data[task_of[(ids[2], "f0000")]]
    assert sorted(shared["finding_ids"]) == ["f0000", "f0001"] and "also shown for:" in shared["context"]

    # One answer on a shared task counts for each finding that shows it.
    backend.sdk.annotations.create(id=int(task_of[(ids[2], "f0000")]), result=choice("label wrong and harmful"))
    backend.sdk.annotations.create(id=int(task_of[(ids[0], "f0000")]), result=choice("label correct"))
    out = pull(backend=backend, store=store, model_key=MODEL).set_index("finding_id")
    assert out.loc["f0000", ["harmful", "correct", "n_votes", "n_tasks"]].tolist() == [1, 1, 2, 4]
    assert out.loc["f0001", ["harmful", "correct", "n_votes", "n_tasks"]].tolist() == [1, 0, 1, 3]
    assert out.loc["f0009", ["harmful", "correct", "n_votes", "n_tasks"]].tolist() == [0, 1, 1, 3]
    assert out.loc["f0001", "review_status"] == "confirmed" and out.loc["f0009", "review_status"] == "needs review"
    assert out.loc["f0009", "last_run_id"] == "run2" and out.loc["f0000", "last_run_id"] == "run1"
    assert len(store.verdicts(r.project_id)) == 2  # votes are stored once per task, not per finding


def test_review_push_without_text_sends_records_with_links(tmp_path, write_review_config, backend):
    """A scan from the user's vectors (data.embeddings) over samples without text: push and pull work."""
    cfg_path = write_review_config(tmp_path / "rv", model_prefix="notext", examples_per_finding=3)
    c = yaml.safe_load(cfg_path.read_text())
    samples_path = cfg_path.parent / c["data"]["samples"]
    read, write = ((pd.read_parquet, "to_parquet") if samples_path.suffix == ".parquet" else (pd.read_csv, "to_csv"))
    samples = read(samples_path).drop(columns=["text"])
    getattr(samples, write)(samples_path, index=False)
    assert c["data"]["embeddings"]  # the user's own vectors

    c["review"]["link"] = "https://photos.example/{sample_id}?from={nothing}"
    cfg_path.write_text(yaml.safe_dump(c))
    res = runner.invoke(app, ["-q", "scan", str(cfg_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    findings = pd.DataFrame(json.loads(res.stdout)["findings"])
    res = runner.invoke(app, ["review", "push", str(cfg_path)])
    assert res.exit_code == 2, res.output  # a placeholder naming no column: one line naming key and column
    assert "review.link" in res.stderr and "'nothing'" in res.stderr and len(res.stderr.strip().splitlines()) == 1

    c["review"]["link"] = "https://photos.example/{sample_id}"
    cfg_path.write_text(yaml.safe_dump(c))
    res = runner.invoke(app, ["review", "push", str(cfg_path)])
    assert res.exit_code == 0, res.output
    pid = int(res.stdout.split("project ")[1].split()[0])
    project = backend.sdk.projects.get(id=pid)
    assert project.label_config.strip() == labeling_config("record").strip()
    tasks = list(backend.sdk.tasks.list(project=pid))
    pairs = {(lab, s) for lab, ex in zip(findings["label"], findings["examples"]) for s in ex}
    assert len(tasks) == len(pairs)
    d = tasks[0].data
    assert d["link"] == f"https://photos.example/{d['sample_id']}" and "text" not in d
    attrs = [col for col in samples.columns if col != "sample_id"]
    assert set(d["columns"]) <= set(attrs) and d["columns"]  # the sample's attributes
    assert f'href="https://photos.example/{d["sample_id"]}"' in d["record"] and d["headline"].startswith("Model predicted: ")

    backend.sdk.annotations.create(id=int(tasks[0].id), result=choice("label wrong"))
    res = runner.invoke(app, ["review", "pull", str(cfg_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    pulled = pd.DataFrame(json.loads(res.stdout)).set_index("finding_id")
    assert (pulled["wrong"] >= 1).sum() >= 1 and pulled.loc[d["finding_id"], "wrong"] == 1


def test_tasks_pushed_per_finding_before_stand_for_their_pair(backend, store, project_title, review_data):
    """A workspace pushed before tasks were per (sample, label) holds one task per (finding, sample): the next
    push makes no second task for those pairs, links the other findings to them, and adds only new pairs."""
    from dataclasses import replace

    from tagscan.review.codec import legacy_key, review_items
    from tagscan.review.store import TaskRow

    findings, samples, ids = shared_findings(review_data)
    old = findings.iloc[[0]]  # the old push: f0000's 4 examples, one task each under the old keys
    pid = backend.ensure_project(project_title, input_kind="text")
    store.save_project(MODEL, pid, title=project_title, server_url=backend.url, input_kind="text")
    items = [replace(i, tagscan_key=legacy_key(MODEL, i.finding_id, i.sample_id))
             for i in review_items(old, samples, input_kind="text", model_key=MODEL)]
    got = backend.send_items(pid, items, batch_id="old")
    store.record_tasks(pid, [TaskRow(i.tagscan_key, i.finding_id, i.sample_id, "run0", got[i.tagscan_key]) for i in items])

    r = push(findings, samples, backend=backend, store=store, model_key=MODEL, project_title=project_title,
             input_kind="text", run_id="run1")
    assert (r.created, r.already_present) == (1, 4)  # only ids[4] (f0001's own example) is new
    assert backend.task_count(pid) == 5
    links = store.task_findings(pid)
    assert links.groupby("finding_id").size().to_dict() == {"f0000": 4, "f0001": 3}
    shared = links[(links["sample_id"] == ids[2])]
    assert shared["task_id"].nunique() == 1  # f0001 is served by the old task of f0000
