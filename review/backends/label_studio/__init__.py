"""The Label Studio review backend (``review.backend: label_studio``).

* :mod:`.backend`: :class:`LabelStudioBackend`, the :class:`~tagscan.review.backend.ReviewBackend`.
* :mod:`.codec` (pure): the labeling config, review items -> task payloads, exported annotations -> records.
* :mod:`.urls` (pure): local image files -> ``/data/local-files/`` URLs and the storage folders to attach.
* :mod:`.transport`: the HTTP client, the only module that imports ``label_studio_sdk``; it is loaded when
  a :class:`LabelStudioBackend` is built, not by importing this package.
"""

from tagscan.review.backends.label_studio.backend import LabelStudioBackend
from tagscan.review.backends.label_studio.codec import (
    CHOICE_FOR_VERDICT,
    annotation_records,
    labeling_config,
    parse_annotation,
    task_payload,
    task_payloads,
)
from tagscan.review.backends.label_studio.urls import FILES_ROOT_ENV, local_files_urls

__all__ = [
    "CHOICE_FOR_VERDICT",
    "FILES_ROOT_ENV",
    "LabelStudioBackend",
    "annotation_records",
    "labeling_config",
    "local_files_urls",
    "parse_annotation",
    "task_payload",
    "task_payloads",
]
