"""The per-model review lock of the store: a second holder waits (bounded) or fails with a clear message,
a holder killed with SIGKILL leaves nothing stale behind. Holders are real processes (no server needed)."""

from __future__ import annotations

import logging
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagscan.errors import DataError, UsageError
from tagscan.review.store import ReviewStore

HOLDER = """
import sys, time
from tagscan.review.store import ReviewStore
store = ReviewStore(sys.argv[1])
with store.lock(sys.argv[2], purpose=sys.argv[4]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
print("released", flush=True)
"""


class Holder:
    """Another process that holds the lock of ``key`` in the store at ``db`` for ``seconds``."""

    def __init__(self, db: Path, key: str, seconds: float = 60, purpose: str = "push"):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), key, str(seconds), purpose],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()  # blocks until the lock is taken (or the process died)
        if line != "locked":
            self.proc.kill()
            raise AssertionError(f"the holder did not take the lock: {line!r} {self.proc.stderr.read()}")
        self.pid = self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for h in started:
        h.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "tagscan.sqlite"


def test_free_lock_is_taken_at_once_and_released(db):
    store = ReviewStore(db)
    with store.lock("photo-tagger", timeout=0):  # timeout 0: taken at once or UsageError
        info = store.lock_path("photo-tagger").read_text()
        assert '"purpose": "push"' in info and '"pid"' in info  # the holder is named for those who wait
    with store.lock("photo-tagger", timeout=0):  # released: taken again at once
        pass
    assert store.lock_path("photo-tagger").read_text() == ""  # nothing names a holder after release
    assert store.lock_path("photo-tagger").parent == db.parent / "locks"


def test_second_holder_times_out_with_one_clear_line(db, holders, caplog):
    store = ReviewStore(db)
    holders.append(h := Holder(db, "photo-tagger"))
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tagscan.review.store"):
        with pytest.raises(UsageError) as exc:
            with store.lock("photo-tagger", timeout=0.6, purpose="push"):
                raise AssertionError("the lock was taken while another process holds it")
    assert time.monotonic() - t0 >= 0.6  # it did wait its timeout before giving up
    msg = str(exc.value)
    assert exc.value.exit_code == 2 and "\n" not in msg
    assert msg.startswith(f"workspace {db.parent}: another tagscan review push (pid {h.pid} on ")
    assert "still holds the review lock of model 'photo-tagger'" in msg and "after 0.6 s" in msg
    assert "wait for it to finish, or rerun with a longer --lock-timeout" in msg
    waits = [r.getMessage() for r in caplog.records if "waiting up to" in r.getMessage()]
    assert len(waits) == 1 and f"pid {h.pid}" in waits[0] and str(db.parent) in waits[0]


def test_timeout_zero_fails_at_once(db, holders):
    holders.append(Holder(db, "m", purpose="pull"))
    with pytest.raises(UsageError, match="another tagscan review pull .* after 0 s"):
        with ReviewStore(db).lock("m", timeout=0):
            pass


def test_second_holder_waits_then_proceeds(db, holders, caplog):
    holders.append(h := Holder(db, "m", seconds=1.0))
    with caplog.at_level(logging.INFO, logger="tagscan.review.store"):
        with ReviewStore(db).lock("m", timeout=60):
            assert h.proc.stdout.readline().strip() == "released"  # strictly after the holder let go
    text = caplog.text
    assert "holds the review lock of model 'm'" in text and "waiting up to 60 s" in text
    assert "got the review lock of model 'm' after" in text


def test_sigkilled_holder_leaves_no_stale_lock(db, holders):
    store = ReviewStore(db)
    holders.append(h := Holder(db, "m"))
    with pytest.raises(UsageError):
        with store.lock("m", timeout=0):
            pass
    h.proc.send_signal(signal.SIGKILL)
    assert h.proc.wait(timeout=30) == -signal.SIGKILL
    assert "pid" in store.lock_path("m").read_text()  # the dead holder's note is still in the file ...
    with store.lock("m", timeout=0):  # ... but the lock died with it (timeout 0: no waiting)
        assert f'"pid": {h.pid}' not in store.lock_path("m").read_text()


def test_other_models_and_other_workspaces_do_not_wait(db, tmp_path, holders):
    holders.append(Holder(db, "model-a"))
    with ReviewStore(db).lock("model-b", timeout=0):
        pass
    with ReviewStore(tmp_path / "other" / "tagscan.sqlite").lock("model-a", timeout=0):
        pass


def test_not_reentrant_even_in_one_thread(db):
    store = ReviewStore(db)
    with store.lock("m", timeout=0):
        with pytest.raises(UsageError, match="another tagscan review push"):
            with store.lock("m", timeout=0.1):
                pass


def test_threads_take_turns(db):
    store = ReviewStore(db)
    inside, overlap, errors = [0], [False], []

    def work() -> None:
        try:
            for _ in range(5):
                with store.lock("m", timeout=30):
                    inside[0] += 1
                    overlap[0] |= inside[0] > 1
                    time.sleep(0.01)
                    inside[0] -= 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and overlap == [False]


def test_an_error_inside_releases_the_lock(db):
    store = ReviewStore(db)
    with pytest.raises(RuntimeError):
        with store.lock("m", timeout=0):
            raise RuntimeError("boom")
    with store.lock("m", timeout=0):
        pass


@pytest.mark.parametrize("bad", [-1, math.nan])
def test_bad_timeout(db, bad):
    with pytest.raises(UsageError, match="lock timeout must be a number of seconds >= 0; got"):
        with ReviewStore(db).lock("m", timeout=bad):
            pass


def test_unwritable_lock_folder(db):
    store = ReviewStore(db)
    (db.parent / "locks").write_text("a file where the lock folder should be")
    with pytest.raises(DataError, match=r"locks/review-m-[0-9a-f]{10}\.lock: cannot create the review lock file .*writable"):
        with store.lock("m", timeout=0):
            pass


def test_lock_files_are_readable_and_distinct(db):
    store = ReviewStore(db)
    paths = {k: store.lock_path(k) for k in ("photo-tagger", "a/b", "a_b", "", "../../etc")}
    assert len(set(paths.values())) == len(paths)
    assert paths["photo-tagger"].name.startswith("review-photo-tagger-")
    assert all(p.parent == db.parent / "locks" for p in paths.values())
