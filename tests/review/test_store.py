"""The review tables: project records, the import journal, verdict snapshots; all without a server."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.review.store import ReviewStore, TaskRow
from tagscan.runs import Workspace


def rows(n: int, run: str = "r1") -> list[TaskRow]:
    return [TaskRow(f"k{i}", f"f{i % 2}", f"s{i}", run) for i in range(n)]


def test_tables_live_beside_the_workspace_catalogue(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ReviewStore(ws.db_path)
    with sqlite3.connect(ws.db_path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "findings", "review_projects", "review_tasks", "review_pending", "review_verdicts", "review_findings"} <= names
    Workspace(tmp_path / "ws")  # and reopening either side is harmless
    ReviewStore(ws.db_path)


def test_unwritable_location(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot open the review tables"):
        ReviewStore(blocker / "sub" / "tagscan.sqlite")


def test_projects(store):
    assert store.project("m") is None
    store.save_project("m", 7, title="t", server_url="http://x", input_kind="text")
    p = store.project("m")
    assert (p.project_id, p.title, p.server_url, p.input_kind) == (7, "t", "http://x", "text")
    assert store.project_by_id(7) == p and store.project_by_id(8) is None


def test_journal_finish_records_found_and_forgets_the_rest(store):
    store.begin_batch(1, "b1", rows(4))
    assert list(store.pending_batches(1)) == ["b1"] and len(store.pending_batches(1)["b1"]) == 4
    assert store.pending_batches(2) == {}
    added = store.finish_batch(1, "b1", {"k0": 100, "k2": 102})
    assert added == 2
    assert store.task_ids(1) == {"k0": 100, "k2": 102}
    assert store.pending_batches(1) == {}
    t = store.tasks(1).set_index("tagscan_key")
    assert t.loc["k2", "finding_id"] == "f0" and t.loc["k2", "sample_id"] == "s2" and t.loc["k2", "run_id"] == "r1"


def test_record_tasks_ignores_known_keys_and_drop(store):
    assert store.record_tasks(1, [TaskRow("a", "f", "s", None, 1), TaskRow("b", "f", "t", None, 2)]) == 2
    assert store.record_tasks(1, [TaskRow("a", "f", "s", None, 9), TaskRow("c", "f", "u", None, None)]) == 0
    assert store.task_ids(1) == {"a": 1, "b": 2}
    store.drop_tasks(1, ["a"])
    assert store.task_ids(1) == {"b": 2}


def test_forget_project_keeps_verdicts(store):
    store.save_project("m", 1, title="t", server_url="u", input_kind="text")
    store.record_tasks(1, [TaskRow("a", "f", "s", "r", 5)])
    store.begin_batch(1, "b", rows(1))
    votes = pd.DataFrame(
        [{"task_id": 5, "tagscan_key": "a", "finding_id": "f", "sample_id": "s", "annotator": "1",
          "annotation_id": 3, "updated_at": "t", "verdict": "wrong", "comment": None}]
    )
    store.save_review("m", 1, votes, summary_of("f"))
    store.forget_project("m")
    assert store.project("m") is None and store.task_ids(1) == {} and store.pending_batches(1) == {}
    assert len(store.verdicts()) == 1 and len(store.finding_reviews("m")) == 1
    store.forget_project("unknown")


def summary_of(*fids: str, status: str = "confirmed") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"finding_id": f, "n_tasks": 1, "n_reviewed": 1, "n_votes": 1, "correct": 0, "wrong": 1, "harmful": 0,
             "unsure": 0, "share_wrong": 1.0, "share_wrong_low": 0.2, "share_wrong_high": 1.0,
             "review_status": status, "last_reviewed_at": "t", "last_run_id": "r"}
            for f in fids
        ]
    )


def test_save_review_replaces_and_is_atomic(store):
    votes = pd.DataFrame(
        [{"task_id": 5, "tagscan_key": "a", "finding_id": "f", "sample_id": "s", "annotator": "1",
          "annotation_id": 3, "updated_at": "t", "verdict": "wrong", "comment": np.nan}]
    )
    store.save_review("m", 1, votes, summary_of("f", "g"))
    assert store.verdicts(1)["comment"].isna().all()
    assert sorted(store.finding_reviews("m")["finding_id"]) == ["f", "g"]
    store.save_review("m", 1, votes.iloc[:0], summary_of("f", status="dismissed"))
    assert store.verdicts(1).empty
    assert store.finding_reviews("m")["review_status"].tolist() == ["dismissed"]
    bad = summary_of("f")
    bad["share_wrong_low"] = np.nan  # NOT NULL: fails inside the transaction, after the deletes
    with pytest.raises(sqlite3.IntegrityError):
        store.save_review("m", 1, votes, bad)
    assert store.verdicts(1).empty and store.finding_reviews("m")["review_status"].tolist() == ["dismissed"]


def test_save_project_replacing_another_drops_its_task_keys(store):
    store.save_project("m", 1, title="t", server_url="http://a", input_kind="text")
    store.record_tasks(1, [TaskRow("a", "f", "s", "r", 5)])
    store.begin_batch(1, "b", rows(2))
    store.save_project("m", 1, title="t", server_url="http://a", input_kind="text")  # same: kept
    assert store.task_ids(1) == {"a": 5} and store.pending_batches(1)
    store.save_project("m", 2, title="t", server_url="http://a", input_kind="text")  # recreated
    assert store.task_ids(1) == {} and store.pending_batches(1) == {}
    store.record_tasks(2, [TaskRow("a", "f", "s", "r", 7)])
    store.save_project("m", 2, title="t", server_url="http://b", input_kind="text")  # another server
    assert store.task_ids(2) == {} and store.project("m").server_url == "http://b"


def test_a_task_serves_its_own_finding_and_every_linked_one(store):
    store.save_project("m", 1, title="t", server_url="http://x", input_kind="text")
    store.record_tasks(1, [TaskRow("k0", "f0", "s0", "r1", 10), TaskRow("k1", "f1", "s1", "r1", 11)])
    tf = store.task_findings(1)
    assert sorted(zip(tf["tagscan_key"], tf["finding_id"], tf["task_id"])) == [("k0", "f0", 10), ("k1", "f1", 11)]
    # a later run's finding over the same pair: a link, not a task; the own finding is never linked twice
    assert store.link_findings(1, [("k0", "f0", "r2"), ("k0", "g", "r2"), ("k0", "g", "r3")]) == 1
    tf = store.task_findings(1)
    assert sorted(zip(tf["tagscan_key"], tf["finding_id"], tf["run_id"])) == [("k0", "f0", "r1"), ("k0", "g", "r2"), ("k1", "f1", "r1")]
    assert len(store.task_ids(1)) == 2  # still two tasks
    # a comment on a shared task is every served finding's comment
    votes = pd.DataFrame(
        [{"task_id": 10, "tagscan_key": "k0", "finding_id": "f0", "sample_id": "s0", "annotator": "1",
          "annotation_id": 1, "updated_at": "2024-01-01", "verdict": "correct", "comment": "studio portrait"}]
    )  # fmt: skip
    summary = pd.DataFrame(columns=["finding_id", "n_tasks", "n_reviewed", "n_votes", "correct", "wrong", "harmful", "unsure",
                                    "share_wrong", "share_wrong_low", "share_wrong_high", "review_status", "last_reviewed_at",
                                    "last_run_id"])  # fmt: skip
    store.save_review("m", 1, votes, summary)
    assert store.finding_comments("m") == {"f0": ["studio portrait"], "g": ["studio portrait"]}
    store.drop_tasks(1, ["k0"])  # deleted on the server: its links go with it
    assert list(store.task_findings(1)["tagscan_key"]) == ["k1"]
