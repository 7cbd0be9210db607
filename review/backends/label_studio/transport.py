"""HTTP to a Label Studio server: the only module that imports ``label_studio_sdk`` (SDK v2), inside its
functions, so that importing tagscan.review never loads it.

Measured against label-studio 1.23.2 (Community edition):

* ``projects.import_tasks(..., return_task_ids=True)`` is synchronous and returns the new ids in request
  order; it is never retried blindly here (``max_retries=0``): a retried import after a lost response
  would create duplicates. Interrupted imports are recovered by the service through the batch marker
  ``data.tagscan_batch`` (``filter:tasks:data.tagscan_batch`` equal), see ``ReviewStore``.
* Annotations come from the synchronous export ``JSON`` with ``download_all_tasks=False``: only annotated
  tasks, each with its data (``tagscan_key``) and full annotations including ``was_cancelled``.
  ``JSON_MIN`` is lighter but silently drops cancelled annotations and flattens the result.
* Listing every task (``tasks.list`` with ``include=id,data``) costs about 0.4 ms per task, so the
  service only does it when the server's task count disagrees with the store.

Failures become :class:`ReviewError` (exit code 3) with one line that says what to do. The API key is
held by the SDK client only; it is never logged, stored, or put in a message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tagscan.errors import ReviewError
from tagscan.review.backend import RemoteTask
from tagscan.review.backends.label_studio.codec import BATCH_FIELD, remote_task
from tagscan.review.backends.label_studio.urls import FILES_ROOT_ENV

__all__ = ["LabelStudioClient"]

log = logging.getLogger(__name__)

_NO_RETRY = {"max_retries": 0}
_KEY_CHUNK = 20  # keys per OR-filter request (keeps the query string short)


def _api_error() -> type[Exception]:
    from label_studio_sdk.core.api_error import ApiError

    return ApiError


def _detail(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        text = body.get("detail") or body.get("validation_errors") or body
    else:
        text = body
    text = " ".join(str(text).split())
    return text[:300]


class LabelStudioClient:
    """Label Studio's REST API as tagscan uses it: projects, task imports and look-ups, local storages,
    the annotation export.

    ``url`` is the server's base URL (``review.url``), ``api_key`` a legacy token or a personal access
    token, ``api_key_env`` the name of the environment variable it came from (only used in messages).
    No request is made until a method is called.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        api_key_env: str = "LABEL_STUDIO_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 2,
    ):
        self.url = url.rstrip("/")
        self.api_key_env = api_key_env
        if not api_key:
            raise ReviewError(
                f"no Label Studio API key: the environment variable {api_key_env} is empty or unset; "
                f"set {api_key_env} to your token (Label Studio: Account & Settings > Access Token)"
            )
        from label_studio_sdk import LabelStudio

        self._client = LabelStudio(base_url=self.url, api_key=api_key, timeout=timeout, max_retries=max_retries)

    def __repr__(self) -> str:  # never shows the key
        return f"LabelStudioClient(url={self.url!r}, api_key_env={self.api_key_env!r})"

    # -- error mapping -------------------------------------------------------------------------
    @contextmanager
    def _call(self, what: str, project_id: int | None = None) -> Iterator[None]:
        api_error = _api_error()
        try:
            yield
        except ReviewError:
            raise
        except httpx.TimeoutException as exc:
            raise ReviewError(
                f"Label Studio at {self.url} did not answer in time while trying to {what} "
                f"({type(exc).__name__}); check that the server is healthy (scripts/labelstudio.sh status) "
                "or fix review.url in the config"
            ) from exc
        except (httpx.TransportError, ConnectionError) as exc:
            raise ReviewError(
                f"Label Studio at {self.url} is unreachable ({type(exc).__name__}: {exc}); "
                "start it (scripts/labelstudio.sh start) or fix review.url in the config"
            ) from exc
        except api_error as exc:
            code = exc.status_code  # type: ignore[attr-defined]
            if code in (401, 403):
                raise ReviewError(
                    f"Label Studio at {self.url} rejected the API key from ${self.api_key_env} "
                    f"(HTTP {code}: {_detail(exc)}); set {self.api_key_env} to a valid token "
                    "(Label Studio: Account & Settings > Access Token)"
                ) from exc
            if code == 404 and project_id is not None:
                raise ReviewError(
                    f"Label Studio project {project_id} at {self.url} was deleted on the server; "
                    "run 'tagscan review push CONFIG --recreate' to push the findings into a new project"
                ) from exc
            if code == 404:
                raise ReviewError(
                    f"{self.url} answered HTTP 404 while trying to {what}; check that review.url is the base "
                    "address of a Label Studio server (e.g. http://127.0.0.1:8080)"
                ) from exc
            raise ReviewError(
                f"Label Studio at {self.url} failed to {what} (HTTP {code}: {_detail(exc)}); "
                "see the server log, then retry"
            ) from exc

    # -- projects ------------------------------------------------------------------------------
    def ensure_project(self, title: str, label_config: str) -> int:
        """The id of the project with exactly this title, created with ``label_config`` if absent."""
        with self._call(f"find or create the project '{title}'"):
            same = [p for p in self._client.projects.list(title=title, page_size=100) if p.title == title]
            if same:
                ids = sorted(int(p.id) for p in same)
                if len(ids) > 1:
                    log.warning("several Label Studio projects are titled %r (%s); using %d", title, ids, ids[0])
                log.info("using the existing Label Studio project %d %r", ids[0], title)
                return ids[0]
            project = self._client.projects.create(
                title=title,
                label_config=label_config,
                description="Review of tagscan findings: is the predicted label right for this input?",
                show_collab_predictions=True,
                request_options=_NO_RETRY,
            )
            log.info("created the Label Studio project %d %r", project.id, title)
            return int(project.id)

    def project_exists(self, project_id: int) -> bool:
        """Whether the project still exists on the server (False when it was deleted)."""
        try:
            with self._call(f"read project {project_id}"):
                self._client.projects.get(id=int(project_id))
        except ReviewError as exc:
            cause = exc.__cause__
            # Label Studio answers a JSON 404 for a missing project; anything else is not Label Studio
            if isinstance(cause, _api_error()) and cause.status_code == 404 and isinstance(cause.body, dict):  # type: ignore[attr-defined]
                return False
            raise
        return True

    def task_count(self, project_id: int) -> int:
        """How many tasks the project holds on the server."""
        with self._call(f"count the tasks of project {project_id}", project_id):
            return int(self._client.projects.get(id=int(project_id)).task_number or 0)

    # -- tasks ---------------------------------------------------------------------------------
    def import_tasks(self, project_id: int, tasks: Sequence[dict]) -> dict[str, int]:
        """Import tasks (each with ``data.tagscan_key``) in one request: ``{tagscan_key: task_id}``.

        Not idempotent (never retried): the service journals the batch first.
        """
        if not tasks:
            return {}
        keys = [t["data"]["tagscan_key"] for t in tasks]
        with self._call(f"import {len(tasks)} tasks into project {project_id}", project_id):
            resp = self._client.projects.import_tasks(
                id=int(project_id), request=list(tasks), return_task_ids=True, request_options=_NO_RETRY
            )
        ids = list(resp.task_ids or [])
        if len(ids) == len(keys):
            return dict(zip(keys, (int(i) for i in ids)))
        # Not the documented answer: look the tasks up instead of guessing which id is which.
        log.warning("import returned %d ids for %d tasks; looking the tasks up by key", len(ids), len(keys))
        return {t.tagscan_key: t.task_id for t in self.find_tasks_by_keys(project_id, keys)}

    def _filtered(self, project_id: int, items: list[dict], conjunction: str = "and") -> list[RemoteTask]:
        query = json.dumps({"filters": {"conjunction": conjunction, "items": items}})
        out = []
        for t in self._client.tasks.list(
            project=int(project_id), fields="task_only", include="id,data", page_size=1000, query=query
        ):
            rt = remote_task(t.id, t.data)
            if rt is not None:
                out.append(rt)
        return out

    def find_tasks_by_batch(self, project_id: int, batch_id: str) -> list[RemoteTask]:
        """The tasks whose ``data.tagscan_batch`` equals ``batch_id``."""
        item = {"filter": f"filter:tasks:data.{BATCH_FIELD}", "operator": "equal", "type": "String", "value": batch_id}
        with self._call(f"look up the tasks of import batch {batch_id} in project {project_id}", project_id):
            return self._filtered(project_id, [item])

    def find_tasks_by_keys(self, project_id: int, keys: Sequence[str]) -> list[RemoteTask]:
        """The tasks whose ``data.tagscan_key`` is one of ``keys``."""
        out: list[RemoteTask] = []
        keys = list(dict.fromkeys(keys))
        with self._call(f"look up {len(keys)} tasks by key in project {project_id}", project_id):
            for s in range(0, len(keys), _KEY_CHUNK):
                items = [
                    {"filter": "filter:tasks:data.tagscan_key", "operator": "equal", "type": "String", "value": k}
                    for k in keys[s : s + _KEY_CHUNK]
                ]
                out.extend(self._filtered(project_id, items, "or"))
        return out

    def list_tasks(self, project_id: int) -> list[RemoteTask]:
        """Every task of the project that carries a ``tagscan_key``."""
        with self._call(f"list the tasks of project {project_id}", project_id):
            out = []
            for t in self._client.tasks.list(project=int(project_id), fields="task_only", include="id,data", page_size=1000):
                rt = remote_task(t.id, t.data)
                if rt is not None:
                    out.append(rt)
            return out

    # -- images --------------------------------------------------------------------------------
    def attach_local_storage(self, project_id: int, path: str) -> None:
        """Let the project's tasks show images under the absolute folder ``path`` (idempotent)."""
        folder = Path(path)
        api_error = _api_error()
        with self._call(f"attach the local image folder {folder} to project {project_id}", project_id):
            for s in self._client.import_storage.local.list(project=int(project_id)):
                if s.path and (folder == Path(s.path) or Path(s.path) in folder.parents):
                    return
            try:
                self._client.import_storage.local.create(
                    project=int(project_id),
                    path=str(folder),
                    title=f"tagscan images {folder.name}"[:64],
                    request_options=_NO_RETRY,
                )
            except api_error as exc:
                if exc.status_code == 400:  # type: ignore[attr-defined]
                    raise ReviewError(
                        f"Label Studio at {self.url} refused to serve images from {folder} ({_detail(exc)}); "
                        f"start it with {FILES_ROOT_ENV} (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT) set to a "
                        "parent folder of the images and LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true"
                    ) from exc
                raise
            log.info("attached the local image folder %s to project %d", folder, project_id)

    # -- annotations ---------------------------------------------------------------------------
    def export_annotated_tasks(self, project_id: int) -> list[dict]:
        """The project's annotated tasks as the ``JSON`` export gives them (data and full annotations)."""
        with self._call(f"export the annotations of project {project_id}", project_id):
            raw = b"".join(
                self._client.projects.exports.download_sync(
                    int(project_id), export_type="JSON", download_all_tasks=False
                )
            )
        try:
            tasks = json.loads(raw or b"[]")
        except ValueError as exc:
            raise ReviewError(
                f"Label Studio at {self.url} sent an unreadable export of project {project_id} ({exc}); retry, "
                "and see the server log if it persists"
            ) from exc
        return list(tasks)

    # -- used by tests and benchmarks ----------------------------------------------------------
    @property
    def sdk(self) -> Any:
        """The underlying SDK client (tests create annotations and delete projects with it)."""
        return self._client
