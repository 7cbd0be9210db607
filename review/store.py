"""tagscan's own record of review projects, tasks and verdicts, in the workspace's SQLite file.

Tables (created with ``CREATE TABLE IF NOT EXISTS`` beside the workspace's runs and findings):

* ``review_projects``: one row per model key: the server project it was pushed to.
* ``review_tasks``: one row per task known to exist on the server: ``tagscan_key`` -> ``task_id`` (a task is one
  (sample, label) pair; ``finding_id`` is the finding it was created for).
* ``review_task_findings``: which findings each task serves: every finding that showed the task's pair when
  it was pushed (a later run's finding over the same pair is linked to the existing task, not given a new
  one). A task's verdicts count for each of its findings. Tasks recorded before this table existed serve
  their own ``finding_id``.
* ``review_pending``: the journal of an import in flight. A batch's keys are written here *before* the
  import request; when the request returns they move to ``review_tasks`` in one transaction. A row left
  here means the process died (or the server failed) mid-import: the next push asks the server which of
  those tasks exist (by the batch marker in their data) and records them instead of importing again.
* ``review_verdicts``: the votes read by the last pull (one per task and annotator).
* ``review_findings``: the per-finding summary of the last pull (counts, share judged wrong with its
  interval, review status), the input of the next scan's statuses.

Every write is one transaction; a failure leaves the previous state. The API key is never stored.

One push or pull at a time per model key: :meth:`ReviewStore.lock` takes an exclusive ``flock`` on
``<workspace>/locks/review-<model key>-<hash>.lock`` for the whole call. The operating system releases it
when its holder exits for any reason (a crash or SIGKILL included), so a dead holder never leaves a stale
lock behind; the file itself stays (deleting a lock file that someone may be waiting on breaks the lock)
and only names the current holder, for the messages of those who wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tagscan.errors import DataError, UsageError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

__all__ = ["DEFAULT_LOCK_TIMEOUT", "ProjectRecord", "ReviewStore", "TaskRow"]

log = logging.getLogger(__name__)

# How long a push or pull waits for another one of the same model key in the same workspace (seconds).
DEFAULT_LOCK_TIMEOUT = 300.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_projects (
    model_key TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    server_url TEXT NOT NULL,
    input_kind TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS review_tasks (
    tagscan_key TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    finding_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    run_id TEXT,
    pushed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS review_tasks_by_project ON review_tasks(project_id);
CREATE INDEX IF NOT EXISTS review_tasks_by_finding ON review_tasks(finding_id);
CREATE TABLE IF NOT EXISTS review_task_findings (
    project_id INTEGER NOT NULL,
    tagscan_key TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    run_id TEXT,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (project_id, tagscan_key, finding_id)
);
CREATE INDEX IF NOT EXISTS review_task_findings_by_finding ON review_task_findings(finding_id);
CREATE TABLE IF NOT EXISTS review_pending (
    batch_id TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    tagscan_key TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    run_id TEXT,
    started_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, tagscan_key)
);
CREATE TABLE IF NOT EXISTS review_verdicts (
    project_id INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    annotation_id INTEGER NOT NULL,
    tagscan_key TEXT,
    finding_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT,
    updated_at TEXT,
    pulled_at TEXT NOT NULL,
    PRIMARY KEY (project_id, task_id, annotator)
);
CREATE INDEX IF NOT EXISTS review_verdicts_by_finding ON review_verdicts(finding_id);
CREATE TABLE IF NOT EXISTS review_findings (
    model_key TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    n_tasks INTEGER NOT NULL,
    n_reviewed INTEGER NOT NULL,
    n_votes INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    wrong INTEGER NOT NULL,
    harmful INTEGER NOT NULL,
    unsure INTEGER NOT NULL,
    share_wrong REAL,
    share_wrong_low REAL NOT NULL,
    share_wrong_high REAL NOT NULL,
    review_status TEXT NOT NULL,
    last_reviewed_at TEXT,
    last_run_id TEXT,
    pulled_at TEXT NOT NULL,
    PRIMARY KEY (model_key, finding_id)
);
"""


# Every (task, finding) a task serves: its links, and for tasks without a link row its own finding.
_TASK_FINDINGS = """
SELECT t.tagscan_key, t.task_id, l.finding_id, t.sample_id, l.run_id, l.linked_at AS pushed_at
  FROM review_task_findings l JOIN review_tasks t ON t.tagscan_key = l.tagscan_key AND t.project_id = l.project_id
 WHERE l.project_id = :pid
UNION ALL
SELECT t.tagscan_key, t.task_id, t.finding_id, t.sample_id, t.run_id, t.pushed_at
  FROM review_tasks t
 WHERE t.project_id = :pid AND NOT EXISTS (
       SELECT 1 FROM review_task_findings l
        WHERE l.project_id = t.project_id AND l.tagscan_key = t.tagscan_key AND l.finding_id = t.finding_id)
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` if it is free; False when another open file holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows: a lock on the first byte, also released when its holder dies
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as exc:
        if fcntl is None:  # pragma: no cover - msvcrt says "busy" with EDEADLOCK/EACCES
            return False
        raise DataError(f"cannot take the review lock ({exc}); the workspace's file system does not support file locks") from exc
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _write_holder(fd: int, purpose: str | None) -> None:
    """Name the holder in the lock file (for the messages of those who wait); empty it on release."""
    info = b""
    if purpose is not None:
        info = json.dumps({"purpose": purpose, "pid": os.getpid(), "host": socket.gethostname(), "since": _now()}).encode()
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, info)
    except OSError:  # the note is a courtesy; the lock is what matters
        pass


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        info = json.loads(raw.decode()) if raw else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe_holder(info: dict) -> str:
    if not info.get("pid"):
        return "another tagscan process"
    return (
        f"another tagscan review {info.get('purpose', 'push')} (pid {info['pid']} on {info.get('host', '?')}, "
        f"since {info.get('since', '?')})"
    )


@dataclass(frozen=True)
class ProjectRecord:
    model_key: str
    project_id: int
    title: str
    server_url: str
    input_kind: str
    created_at: str


@dataclass(frozen=True)
class TaskRow:
    """One review task as tagscan records it (``task_id`` is None while its import is pending)."""

    tagscan_key: str
    finding_id: str
    sample_id: str
    run_id: str | None = None
    task_id: int | None = None


class ReviewStore:
    """Review tables in the SQLite file ``db_path`` (normally ``<workspace>/tagscan.sqlite``)."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DataError(
                f"{self.db_path}: cannot open the review tables ({exc}); check that the workspace folder is writable"
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        return db

    # -- the per-model lock ----------------------------------------------------------------------
    def lock_path(self, model_key: str) -> Path:
        """The lock file of ``model_key``: readable, and distinct for keys that read alike."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_key).strip("._-")[:48] or "model"
        digest = hashlib.sha1(model_key.encode()).hexdigest()[:10]
        return self.db_path.parent / "locks" / f"review-{slug}-{digest}.lock"

    @contextmanager
    def lock(self, model_key: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT, purpose: str = "push") -> Iterator[None]:
        """Hold the exclusive review lock of ``model_key`` in this workspace for the ``with`` block.

        When another process holds it, log a warning naming the holder and wait, up to ``timeout`` seconds
        (0: do not wait), then raise :class:`UsageError` (exit 2) naming the workspace, the holder and the
        fix. The lock is an OS file lock (``flock``): released when its holder exits, even when killed.
        Not re-entrant: a second ``lock`` of the same key, even in the same thread, waits like any other.
        """
        if not timeout >= 0:  # also refuses NaN
            raise UsageError(f"lock timeout must be a number of seconds >= 0; got {timeout}")
        path = self.lock_path(model_key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DataError(
                f"{path}: cannot create the review lock file ({exc}); check that the workspace folder is writable"
            ) from exc
        try:
            start = time.monotonic()
            pause, warned = 0.02, False
            while not _try_lock(fd):
                waited = time.monotonic() - start
                holder = _describe_holder(_read_holder(fd))
                if waited >= timeout:
                    raise UsageError(
                        f"workspace {self.db_path.parent}: {holder} still holds the review lock of model "
                        f"'{model_key}' ({path}) after {timeout:g} s; wait for it to finish, or rerun with a "
                        "longer --lock-timeout (a process that died releases the lock by itself)"
                    )
                if not warned:
                    log.warning(
                        "%s holds the review lock of model '%s' in workspace %s; waiting up to %g s for it",
                        holder, model_key, self.db_path.parent, timeout,
                    )
                    warned = True
                time.sleep(min(pause, max(timeout - waited, 0.0)))
                pause = min(pause * 2, 0.5)
            if warned:
                log.info("got the review lock of model '%s' after %.1f s", model_key, time.monotonic() - start)
            _write_holder(fd, purpose)
            try:
                yield
            finally:
                _write_holder(fd, None)
                _unlock(fd)
        finally:
            os.close(fd)

    # -- projects ------------------------------------------------------------------------------
    def project(self, model_key: str) -> ProjectRecord | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM review_projects WHERE model_key = ?", (model_key,)).fetchone()
        return ProjectRecord(**dict(row)) if row else None

    def project_by_id(self, project_id: int) -> ProjectRecord | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM review_projects WHERE project_id = ?", (int(project_id),)).fetchone()
        return ProjectRecord(**dict(row)) if row else None

    def save_project(self, model_key: str, project_id: int, *, title: str, server_url: str, input_kind: str) -> None:
        """Record the model's project. When it replaces another project (or server), the old project's task
        keys and journal are dropped in the same transaction: they describe tasks that are not there."""
        with closing(self._connect()) as db, db:
            old = db.execute(
                "SELECT project_id, server_url FROM review_projects WHERE model_key = ?", (model_key,)
            ).fetchone()
            if old is not None and (old["project_id"] != int(project_id) or old["server_url"] != server_url):
                db.execute("DELETE FROM review_tasks WHERE project_id = ?", (old["project_id"],))
                db.execute("DELETE FROM review_task_findings WHERE project_id = ?", (old["project_id"],))
                db.execute("DELETE FROM review_pending WHERE project_id = ?", (old["project_id"],))
            db.execute(
                "INSERT OR REPLACE INTO review_projects VALUES (?,?,?,?,?,?)",
                (model_key, int(project_id), title, server_url, input_kind, _now()),
            )

    def forget_project(self, model_key: str) -> None:
        """Drop the project of ``model_key`` and its task keys (its verdicts and summaries stay)."""
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT project_id FROM review_projects WHERE model_key = ?", (model_key,)).fetchone()
            if row is None:
                return
            pid = row["project_id"]
            db.execute("DELETE FROM review_tasks WHERE project_id = ?", (pid,))
            db.execute("DELETE FROM review_task_findings WHERE project_id = ?", (pid,))
            db.execute("DELETE FROM review_pending WHERE project_id = ?", (pid,))
            db.execute("DELETE FROM review_projects WHERE model_key = ?", (model_key,))

    # -- tasks ---------------------------------------------------------------------------------
    def task_ids(self, project_id: int) -> dict[str, int]:
        """``{tagscan_key: task_id}`` of the project's recorded tasks."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT tagscan_key, task_id FROM review_tasks WHERE project_id = ?", (int(project_id),)
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def tasks(self, project_id: int) -> pd.DataFrame:
        with closing(self._connect()) as db:
            return pd.read_sql_query(
                "SELECT * FROM review_tasks WHERE project_id = ? ORDER BY task_id", db, params=(int(project_id),)
            )

    def record_tasks(self, project_id: int, rows: Iterable[TaskRow]) -> int:
        """Record tasks known to exist on the server (``task_id`` set); returns how many were new."""
        now = _now()
        values = [
            (r.tagscan_key, int(project_id), int(r.task_id), r.finding_id, r.sample_id, r.run_id, now)
            for r in rows
            if r.task_id is not None
        ]
        with closing(self._connect()) as db, db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO review_tasks VALUES (?,?,?,?,?,?,?)", values)
            return db.total_changes - before

    def drop_tasks(self, project_id: int, keys: Iterable[str]) -> None:
        """Forget tasks deleted on the server, with their links to findings."""
        pairs = [(int(project_id), k) for k in keys]
        with closing(self._connect()) as db, db:
            db.executemany("DELETE FROM review_tasks WHERE project_id = ? AND tagscan_key = ?", pairs)
            db.executemany("DELETE FROM review_task_findings WHERE project_id = ? AND tagscan_key = ?", pairs)

    def link_findings(self, project_id: int, links: Iterable[tuple[str, str, str | None]]) -> int:
        """Record that the task of each ``(tagscan_key, finding_id, run_id)`` serves that finding too (its
        verdicts count for it); links already recorded keep their first run. Returns how many were new."""
        now = _now()
        values = [(int(project_id), k, str(f), r, now) for k, f, r in links]
        with closing(self._connect()) as db, db:
            before = db.total_changes
            db.executemany(  # a task serves the finding it was created for without a link row
                "INSERT OR IGNORE INTO review_task_findings SELECT ?,?,?,?,? WHERE NOT EXISTS (SELECT 1 FROM "
                "review_tasks t WHERE t.project_id = ?1 AND t.tagscan_key = ?2 AND t.finding_id = ?3)",
                values,
            )
            return db.total_changes - before

    def task_findings(self, project_id: int) -> pd.DataFrame:
        """One row per (task, finding it serves): ``tagscan_key``, ``task_id``, ``finding_id``, ``sample_id``,
        ``run_id`` (the run that linked it), ``pushed_at``; ordered by task id, then link time."""
        with closing(self._connect()) as db:
            return pd.read_sql_query(
                f"SELECT * FROM ({_TASK_FINDINGS}) ORDER BY task_id, pushed_at, finding_id", db,
                params={"pid": int(project_id)},
            )

    # -- the import journal --------------------------------------------------------------------
    def begin_batch(self, project_id: int, batch_id: str, rows: Sequence[TaskRow]) -> None:
        """Journal a batch about to be imported (committed before the import request is sent)."""
        now = _now()
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO review_pending VALUES (?,?,?,?,?,?,?)",
                [(batch_id, int(project_id), r.tagscan_key, r.finding_id, r.sample_id, r.run_id, now) for r in rows],
            )

    def pending_batches(self, project_id: int) -> dict[str, list[TaskRow]]:
        """``{batch_id: rows}`` of imports that started and were never recorded as finished."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM review_pending WHERE project_id = ? ORDER BY started_at, batch_id", (int(project_id),)
            ).fetchall()
        out: dict[str, list[TaskRow]] = {}
        for r in rows:
            out.setdefault(r["batch_id"], []).append(
                TaskRow(r["tagscan_key"], r["finding_id"], r["sample_id"], r["run_id"])
            )
        return out

    def finish_batch(self, project_id: int, batch_id: str, found: dict[str, int]) -> int:
        """Move a journalled batch to ``review_tasks``: the keys in ``found`` (``{key: task_id}``) exist on
        the server; the others were never created and are simply forgotten. One transaction."""
        now = _now()
        with closing(self._connect()) as db, db:
            pending = db.execute(
                "SELECT * FROM review_pending WHERE project_id = ? AND batch_id = ?", (int(project_id), batch_id)
            ).fetchall()
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO review_tasks VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        r["tagscan_key"],
                        int(project_id),
                        int(found[r["tagscan_key"]]),
                        r["finding_id"],
                        r["sample_id"],
                        r["run_id"],
                        now,
                    )
                    for r in pending
                    if r["tagscan_key"] in found
                ],
            )
            added = db.total_changes - before
            db.execute("DELETE FROM review_pending WHERE project_id = ? AND batch_id = ?", (int(project_id), batch_id))
        return added

    # -- verdicts ------------------------------------------------------------------------------
    def save_review(self, model_key: str, project_id: int, votes: pd.DataFrame, summary: pd.DataFrame) -> None:
        """Replace the project's votes and the model's per-finding summary by a new pull, atomically.

        ``summary`` has the aggregate columns plus ``n_tasks`` and ``last_run_id``.
        """
        now = _now()

        def _s(x: object) -> str | None:
            return None if x is None or (isinstance(x, float) and x != x) else str(x)

        vote_rows = [
            (
                int(project_id),
                int(r.task_id),
                str(r.annotator),
                int(r.annotation_id),
                _s(r.tagscan_key),
                str(r.finding_id),
                str(r.sample_id),
                str(r.verdict),
                _s(r.comment),
                _s(r.updated_at),
                now,
            )
            for r in votes.itertuples(index=False)
        ]

        def _f(x: object) -> float | None:
            return None if pd.isna(x) else float(x)  # type: ignore[arg-type]

        summary_rows = [
            (
                model_key,
                str(r.finding_id),
                int(project_id),
                int(r.n_tasks),
                int(r.n_reviewed),
                int(r.n_votes),
                int(r.correct),
                int(r.wrong),
                int(r.harmful),
                int(r.unsure),
                _f(r.share_wrong),
                float(r.share_wrong_low),
                float(r.share_wrong_high),
                str(r.review_status),
                _s(r.last_reviewed_at),
                _s(r.last_run_id),
                now,
            )
            for r in summary.itertuples(index=False)
        ]
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM review_verdicts WHERE project_id = ?", (int(project_id),))
            db.executemany("INSERT OR REPLACE INTO review_verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?)", vote_rows)
            db.execute("DELETE FROM review_findings WHERE model_key = ?", (model_key,))
            db.executemany(
                "INSERT OR REPLACE INTO review_findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", summary_rows
            )

    def verdicts(self, project_id: int | None = None) -> pd.DataFrame:
        q = "SELECT * FROM review_verdicts" + (" WHERE project_id = ?" if project_id is not None else "")
        with closing(self._connect()) as db:
            return pd.read_sql_query(q + " ORDER BY task_id, annotator", db, params=(() if project_id is None else (int(project_id),)))

    def finding_comments(self, model_key: str, *, per_finding: int = 3, max_chars: int = 160) -> dict[str, list[str]]:
        """Reviewers' comments per finding of one model key: the latest ``per_finding`` distinct ones,
        each cut to ``max_chars`` characters (the full text stays in ``review_verdicts``)."""
        # a comment on a task counts for every finding the task serves (its links), as its verdict does
        rec = self.project(model_key)
        if rec is None:
            return {}
        q = (
            "SELECT COALESCE(l.finding_id, v.finding_id) AS fid, v.comment FROM review_verdicts v "
            f"LEFT JOIN ({_TASK_FINDINGS}) l ON l.task_id = v.task_id "
            "WHERE v.project_id = :pid AND v.comment IS NOT NULL AND TRIM(v.comment) != '' "
            "ORDER BY fid, COALESCE(v.updated_at, v.pulled_at) DESC"
        )
        out: dict[str, list[str]] = {}
        with closing(self._connect()) as db:
            for fid, comment in db.execute(q, {"pid": rec.project_id}):
                text = " ".join(str(comment).split())
                text = text if len(text) <= max_chars else text[: max_chars - 1] + "…"
                seen = out.setdefault(fid, [])
                if text not in seen and len(seen) < per_finding:
                    seen.append(text)
        return out

    def finding_reviews(self, model_key: str | None = None) -> pd.DataFrame:
        """The per-finding summaries of the last pull (of one model key, or all)."""
        q = "SELECT * FROM review_findings" + (" WHERE model_key = ?" if model_key is not None else "")
        with closing(self._connect()) as db:
            return pd.read_sql_query(q + " ORDER BY model_key, finding_id", db, params=(() if model_key is None else (model_key,)))
