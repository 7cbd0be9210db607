"""Push findings to reviewers and pull their verdicts back: the review loop's two library calls.

The service speaks in tagscan's terms only: it builds review items (:func:`~tagscan.review.codec.review_items`),
keeps its own record of projects, tasks and verdicts (:class:`~tagscan.review.store.ReviewStore`), and asks a
:class:`~tagscan.review.backend.ReviewBackend` (selected by ``review.backend``) to create and find tasks and
to fetch answers; what a task looks like on the server is the backend's business.

``push`` is idempotent and crash-safe:

1. the review items are built (and the inputs validated, by the service and the backend) before any request;
2. the project recorded for the model key is checked on the server (on another server URL it is looked up
   by title instead: an id means nothing elsewhere). If it was **deleted there**, push
   stops with a :class:`ReviewError` (exit 3) and changes nothing, unless ``recreate=True``: then a new
   project is made and, once the server has answered, the old project's task keys are forgotten (pulled
   verdicts stay). Silently
   recreating would hide that every reviewer's work in the deleted project is gone;
3. imports journalled but never recorded (a crash or a failure between the import request and the
   store's commit) are looked up on the server by their batch marker and recorded, not imported again;
4. when the server's task count differs from the store's, every task key is listed and the store is
   reconciled: tasks the server has are recorded, recorded tasks deleted on the server are pushed again;
5. the remaining tasks are imported in batches of ``batch_size``; each batch is journalled before its
   request and recorded in one transaction right after it returns.

So pushing twice, or again after a crash at any point, creates no duplicate and loses no task.

Pushes are also safe to run **at the same time** (two CI jobs pushing the same model, say). Steps 1-4 run
under the model key's review lock in the workspace (:meth:`ReviewStore.lock`, an OS file lock), so two
pushes never both decide a task is missing and both import it. A push that finds the lock taken logs
that it waits (naming the holder) and waits up to ``lock_timeout`` seconds (default 300): when the other
push finishes, it finds every task present and creates nothing. After the timeout it stops with a
one-line :class:`UsageError` (exit 2) naming the workspace, the holder and the fix, having changed
nothing. A holder that crashes or is killed releases the lock with its process, so nothing is left to
clean up. The inputs are validated before waiting. The lock covers one workspace: pushes of the same
model from two workspaces (two machines) are not serialised.

``pull`` fetches the answers, reduces them to votes (``codec``), aggregates them per finding
(``aggregate``), and stores votes and summaries in one transaction. It takes the same lock (with the
same timeout): its writes are atomic on their own, but a pull in the middle of a push would record that
push's half-recorded task list (short task counts per finding until the next pull).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tagscan.errors import DataError, ReviewError, UsageError
from tagscan.review.aggregate import REVIEW_COLUMNS, aggregate_votes
from tagscan.review.backend import ReviewBackend, ReviewItem
from tagscan.review.codec import is_url, legacy_key, review_items, votes_from_annotations
from tagscan.review.store import DEFAULT_LOCK_TIMEOUT, ProjectRecord, ReviewStore, TaskRow

__all__ = ["PULL_COLUMNS", "PushReceipt", "pull", "push", "resolve_images"]

log = logging.getLogger(__name__)

# What pull returns: the aggregation's columns, with the number of tasks pushed and the run they came from.
PULL_COLUMNS = [REVIEW_COLUMNS[0], "n_tasks", *REVIEW_COLUMNS[1:], "last_run_id"]


@dataclass(frozen=True)
class PushReceipt:
    """What a push did. ``created`` tasks were imported now; ``already_present`` were on the server
    before (``recovered`` of them found there after an interrupted push and recorded now)."""

    project_id: int
    created: int
    already_present: int
    recovered: int = 0
    recreated: bool = False
    n_tasks: int = 0


def resolve_images(images: Iterable, *, image_root: str | Path | None) -> dict[str, str]:
    """Map image values to what a review item shows: URLs (http, https, data) as they are, file paths as
    absolute paths of existing files (relative ones under ``image_root``, the samples table's folder).

    Raises :class:`DataError` naming the image and the fix.
    """
    mapping: dict[str, str] = {}
    for raw in dict.fromkeys(str(v) for v in images if pd.notna(v)):
        if is_url(raw):
            mapping[raw] = raw
            continue
        p = Path(raw)
        if not p.is_absolute():
            if image_root is None:
                raise DataError(f"image '{raw}' is a relative path and no image_root was given; pass the samples table's folder")
            p = Path(image_root) / p
        p = p.resolve()
        if not p.is_file():
            raise DataError(f"image '{raw}' ({p}) is not a file; fix the samples table's image column")
        mapping[raw] = str(p)
    return mapping


def _batches(items: list, size: int):
    for s in range(0, len(items), size):
        yield items[s : s + size]


def push(
    findings: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    backend: ReviewBackend,
    store: ReviewStore,
    model_key: str,
    project_title: str,
    input_kind: str,
    run_id: str | None,
    image_root: str | Path | None = None,
    batch_size: int = 500,
    recreate: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    link: str | None = None,
    show: list[str] | None = None,
) -> PushReceipt:
    """Send one task per (example sample, label) of the findings to the model's review project (idempotent);
    each task serves every finding that shows its pair.

    ``input_kind`` is the samples' kind (``text``, ``image``, or ``record`` for samples without either);
    relative image paths are read under ``image_root`` (the samples table's folder). ``link`` and ``show``
    (``review.link``, ``review.show``) add the sample's link and columns (:func:`review_items`). Raises :class:`DataError` for bad inputs (before any
    request; the backend checks that it can show every item) and :class:`ReviewError` (exit 3) when the
    server is unreachable, rejects the key, or lost the project (see the module notes); holds the model's
    review lock throughout, waiting up to ``lock_timeout`` seconds for another push or pull to finish
    (:class:`UsageError` after that).
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1; got {batch_size}")
    if not lock_timeout >= 0:
        raise UsageError(f"lock_timeout must be a number of seconds >= 0; got {lock_timeout}")
    image_fn = None
    if input_kind == "image" and "image" in samples.columns:
        wanted = {str(s) for ex in findings.get("examples", pd.Series(dtype=object)) for s in _as_list(ex)}
        images = samples.loc[samples["sample_id"].astype(str).isin(wanted), "image"].dropna()
        image_fn = resolve_images(images, image_root=image_root).__getitem__
    items = review_items(
        findings, samples, input_kind=input_kind, model_key=model_key, image_fn=image_fn, link=link, show=show
    )
    backend.check_items(items)
    with store.lock(model_key, timeout=lock_timeout, purpose="push"):
        return _push_locked(
            items,
            backend=backend,
            store=store,
            model_key=model_key,
            project_title=project_title,
            input_kind=input_kind,
            run_id=run_id,
            batch_size=batch_size,
            recreate=recreate,
        )


def _push_locked(
    items: list[ReviewItem],
    *,
    backend: ReviewBackend,
    store: ReviewStore,
    model_key: str,
    project_title: str,
    input_kind: str,
    run_id: str | None,
    batch_size: int,
    recreate: bool,
) -> PushReceipt:
    """Steps 1-4 of the module notes; the caller holds the model's review lock."""
    meta = {i.tagscan_key: i for i in items}

    # 1. the project
    recreated = False
    rec = store.project(model_key)
    if rec is not None and rec.server_url.rstrip("/") != backend.url.rstrip("/"):
        # A project id only means something on its own server: look the project up by title on this one
        # (save_project then drops the old server's task keys; the reconciliation below records the tasks
        # this server already holds). Nothing is written before the server has answered.
        log.warning(
            "model '%s' was pushed to %s, now to %s: finding its project by title", model_key, rec.server_url, backend.url
        )
        rec = None
    if rec is not None and not backend.project_exists(rec.project_id):
        if not recreate:
            raise ReviewError(
                f"{backend.display_name} project {rec.project_id} ('{rec.title}') at {backend.url} was deleted on the server "
                f"with the review tasks of model '{model_key}'; run 'tagscan review push CONFIG --recreate' to push "
                "the findings into a new project (verdicts pulled before are kept)"
            )
        log.warning("project %d was deleted on the server; creating a new one (--recreate)", rec.project_id)
        rec, recreated = None, True
    if rec is None:
        pid = backend.ensure_project(project_title, input_kind=input_kind)
        store.save_project(model_key, pid, title=project_title, server_url=backend.url, input_kind=input_kind)
    else:
        pid = rec.project_id
        if rec.input_kind != input_kind:
            raise UsageError(
                f"model '{model_key}' was pushed as {rec.input_kind} reviews to project {pid}; "
                f"it cannot take {input_kind} reviews (use another model key or project title)"
            )
    backend.prepare_project(pid, items)

    # 2. recover imports that were journalled but never recorded
    recovered = 0
    for batch_id, rows in store.pending_batches(pid).items():
        found = {t.tagscan_key: t.task_id for t in backend.find_tasks_by_batch(pid, batch_id)}
        n = store.finish_batch(pid, batch_id, found)
        recovered += n
        log.warning(
            "an earlier push was interrupted: %d of the %d tasks of its batch %s were on the server (recorded now)",
            len(found), len(rows), batch_id,
        )

    # 3. reconcile with the server when the counts disagree
    known = store.task_ids(pid)
    n_server = backend.task_count(pid)
    if n_server != len(known):
        log.info("reconciling: the server holds %d tasks, the workspace knows %d", n_server, len(known))
        remote: dict[str, int] = {}
        info: dict[str, tuple[str | None, str | None]] = {}
        for t in backend.list_tasks(pid):
            if t.tagscan_key in remote:
                log.warning("task %d duplicates task %d (key %s) on the server", t.task_id, remote[t.tagscan_key], t.tagscan_key)
                if t.task_id > remote[t.tagscan_key]:
                    continue
            remote[t.tagscan_key] = t.task_id
            info[t.tagscan_key] = (t.finding_id, t.sample_id)
        gone = [k for k in known if k not in remote]
        if gone:
            log.warning("%d recorded tasks were deleted on the server; they are pushed again", len(gone))
            store.drop_tasks(pid, gone)
        adopt = []
        for k, tid in remote.items():
            if k in known:
                continue
            fid, sid = info[k]
            if k in meta:
                fid, sid = meta[k].finding_id, meta[k].sample_id
            if fid is None or sid is None:
                continue
            adopt.append(TaskRow(k, fid, sid, run_id if k in meta else None, tid))
        recovered += store.record_tasks(pid, adopt)
        known = store.task_ids(pid)

    # 4. import what is missing, batch by batch, journalled. A workspace pushed before tasks were per (sample,
    # label) knows one task per (finding, sample): such a task stands for its pair, no second task is made.
    alias = _legacy_aliases(items, known, model_key)
    todo = [i for i in items if i.tagscan_key not in known and i.tagscan_key not in alias]
    created = 0
    for chunk in _batches(todo, batch_size):
        batch_id = uuid.uuid4().hex
        rows = [TaskRow(i.tagscan_key, i.finding_id, i.sample_id, run_id) for i in chunk]
        store.begin_batch(pid, batch_id, rows)
        ids = backend.send_items(pid, chunk, batch_id=batch_id)
        created += store.finish_batch(pid, batch_id, ids)
        log.info("imported %d/%d tasks into project %d", created, len(todo), pid)

    # 5. each task serves every finding that shows its (sample, label) pair, this run's included
    known = store.task_ids(pid)
    links = [(alias.get(i.tagscan_key, i.tagscan_key), f, run_id) for i in items for f in i.finding_ids]
    linked = store.link_findings(pid, [lk for lk in links if lk[0] in known])
    if linked:
        log.info("linked %d (task, finding) pairs: their verdicts count for those findings too", linked)
    receipt = PushReceipt(
        project_id=pid,
        created=created,
        already_present=len(items) - len(todo),
        recovered=recovered,
        recreated=recreated,
        n_tasks=len(items),
    )
    log.info("push: %s", receipt)
    return receipt


def _legacy_aliases(items: list[ReviewItem], known: dict[str, int], model_key: str) -> dict[str, str]:
    """``{pair key: key of a recorded per-(finding, sample) task}`` for the items not yet pushed as pairs."""
    out: dict[str, str] = {}
    for i in items:
        if i.tagscan_key in known:
            continue
        for f in i.finding_ids:
            k = legacy_key(model_key, f, i.sample_id)
            if k in known:
                out[i.tagscan_key] = k
                break
    return out


def _as_list(v: object) -> list:
    if v is None or isinstance(v, float):
        return []
    if isinstance(v, str):
        return [v]
    return list(v)  # type: ignore[call-overload]


def pull(
    *,
    backend: ReviewBackend,
    store: ReviewStore,
    project_id: int | None = None,
    model_key: str | None = None,
    min_verdicts: int = 3,
    dismiss_max_wrong: float = 0.35,
    confidence: float = 0.95,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> pd.DataFrame:
    """Fetch the project's annotations and return (and store) one row per pushed finding, :data:`PULL_COLUMNS`.

    Give ``model_key`` or ``project_id`` (of a project pushed from this workspace). Raises
    :class:`ReviewError` when the server fails or the project was deleted; the store keeps the previous
    pull's verdicts in that case. Holds the model's review lock like :func:`push` (``lock_timeout``).
    ``min_verdicts`` and ``dismiss_max_wrong`` (``review.*``) decide when a finding is dismissed
    (:func:`~tagscan.review.aggregate.aggregate_votes`).
    """
    rec = _pushed_project(store, model_key, project_id)
    with store.lock(rec.model_key, timeout=lock_timeout, purpose="pull"):
        # a push may have replaced the project while this pull waited for the lock
        rec = _pushed_project(store, model_key, project_id)
        return _pull_locked(
            rec, backend=backend, store=store, min_verdicts=min_verdicts, dismiss_max_wrong=dismiss_max_wrong,
            confidence=confidence,
        )


def _pushed_project(store: ReviewStore, model_key: str | None, project_id: int | None) -> ProjectRecord:
    rec = store.project(model_key) if model_key is not None else None
    if rec is None and project_id is not None:
        rec = store.project_by_id(project_id)
    if rec is None or (project_id is not None and rec.project_id != int(project_id)):
        what = f"model '{model_key}'" if model_key is not None else f"project {project_id}"
        raise UsageError(f"nothing was pushed for {what} from this workspace; run 'tagscan review push CONFIG' first")
    return rec


def _pull_locked(
    rec: ProjectRecord, *, backend: ReviewBackend, store: ReviewStore, min_verdicts: int, dismiss_max_wrong: float,
    confidence: float,
) -> pd.DataFrame:
    """The body of :func:`pull`; the caller holds the model's review lock."""
    pid = rec.project_id
    if not backend.project_exists(pid):
        raise ReviewError(
            f"{backend.display_name} project {pid} ('{rec.title}') at {backend.url} was deleted on the server; the verdicts "
            "pulled before are kept in the workspace; run 'tagscan review push CONFIG --recreate' to review again"
        )
    records = backend.fetch_annotations(pid)
    votes = votes_from_annotations(records)

    tasks = store.tasks(pid)
    by_key = tasks.set_index("tagscan_key")[["finding_id", "sample_id"]]
    known = votes["tagscan_key"].isin(by_key.index)
    votes.loc[known, "finding_id"] = by_key.loc[votes.loc[known, "tagscan_key"], "finding_id"].to_numpy()
    votes.loc[known, "sample_id"] = by_key.loc[votes.loc[known, "tagscan_key"], "sample_id"].to_numpy()
    orphan = votes["finding_id"].isna() | votes["sample_id"].isna()
    if orphan.any():
        log.warning("ignoring %d votes on tasks that tagscan did not create", int(orphan.sum()))
        votes = votes[~orphan].reset_index(drop=True)

    # A task is one (sample, label) pair: its votes count for every finding it serves.
    links = store.task_findings(pid)
    per_finding = votes.merge(
        links[["tagscan_key", "finding_id"]].rename(columns={"finding_id": "_served"}), on="tagscan_key", how="left"
    )  # a task the store does not know keeps the finding its data names
    per_finding["finding_id"] = per_finding["_served"].where(per_finding["_served"].notna(), per_finding["finding_id"])
    per_finding = per_finding.drop(columns="_served")
    summary = aggregate_votes(
        per_finding, finding_ids=links["finding_id"].unique(), min_verdicts=min_verdicts,
        dismiss_max_wrong=dismiss_max_wrong, confidence=confidence,
    )
    tasks = links  # n_tasks and the last run per finding count the tasks each finding is served by
    n_tasks = tasks.groupby("finding_id").size()
    # pushed_at is to the second: ties keep the store's task order (task ids grow with each push), so two pushes
    # within one second still name the later run; pandas 2 sorts object strings with an unstable quicksort.
    last_run = tasks.dropna(subset=["run_id"]).sort_values("pushed_at", kind="stable").groupby("finding_id")["run_id"].last()
    summary["n_tasks"] = summary["finding_id"].map(n_tasks).fillna(0).astype("int64")
    summary["last_run_id"] = summary["finding_id"].map(last_run)
    summary["last_run_id"] = summary["last_run_id"].astype(object).where(summary["last_run_id"].notna(), None)
    summary = summary[PULL_COLUMNS]
    store.save_review(rec.model_key, pid, votes, summary)
    counts = summary["review_status"].value_counts().to_dict()
    log.info("pull: %d votes on %d findings: %s", len(votes), len(summary), counts)
    return summary
