"""tagscan.review: send the examples behind findings to reviewers and pull their verdicts back.

* :mod:`~tagscan.review.codec` (pure): labeling config, findings -> tasks, annotations -> votes.
* :mod:`~tagscan.review.aggregate` (pure): votes -> per-finding counts, share judged wrong, status.
* :mod:`~tagscan.review.backend`: the :class:`ReviewBackend` protocol.
* :mod:`~tagscan.review.label_studio`: the Label Studio implementation, the only module that imports
  ``label_studio_sdk``; it is loaded on first use of ``LabelStudioBackend``, not by importing this package.
* :mod:`~tagscan.review.store`: tagscan's own keys, journal and verdicts in the workspace's SQLite file.
* :mod:`~tagscan.review.service`: ``push`` (idempotent, crash-safe) and ``pull``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagscan.review.aggregate import REVIEW_COLUMNS, REVIEW_STATUSES, aggregate_votes
from tagscan.review.backend import AnnotationRecord, RemoteTask, ReviewBackend
from tagscan.review.codec import (
    VERDICTS,
    Verdict,
    finding_to_tasks,
    labeling_config,
    parse_annotation,
    tagscan_key,
    votes_from_annotations,
)
from tagscan.review.service import PULL_COLUMNS, PushReceipt, pull, push
from tagscan.review.store import ReviewStore

if TYPE_CHECKING:
    from tagscan.review.label_studio import LabelStudioBackend

__all__ = [
    "PULL_COLUMNS",
    "REVIEW_COLUMNS",
    "REVIEW_STATUSES",
    "VERDICTS",
    "AnnotationRecord",
    "LabelStudioBackend",
    "PushReceipt",
    "RemoteTask",
    "ReviewBackend",
    "ReviewStore",
    "Verdict",
    "aggregate_votes",
    "finding_to_tasks",
    "labeling_config",
    "parse_annotation",
    "pull",
    "push",
    "tagscan_key",
    "votes_from_annotations",
]


def __getattr__(name: str) -> Any:
    if name == "LabelStudioBackend":
        from tagscan.review.label_studio import LabelStudioBackend

        return LabelStudioBackend
    raise AttributeError(f"module 'tagscan.review' has no attribute {name!r}")
