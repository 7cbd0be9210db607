"""The Label Studio review backend: tagscan's review items as Label Studio tasks.

It composes the pure codec (:mod:`.codec`: labeling config, task payloads, annotation parsing), the image
URL scheme (:mod:`.urls`: local files served through an attached local storage) and the HTTP client
(:mod:`.transport`, the only module that imports ``label_studio_sdk``; loaded when a backend is built).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tagscan.errors import ConfigError
from tagscan.review.backend import AnnotationRecord, RemoteTask, ReviewItem
from tagscan.review.backends.label_studio.codec import annotation_records, labeling_config, task_payloads
from tagscan.review.backends.label_studio.urls import FILES_ROOT_ENV, local_files_urls
from tagscan.review.backends.registry import register

if TYPE_CHECKING:
    from tagscan.config import ReviewConfig

__all__ = ["LabelStudioBackend"]


@register
class LabelStudioBackend:
    """A :class:`tagscan.review.backend.ReviewBackend` over a Label Studio server (``review.backend:
    label_studio``).

    ``url`` is the server's base URL (``review.url``), ``api_key`` a legacy token or a personal access
    token, ``api_key_env`` the name of the environment variable it came from (only used in messages),
    ``files_root`` the server's local-files document root (``TAGSCAN_LS_FILES_ROOT``), needed only to
    review local image files. No request is made until a method is called.
    """

    name: ClassVar[str] = "label_studio"
    display_name: ClassVar[str] = "Label Studio"

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        api_key_env: str = "LABEL_STUDIO_API_KEY",
        files_root: str | Path | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ):
        from tagscan.review.backends.label_studio.transport import LabelStudioClient

        self.client = LabelStudioClient(url, api_key, api_key_env=api_key_env, timeout=timeout, max_retries=max_retries)
        self.url = self.client.url
        self.api_key_env = api_key_env
        self.files_root = files_root

    @classmethod
    def from_config(
        cls, review: ReviewConfig, *, source: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> LabelStudioBackend:
        """The backend for ``review.url`` with the token from ``$<review.api_key_env>`` and the document
        root from ``$TAGSCAN_LS_FILES_ROOT``, both read from ``environ`` (default: the process environment)
        now. A missing token is the user's setup, not a failing service: :class:`ConfigError` (exit 2)."""
        env = os.environ if environ is None else environ
        key = env.get(review.api_key_env)
        if not (key or "").strip():
            where = source if source is not None else "the config"
            raise ConfigError(
                f"no Label Studio API key: the environment variable {review.api_key_env} (review.api_key_env in "
                f"{where}) is empty or unset; set it to your token (Label Studio: Account & Settings > Access Token)"
            )
        return cls(review.url, key, api_key_env=review.api_key_env, files_root=env.get(FILES_ROOT_ENV))

    def __repr__(self) -> str:  # never shows the key
        return f"LabelStudioBackend(url={self.url!r}, api_key_env={self.api_key_env!r})"

    # -- items -> tasks --------------------------------------------------------------------------
    def _images(self, items: Sequence[ReviewItem]):
        return local_files_urls((i.input for i in items if i.input_kind == "image"), files_root=self.files_root)

    def check_items(self, items: Sequence[ReviewItem]) -> None:
        self._images(items)

    def prepare_project(self, project_id: int, items: Sequence[ReviewItem]) -> None:
        for folder in self._images(items)[1]:
            self.client.attach_local_storage(project_id, str(folder))

    def send_items(self, project_id: int, items: Sequence[ReviewItem], *, batch_id: str) -> dict[str, int]:
        urls = self._images(items)[0]
        return self.client.import_tasks(project_id, task_payloads(items, image_url_fn=urls.__getitem__, batch_id=batch_id))

    # -- projects and tasks ----------------------------------------------------------------------
    def ensure_project(self, title: str, *, input_kind: str) -> int:
        return self.client.ensure_project(title, labeling_config(input_kind))

    def project_exists(self, project_id: int) -> bool:
        return self.client.project_exists(project_id)

    def task_count(self, project_id: int) -> int:
        return self.client.task_count(project_id)

    def find_tasks_by_batch(self, project_id: int, batch_id: str) -> list[RemoteTask]:
        return self.client.find_tasks_by_batch(project_id, batch_id)

    def find_tasks_by_keys(self, project_id: int, keys: Sequence[str]) -> list[RemoteTask]:
        return self.client.find_tasks_by_keys(project_id, keys)

    def list_tasks(self, project_id: int) -> list[RemoteTask]:
        return self.client.list_tasks(project_id)

    def fetch_annotations(self, project_id: int) -> list[AnnotationRecord]:
        return annotation_records(self.client.export_annotated_tasks(project_id))

    # -- Label Studio only (tests and benchmarks) --------------------------------------------------
    def import_tasks(self, project_id: int, tasks: Sequence[dict]) -> dict[str, int]:
        """Import ready-made Label Studio tasks (e.g. with annotations) in one request."""
        return self.client.import_tasks(project_id, tasks)

    def attach_local_storage(self, project_id: int, path: str) -> None:
        """Let the project's tasks show images under the absolute folder ``path`` (idempotent)."""
        self.client.attach_local_storage(project_id, path)

    @property
    def sdk(self) -> Any:
        """The underlying SDK client (tests create annotations and delete projects with it)."""
        return self.client.sdk
