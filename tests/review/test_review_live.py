"""push and pull against a real Label Studio server (see conftest: started on loopback if not given).

Fakes appear only for fault injection: wrappers around the real backend or store that fail at a chosen
point, and a socket that accepts connections and never answers.
"""

from __future__ import annotations

import socket
import struct
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tagscan.errors import ReviewError
from tagscan.review.backends.label_studio import LabelStudioBackend, labeling_config
from tagscan.review.codec import review_items
from tagscan.review.service import PULL_COLUMNS, pull, push
from tagscan.review.store import ReviewStore

MODEL = "photo-tagger:v7"


class Crash(Exception):
    """A simulated kill of the process."""


def do_push(findings, samples, backend, store, title, **kw):
    args = dict(model_key=MODEL, project_title=title, input_kind="text", run_id="run1")
    args.update(kw)
    return push(findings, samples, backend=backend, store=store, **args)


def server_keys(backend, pid) -> Counter:
    """tagscan_key -> number of tasks holding it, counted through the API."""
    return Counter(t.tagscan_key for t in backend.list_tasks(pid))


def expected_keys(findings, samples):
    return {i.tagscan_key for i in review_items(findings, samples, input_kind="text", model_key=MODEL)}


# -- push ---------------------------------------------------------------------------------------


def test_push_creates_project_and_one_task_per_example(backend, store, project_title, review_data):
    findings, samples = review_data(3, 4)
    r = do_push(findings, samples, backend, store, project_title)
    assert (r.created, r.already_present, r.recovered, r.n_tasks) == (12, 0, 0, 12)
    project = backend.sdk.projects.get(id=r.project_id)
    assert project.title == project_title
    assert project.label_config.strip() == labeling_config("text").strip()
    assert project.task_number == 12
    assert store.project(MODEL).project_id == r.project_id

    keys = server_keys(backend, r.project_id)
    assert set(keys) == expected_keys(findings, samples) and set(keys.values()) == {1}
    ids = store.task_ids(r.project_id)
    assert len(ids) == 12

    some = sorted(ids)[:3]
    assert {t.tagscan_key: t.task_id for t in backend.find_tasks_by_keys(r.project_id, some)} == {k: ids[k] for k in some}

    f = findings.iloc[1]
    sid = f["examples"][2]
    full = [t for t in backend.sdk.tasks.list(project=r.project_id) if t.data["finding_id"] == f["finding_id"] and t.data["sample_id"] == sid]
    assert len(full) == 1
    data = full[0].data
    assert data["label"] == f["label"] and data["label_name"] == f["label_name"] and data["group"] == f["group"]
    assert data["severity"] == pytest.approx(f["severity"]) and data["severity_level"] == "high"
    assert data["text"] == samples.set_index("sample_id").loc[sid, "text"]
    assert ids[data["tagscan_key"]] == full[0].id  # the store maps each key to its own task
    preds = backend.sdk.predictions.list(task=full[0].id)
    assert len(preds) == 1
    assert preds[0].score == pytest.approx(f["severity"] / 100) and preds[0].model_version == MODEL and preds[0].result == []


def test_push_twice_creates_no_duplicates(backend, store, project_title, review_data):
    findings, samples = review_data(4, 5)
    first = do_push(findings, samples, backend, store, project_title, batch_size=7)
    again = do_push(findings, samples, backend, store, project_title, batch_size=7)
    assert (first.created, again.created, again.already_present) == (20, 0, 20)
    assert again.project_id == first.project_id
    keys = server_keys(backend, first.project_id)
    assert len(keys) == 20 and set(keys.values()) == {1}


def test_push_adds_only_new_examples(backend, store, project_title, review_data):
    findings, samples = review_data(4, 3)
    do_push(findings.iloc[:2], samples, backend, store, project_title)
    r = do_push(findings, samples, backend, store, project_title, run_id="run2")
    assert (r.created, r.already_present) == (6, 6)
    runs = store.tasks(r.project_id).groupby("run_id").size().to_dict()
    assert runs == {"run1": 6, "run2": 6}


class CrashAfterImport:
    """The real backend, but the process 'dies' right after the n-th import request returned: the tasks
    are on the server, the store has not recorded them."""

    def __init__(self, real, after: int = 1):
        self.real, self.after, self.imports = real, after, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def send_items(self, project_id, items, **kw):
        ids = self.real.send_items(project_id, items, **kw)
        self.imports += 1
        if self.imports >= self.after:
            raise Crash("killed after the import returned")
        return ids


class CrashBeforeImport(CrashAfterImport):
    """The n-th import request is never sent (the batch was journalled; earlier batches were recorded)."""

    def send_items(self, project_id, items, **kw):
        self.imports += 1
        if self.imports >= self.after:
            raise Crash("killed before the import was sent")
        return self.real.send_items(project_id, items, **kw)


class StoreCrashOnFinish(ReviewStore):
    """The store fails while recording the first finished batch (the import did happen)."""

    fail = True

    def finish_batch(self, project_id, batch_id, found):
        if self.fail:
            self.fail = False
            raise Crash("killed while recording")
        return super().finish_batch(project_id, batch_id, found)


@pytest.mark.parametrize(
    "make_backend",
    [lambda b: CrashAfterImport(b, 1), lambda b: CrashAfterImport(b, 2), lambda b: CrashBeforeImport(b, 2)],
    ids=["after-first-import", "after-second-import", "before-second-import"],
)
def test_interrupted_push_then_push_again_no_duplicate_no_loss(backend, store, project_title, review_data, make_backend):
    findings, samples = review_data(5, 4)  # 20 tasks, batches of 6
    with pytest.raises(Crash):
        do_push(findings, samples, make_backend(backend), store, project_title, batch_size=6)
    r = do_push(findings, samples, backend, store, project_title, batch_size=6)
    keys = server_keys(backend, r.project_id)
    assert set(keys) == expected_keys(findings, samples)
    assert sum(keys.values()) - len(keys) == 0  # no duplicates
    assert r.created + r.already_present == 20
    assert store.pending_batches(r.project_id) == {}
    assert set(store.task_ids(r.project_id)) == set(keys)
    assert backend.sdk.projects.get(id=r.project_id).task_number == 20


def test_crash_while_recording_then_push_again(backend, tmp_path, project_title, review_data):
    findings, samples = review_data(3, 4)
    crashing = StoreCrashOnFinish(tmp_path / "tagscan.sqlite")
    with pytest.raises(Crash):
        do_push(findings, samples, backend, crashing, project_title, batch_size=5)
    r = do_push(findings, samples, backend, ReviewStore(tmp_path / "tagscan.sqlite"), project_title, batch_size=5)
    assert (r.recovered, r.created, r.already_present) == (5, 7, 5)
    keys = server_keys(backend, r.project_id)
    assert len(keys) == 12 and set(keys.values()) == {1}


def test_lost_workspace_adopts_the_project_and_its_tasks(backend, tmp_path, project_title, review_data):
    findings, samples = review_data(3, 4)
    first = do_push(findings.iloc[:2], samples, backend, ReviewStore(tmp_path / "a.sqlite"), project_title)
    fresh = ReviewStore(tmp_path / "b.sqlite")
    r = do_push(findings, samples, backend, fresh, project_title)
    assert r.project_id == first.project_id
    assert (r.recovered, r.created, r.already_present) == (8, 4, 8)
    keys = server_keys(backend, r.project_id)
    assert len(keys) == 12 and set(keys.values()) == {1}


def test_another_server_url_finds_the_project_by_title(backend, store, project_title, review_data, ls_server):
    findings, samples = review_data(2, 3)
    first = do_push(findings, samples, backend, store, project_title)
    same_server = LabelStudioBackend(ls_server.url.replace("127.0.0.1", "localhost"), ls_server.api_key)
    r = do_push(findings, samples, same_server, store, project_title)
    assert r.project_id == first.project_id and (r.created, r.already_present) == (0, 6)
    assert store.project(MODEL).server_url == same_server.url
    assert len(server_keys(backend, r.project_id)) == 6


def test_tasks_deleted_on_the_server_are_pushed_again(backend, store, project_title, review_data):
    findings, samples = review_data(2, 4)
    r = do_push(findings, samples, backend, store, project_title)
    ids = store.task_ids(r.project_id)
    victims = sorted(ids.values())[:3]
    for tid in victims:
        backend.sdk.tasks.delete(id=str(tid))
    again = do_push(findings, samples, backend, store, project_title)
    assert (again.created, again.already_present) == (3, 5)
    keys = server_keys(backend, r.project_id)
    assert len(keys) == 8 and set(keys.values()) == {1}
    assert not set(victims) & set(store.task_ids(r.project_id).values())


def test_images_served_from_local_storage(backend, store, project_title, review_data, ls_server, unavailable):
    if ls_server.files_root is None:
        unavailable("the server's local-files root is unknown: set TAGSCAN_LS_FILES_ROOT with TAGSCAN_LS_URL")
    folder = Path(tempfile.mkdtemp(dir=ls_server.files_root, prefix="tagscan-images-")) / "photos"
    folder.mkdir()
    findings, samples = review_data(2, 3)
    samples["image"] = [f"img_{i}.png" for i in range(len(samples))]
    for i, name in enumerate(samples["image"]):
        (folder / name).write_bytes(tiny_png(i))
    kw = dict(input_kind="image", image_root=folder)  # the backend knows the server's files root
    r = do_push(findings, samples, backend, store, project_title, **kw)
    do_push(findings, samples, backend, store, project_title, **kw)  # storage attached once
    storages = list(backend.sdk.import_storage.local.list(project=r.project_id))
    assert [Path(s.path) for s in storages] == [folder.resolve()]
    assert "<Image" in backend.sdk.projects.get(id=r.project_id).label_config
    (task,) = [t for t in backend.sdk.tasks.list(project=r.project_id)][:1]
    url = task.data["image"]
    assert url.startswith("/data/local-files/?d=")
    got = httpx.get(ls_server.url + url, headers={"Authorization": f"Token {ls_server.api_key}"}, timeout=10)
    assert got.status_code == 200
    name = samples.set_index("sample_id").loc[task.data["sample_id"], "image"]
    assert got.content == (folder / name).read_bytes()
    assert httpx.get(ls_server.url + url, timeout=10).status_code in (302, 401, 403)  # not without the key


def test_local_storage_refused(backend, store, project_title, review_data):
    findings, samples = review_data(1, 2)
    r = do_push(findings, samples, backend, store, project_title)
    with pytest.raises(ReviewError, match="refused to serve images from /nonexistent/tagscan .*TAGSCAN_LS_FILES_ROOT"):
        backend.attach_local_storage(r.project_id, "/nonexistent/tagscan")


def tiny_png(seed: int) -> bytes:
    """A valid 1x1 PNG whose pixel depends on ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"\x00" + bytes([seed % 256, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# -- pull ---------------------------------------------------------------------------------------


def choice(value: str, comment: str | None = None) -> list[dict]:
    res = [{"from_name": "verdict", "to_name": "input", "type": "choices", "value": {"choices": [value]}}]
    if comment:
        res.append({"from_name": "comment", "to_name": "input", "type": "textarea", "value": {"text": [comment]}})
    return res


def test_annotations_come_back_through_pull(backend, store, project_title, review_data):
    findings, samples = review_data(4, 4)
    r = do_push(findings, samples, backend, store, project_title)
    tasks = store.tasks(r.project_id)
    by_f = {f: g["task_id"].tolist() for f, g in tasks.groupby("finding_id")}
    sdk = backend.sdk
    other = sdk.users.create(username=f"rev-{project_title}", email=f"{project_title}@example.org", password="review-pass-1")

    def annotate(task_id, value, comment=None, **kw):
        sdk.annotations.create(id=int(task_id), result=choice(value, comment), **kw)

    # f0000: three say correct, one says harmful -> confirmed (any harmful)
    t = by_f["f0000"]
    for tid in t[:3]:
        annotate(tid, "label correct")
    annotate(t[3], "label wrong and harmful", "demeaning")
    # f0001: four correct, one of them revised from wrong -> dismissed (by one reviewer, with the loose
    # thresholds given to pull below; the defaults need 3 reviewers and a bound under 0.2: needs review)
    t = by_f["f0001"]
    annotate(t[0], "label wrong")
    for tid in t:
        annotate(tid, "label correct")
    # f0002: one correct, a second annotator says wrong on the same task, a skip -> tie, needs review
    t = by_f["f0002"]
    annotate(t[0], "label correct")
    annotate(t[0], "label wrong", completed_by=other.id)
    sdk.annotations.create(id=int(t[1]), result=[], was_cancelled=True)
    # f0003: nothing

    out = pull(backend=backend, store=store, model_key=MODEL, min_verdicts=1, dismiss_max_wrong=0.5)
    assert list(out.columns) == PULL_COLUMNS
    o = out.set_index("finding_id")
    assert o.loc["f0000", ["correct", "wrong", "harmful", "unsure", "n_reviewed", "n_tasks"]].tolist() == [3, 0, 1, 0, 4, 4]
    assert o.loc["f0000", "review_status"] == "confirmed" and o.loc["f0000", "share_wrong"] == pytest.approx(0.25)
    assert o.loc["f0001", ["correct", "wrong", "n_votes"]].tolist() == [4, 0, 4]
    assert o.loc["f0001", "review_status"] == "dismissed"
    assert o.loc["f0002", ["correct", "wrong", "n_votes", "n_reviewed"]].tolist() == [1, 1, 2, 1]
    assert o.loc["f0002", "review_status"] == "needs review"
    assert o.loc["f0003", "n_votes"] == 0 and o.loc["f0003", "review_status"] == "needs review"
    assert o.loc["f0000", "last_run_id"] == "run1"
    assert 0 <= o.loc["f0000", "share_wrong_low"] <= 0.25 <= o.loc["f0000", "share_wrong_high"] <= 1

    saved = store.finding_reviews(MODEL).set_index("finding_id")
    assert saved.loc["f0001", "review_status"] == "dismissed" and saved.loc["f0000", "harmful"] == 1
    verdicts = store.verdicts(r.project_id)
    assert len(verdicts) == 10 and "demeaning" in verdicts["comment"].tolist()

    # pull is repeatable and follows new annotations
    annotate(by_f["f0003"][0], "label wrong")
    again = pull(backend=backend, store=store, project_id=r.project_id).set_index("finding_id")
    assert again.loc["f0003", "review_status"] == "confirmed"
    assert len(store.verdicts(r.project_id)) == 11


def test_last_run_is_the_latest_push_in_one_second(backend, store, project_title, review_data, monkeypatch):
    """A finding pushed again by a later run (one more example) names that run, though both pushes share
    their pushed_at second (stored to the second): ties keep the task order, also with pandas 2's
    object-dtype strings, which pandas sorts with an unstable quicksort."""
    import warnings

    import pandas as pd

    import tagscan.review.store as store_module

    monkeypatch.setattr(store_module, "_now", lambda: "2026-11-28T12:00:00+00:00")
    findings, samples = review_data(4, 4)
    do_push(findings.iloc[:1], samples, backend, store, project_title, run_id="run1")
    more = [s for s in samples["sample_id"] if s not in findings.at[0, "examples"]][0]
    findings.at[0, "examples"] = [*findings.at[0, "examples"], more]
    r = do_push(findings, samples, backend, store, project_title, run_id="run2")
    assert (r.created, r.already_present) == (13, 4)
    for object_strings in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pandas 3 deprecates the option
            with pd.option_context("future.infer_string", not object_strings):
                out = pull(backend=backend, store=store, model_key=MODEL).set_index("finding_id")
        assert out["last_run_id"].to_dict() == {f"f{i:04d}": "run2" for i in range(4)}, object_strings


# -- failures -----------------------------------------------------------------------------------


@pytest.fixture
def pushed(backend, store, project_title, review_data):
    findings, samples = review_data(2, 3)
    r = do_push(findings, samples, backend, store, project_title)
    return findings, samples, r


def test_unreachable_server(pushed, store, project_title, snapshot, ls_server, free_port):
    findings, samples, _ = pushed
    before = snapshot(store.db_path)
    url = f"http://127.0.0.1:{free_port()}"
    down = LabelStudioBackend(url, ls_server.api_key)
    msg = f"Label Studio at {url} is unreachable .*; start it \\(scripts/labelstudio.sh start\\) or fix review.url in the config"
    with pytest.raises(ReviewError, match=msg) as exc:
        do_push(findings, samples, down, store, project_title)
    assert exc.value.exit_code == 3
    down = LabelStudioBackend(url, ls_server.api_key, max_retries=0)  # the SDK's retries were shown above
    with pytest.raises(ReviewError, match=msg):
        pull(backend=down, store=store, model_key=MODEL)
    with pytest.raises(ReviewError, match=msg):  # and on a first push, before any project exists
        do_push(findings, samples, down, ReviewStore(store.db_path.parent / "other.sqlite"), project_title)
    assert snapshot(store.db_path) == before


def test_server_that_never_answers(review_data, tmp_path):
    findings, samples = review_data(1, 2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (kernel backlog), never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        slow = LabelStudioBackend(url, "k", timeout=0.5, max_retries=0)
        with pytest.raises(ReviewError, match=f"Label Studio at {url} did not answer in time .*scripts/labelstudio.sh status"):
            do_push(findings, samples, slow, ReviewStore(tmp_path / "t.sqlite"), "t")
    finally:
        listener.close()


def test_bad_token(pushed, store, project_title, snapshot, ls_server):
    findings, samples, _ = pushed
    before = snapshot(store.db_path)
    bad = LabelStudioBackend(ls_server.url, "not-a-valid-token", api_key_env="MY_LS_KEY")
    msg = (
        f"Label Studio at {ls_server.url} rejected the API key from \\$MY_LS_KEY \\(HTTP 401: .*\\); "
        "set MY_LS_KEY to a valid token"
    )
    with pytest.raises(ReviewError, match=msg) as exc:
        do_push(findings, samples, bad, store, project_title)
    assert exc.value.exit_code == 3 and "not-a-valid-token" not in str(exc.value)
    with pytest.raises(ReviewError, match=msg):
        pull(backend=bad, store=store, model_key=MODEL)
    assert snapshot(store.db_path) == before


def test_missing_token():
    with pytest.raises(ReviewError, match="no Label Studio API key: the environment variable LABEL_STUDIO_API_KEY is empty or unset"):
        LabelStudioBackend("http://127.0.0.1:1", None)


def test_key_never_in_repr(ls_server):
    b = LabelStudioBackend(ls_server.url, ls_server.api_key)
    assert ls_server.api_key not in repr(b) and ls_server.api_key not in str(vars(b).get("url"))


def test_project_deleted_on_the_server(pushed, backend, store, project_title, snapshot):
    findings, samples, first = pushed
    sdk = backend.sdk
    (tid,) = list(store.task_ids(first.project_id).values())[:1]
    sdk.annotations.create(id=tid, result=choice("label wrong"))
    pull(backend=backend, store=store, model_key=MODEL)
    sdk.projects.delete(id=first.project_id)
    before = snapshot(store.db_path)
    msg = f"Label Studio project {first.project_id} \\('{project_title}'\\) at .* was deleted on the server"
    with pytest.raises(ReviewError, match=msg + ".*run 'tagscan review push CONFIG --recreate'") as exc:
        do_push(findings, samples, backend, store, project_title)
    assert exc.value.exit_code == 3
    with pytest.raises(ReviewError, match=msg + "; the verdicts pulled before are kept in the workspace"):
        pull(backend=backend, store=store, model_key=MODEL)
    assert snapshot(store.db_path) == before

    r = do_push(findings, samples, backend, store, project_title, recreate=True)
    assert r.recreated and r.project_id != first.project_id and r.created == 6
    assert len(server_keys(backend, r.project_id)) == 6
    assert len(store.verdicts()) == 1  # the verdicts of the deleted project are kept
    assert store.project(MODEL).project_id == r.project_id


def test_backend_maps_404_inside_a_project(backend):
    with pytest.raises(ReviewError, match="Label Studio project 987654 at .* was deleted on the server"):
        backend.task_count(987654)
    assert backend.project_exists(987654) is False


def test_pull_without_push(store):
    from tagscan.errors import UsageError

    backend = LabelStudioBackend("http://127.0.0.1:1", "k")  # never contacted
    with pytest.raises(UsageError, match="nothing was pushed for model 'm' from this workspace; run 'tagscan review push CONFIG' first"):
        pull(backend=backend, store=store, model_key="m")


def test_url_that_is_not_label_studio(review_data, tmp_path):
    import http.server
    import threading

    findings, samples = review_data(1, 2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # 501/404 HTML
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server.RequestHandlerClass = NotFound
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        other = LabelStudioBackend(url, "k", max_retries=0)
        msg = f"{url} answered HTTP 404 while trying to .*; check that review.url is the base address of a Label Studio server"
        store = ReviewStore(tmp_path / "t.sqlite")
        with pytest.raises(ReviewError, match=msg):
            do_push(findings, samples, other, store, "t")
        store.save_project(MODEL, 5, title="t", server_url=url, input_kind="text")
        with pytest.raises(ReviewError, match=msg):  # not mistaken for a deleted project
            do_push(findings, samples, other, store, "t")
    finally:
        server.shutdown()
        server.server_close()
