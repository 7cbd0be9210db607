"""tagscan.review: send the examples behind findings to reviewers and pull their verdicts back.

* :mod:`~tagscan.review.codec` (pure): findings -> review items, the verdict vocabulary, answers -> votes.
* :mod:`~tagscan.review.aggregate` (pure): votes -> per-finding counts, share judged wrong, status.
* :mod:`~tagscan.review.backend`: the :class:`ReviewBackend` protocol and the records it exchanges.
* :mod:`~tagscan.review.backends`: the backends behind a registry, selected by ``review.backend``
  (``label_studio``: everything Label Studio-specific, the only place that imports ``label_studio_sdk``,
  loaded when a backend is built, not by importing this package).
* :mod:`~tagscan.review.store`: tagscan's own keys, journal and verdicts in the workspace's SQLite file.
* :mod:`~tagscan.review.service`: ``push`` (idempotent, crash-safe) and ``pull``.
"""

from __future__ import annotations

from tagscan.review.aggregate import REVIEW_COLUMNS, REVIEW_STATUSES, aggregate_votes
from tagscan.review.backend import AnnotationRecord, RemoteTask, ReviewBackend, ReviewItem
from tagscan.review.backends import available_backends, backend_from_config, get_backend
from tagscan.review.codec import (
    VERDICTS,
    VOTE_COLUMNS,
    Verdict,
    review_items,
    tagscan_key,
    votes_from_annotations,
)
from tagscan.review.service import PULL_COLUMNS, PushReceipt, pull, push
from tagscan.review.store import DEFAULT_LOCK_TIMEOUT, ReviewStore

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "PULL_COLUMNS",
    "REVIEW_COLUMNS",
    "REVIEW_STATUSES",
    "VERDICTS",
    "VOTE_COLUMNS",
    "AnnotationRecord",
    "PushReceipt",
    "RemoteTask",
    "ReviewBackend",
    "ReviewItem",
    "ReviewStore",
    "Verdict",
    "aggregate_votes",
    "available_backends",
    "backend_from_config",
    "get_backend",
    "pull",
    "push",
    "review_items",
    "tagscan_key",
    "votes_from_annotations",
]
