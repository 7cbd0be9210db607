"""The interface between the review service and a review backend (a labelling server), in tagscan's terms.

The service (:mod:`tagscan.review.service`) hands a backend :class:`ReviewItem` records (one per finding and
example sample, built by :func:`tagscan.review.codec.review_items`), and gets back the server's ids for them
(:class:`RemoteTask`) and reviewers' answers decoded into verdicts (:class:`AnnotationRecord`). How an item
is shown, stored and identified on the server, and how answers are parsed, is the backend's business: the
service never sees a server payload. Backends are found by name in :mod:`tagscan.review.backends`
(``review.backend`` in the config).

A project (one per model key) and a task (one per item) are identified by integers on their server; the
workspace (:class:`tagscan.review.store.ReviewStore`) records them with the server's ``url``. Every method
that talks to the server raises :class:`tagscan.errors.ReviewError` (exit code 3) on failure, with a message
that says what to do; none of them logs or returns the API key. Tests inject faults by wrapping a real
backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tagscan.config import ReviewConfig

__all__ = ["AnnotationRecord", "RemoteTask", "ReviewBackend", "ReviewItem"]


@dataclass(frozen=True)
class ReviewItem:
    """One question for reviewers: is the predicted ``label`` right for this example sample?

    One item per (sample, label): ``tagscan_key`` (sha1 of model key, label and sample id) identifies it on
    every server, and its verdict counts for each finding of ``finding_ids`` (every finding that shows the
    pair, the most severe first: ``finding_id``, whose group, level and detector the item names; ``groups``
    are the findings' group descriptions in the same order). ``input`` is what the reviewer looks at: the
    text, the image as an http(s)/data URL or the absolute path of a local file, or (``input_kind``
    ``record``: a sample without text or image) the sample's record as ``column: value`` lines. ``link`` is
    the sample's ``review.link`` URL, ``record`` its ``review.show`` columns as (column, value) pairs.
    ``severity`` is the most severe finding's 0-100 score (None when undefined).
    """

    tagscan_key: str
    model_key: str
    finding_id: str
    sample_id: str
    label: str
    label_name: str
    group: str
    group_description: str
    severity: float | None
    severity_level: str
    input_kind: str
    input: str
    detector: str | None = None
    watch_category: str | None = None
    finding_ids: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    link: str | None = None
    record: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.finding_ids:  # an item built by hand for one finding
            object.__setattr__(self, "finding_ids", (self.finding_id,))
        if not self.groups:
            object.__setattr__(self, "groups", (self.group_description,))


@dataclass(frozen=True)
class RemoteTask:
    """A task as the server holds it, reduced to tagscan's identifiers."""

    task_id: int
    tagscan_key: str
    finding_id: str | None = None
    sample_id: str | None = None


@dataclass(frozen=True)
class AnnotationRecord:
    """One reviewer's answer on one task, decoded by the backend.

    ``verdict`` is a code of :data:`tagscan.review.codec.VERDICTS`, or None when the answer holds no usable
    choice; ``cancelled`` marks a skipped task (never a vote). ``updated_at`` is an ISO-8601 string: it
    orders one annotator's revisions.
    """

    task_id: int
    tagscan_key: str | None
    finding_id: str | None
    sample_id: str | None
    annotation_id: int
    annotator: str
    updated_at: str
    cancelled: bool
    verdict: str | None = None
    comment: str | None = None


@runtime_checkable
class ReviewBackend(Protocol):
    """What the review service needs from a review backend.

    ``name`` is the backend's key in the registry (``review.backend``), ``display_name`` how messages name
    its server (e.g. "Label Studio"), ``url`` the server's base address.
    """

    name: ClassVar[str]
    display_name: ClassVar[str]
    url: str

    @classmethod
    def from_config(
        cls, review: ReviewConfig, *, source: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> ReviewBackend:
        """The backend for the config's ``review`` section; secrets are read from ``environ`` (default:
        the process environment) now. ``source`` (the config file) is named in errors. Makes no request;
        raises :class:`tagscan.errors.ConfigError` when the setup is incomplete (e.g. no API key)."""

    def check_items(self, items: Sequence[ReviewItem]) -> None:
        """Raise :class:`tagscan.errors.DataError` when an item cannot be shown by this server (no request)."""

    def ensure_project(self, title: str, *, input_kind: str) -> int:
        """The id of the project with exactly this title, created for ``input_kind`` reviews if absent."""

    def project_exists(self, project_id: int) -> bool:
        """Whether the project still exists on the server (False when it was deleted)."""

    def prepare_project(self, project_id: int, items: Sequence[ReviewItem]) -> None:
        """Let the project show these items (e.g. give it access to their image folders); idempotent."""

    def task_count(self, project_id: int) -> int:
        """How many tasks the project holds on the server."""

    def send_items(self, project_id: int, items: Sequence[ReviewItem], *, batch_id: str) -> dict[str, int]:
        """Create one task per item, marked with ``batch_id``, in one request: ``{tagscan_key: task_id}``.

        Not idempotent: the caller journals the batch first (see ``ReviewStore.begin_batch``) and, after a
        crash, finds what arrived with :meth:`find_tasks_by_batch`.
        """

    def find_tasks_by_batch(self, project_id: int, batch_id: str) -> list[RemoteTask]:
        """The tasks created by :meth:`send_items` with this ``batch_id`` (recovery of an interrupted push)."""

    def find_tasks_by_keys(self, project_id: int, keys: Sequence[str]) -> list[RemoteTask]:
        """The tasks whose ``tagscan_key`` is one of ``keys``."""

    def list_tasks(self, project_id: int) -> list[RemoteTask]:
        """Every task of the project that carries a ``tagscan_key`` (full reconciliation)."""

    def fetch_annotations(self, project_id: int) -> list[AnnotationRecord]:
        """Every answer (cancelled ones flagged) on the project's tasks."""
