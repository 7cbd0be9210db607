"""The interface between the review service and a labelling server (Label Studio today).

The service (``tagscan.review.service``) only talks to a :class:`ReviewBackend`; the one implementation
that speaks HTTP is ``tagscan.review.label_studio.LabelStudioBackend``. Tests inject faults by wrapping a
real backend. Every method raises :class:`tagscan.errors.ReviewError` (exit code 3) on failure, with a
message that says what to do; none of them logs or returns the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["AnnotationRecord", "RemoteTask", "ReviewBackend"]


@dataclass(frozen=True)
class RemoteTask:
    """A task as the server holds it, reduced to tagscan's identifiers (from its data fields)."""

    task_id: int
    tagscan_key: str
    finding_id: str | None = None
    sample_id: str | None = None


@dataclass(frozen=True)
class AnnotationRecord:
    """One annotation of one task, as exported by the server.

    ``result`` is the Label Studio result list (``[{"from_name", "type", "value": {...}}, ...]``);
    ``updated_at`` an ISO-8601 string (it orders an annotator's revisions).
    """

    task_id: int
    tagscan_key: str | None
    finding_id: str | None
    sample_id: str | None
    annotation_id: int
    annotator: str
    updated_at: str
    cancelled: bool
    result: list = field(default_factory=list)


@runtime_checkable
class ReviewBackend(Protocol):
    """What the review service needs from a labelling server."""

    url: str

    def ensure_project(self, title: str, label_config: str) -> int:
        """The id of the project with exactly this title, created with ``label_config`` if absent."""

    def project_exists(self, project_id: int) -> bool:
        """Whether the project still exists on the server (False when it was deleted)."""

    def task_count(self, project_id: int) -> int:
        """How many tasks the project holds on the server."""

    def import_tasks(self, project_id: int, tasks: Sequence[dict]) -> dict[str, int]:
        """Import tasks (each with ``data.tagscan_key``) in one request: ``{tagscan_key: task_id}``.

        Not idempotent: the caller journals the batch first (see ``ReviewStore.begin_batch``).
        """

    def find_tasks_by_batch(self, project_id: int, batch_id: str) -> list[RemoteTask]:
        """The tasks whose ``data.tagscan_batch`` equals ``batch_id`` (recovery of an interrupted push)."""

    def find_tasks_by_keys(self, project_id: int, keys: Sequence[str]) -> list[RemoteTask]:
        """The tasks whose ``data.tagscan_key`` is one of ``keys``."""

    def list_tasks(self, project_id: int) -> list[RemoteTask]:
        """Every task of the project that carries a ``tagscan_key`` (full reconciliation)."""

    def attach_local_storage(self, project_id: int, path: str) -> None:
        """Let the project's tasks show images under the absolute folder ``path`` (idempotent)."""

    def fetch_annotations(self, project_id: int) -> list[AnnotationRecord]:
        """Every annotation (cancelled ones flagged) of the project's annotated tasks."""
