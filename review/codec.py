"""The backend-neutral codec: findings -> review items, and reviewers' answers -> votes.

No I/O, no server shapes: a backend turns :class:`~tagscan.review.backend.ReviewItem` records into its own
payloads and decodes its answers into :class:`~tagscan.review.backend.AnnotationRecord` records (the Label
Studio codec is :mod:`tagscan.review.backends.label_studio.codec`).

Decisions
---------
* **One item per (finding, example sample).** A sample that illustrates two findings is reviewed twice,
  once per hypothesis, because the question differs ("is *this* label right here?"). Its stable key
  ``tagscan_key = sha1(model_key | finding_id | sample_id)`` makes pushes idempotent.
* **Four verdicts** (:data:`VERDICTS`): the label is correct, wrong, wrong and harmful, or the reviewer is
  unsure. An answer without a verdict, or a cancelled (skipped) one, is no vote.
* **Several answers per task**: each annotator has one vote per task, their latest non-cancelled answer
  that carries a verdict (ordered by ``updated_at``, then annotation id); different annotators' votes all
  count.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tagscan.constants import INPUT_KINDS
from tagscan.errors import DataError
from tagscan.review.backend import ReviewItem

__all__ = [
    "INPUT_KINDS",
    "VERDICTS",
    "VOTE_COLUMNS",
    "Verdict",
    "check_input_kind",
    "is_url",
    "review_items",
    "tagscan_key",
    "votes_from_annotations",
]

#: verdict codes in order of severity
VERDICTS = ("correct", "unsure", "wrong", "harmful")
#: columns of the votes table (one row per annotator and task that voted)
VOTE_COLUMNS = [
    "task_id",
    "tagscan_key",
    "finding_id",
    "sample_id",
    "annotator",
    "annotation_id",
    "updated_at",
    "verdict",
    "comment",
]


@dataclass(frozen=True)
class Verdict:
    """One answer read back: ``verdict`` is a code of :data:`VERDICTS` or None (no usable choice)."""

    verdict: str | None
    comment: str | None = None
    cancelled: bool = False


def check_input_kind(input_kind: str) -> None:
    """Raise :class:`DataError` unless ``input_kind`` is one of :data:`INPUT_KINDS`."""
    if input_kind not in INPUT_KINDS:
        raise DataError(f"input_kind must be one of {', '.join(INPUT_KINDS)}; got {input_kind!r}")


def tagscan_key(model_key: str, finding_id: str, sample_id: str) -> str:
    """The stable key of one review item: sha1 of ``model_key | finding_id | sample_id``."""
    return hashlib.sha1(f"{model_key}\x1f{finding_id}\x1f{sample_id}".encode()).hexdigest()


def is_url(value: str) -> bool:
    """Whether an image value is already a URL (http, https or data) rather than a file path."""
    return value.startswith(("http://", "https://", "data:"))


def _examples(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [str(v) for v in value if v is not None]
    raise DataError(f"findings 'examples' must hold lists of sample ids; found {type(value).__name__}: {value!r}")


def _text(value: object) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):  # NaN, pd.NA, NaT
            return None
    except (TypeError, ValueError):  # array-like: not a missing scalar
        pass
    return str(value)


def _score(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def review_items(
    findings_df: pd.DataFrame,
    samples_df: pd.DataFrame,
    *,
    input_kind: str,
    model_key: str,
    image_fn: Callable[[str], str] | None = None,
) -> list[ReviewItem]:
    """One :class:`ReviewItem` per review example of each finding, in findings order.

    ``findings_df`` has the findings columns (``finding_id``, ``label``, ``label_name``, ``group``,
    ``group_description``, ``severity``, ``severity_level``, ``examples``; ``detector`` and
    ``watch_category`` when present); ``samples_df`` has ``sample_id`` and the ``text`` or ``image``
    column. ``image_fn`` maps an image value to the item's input (the service resolves local paths with
    it); without it image values are kept as they are. A (finding, sample) pair listed twice gives one
    item. Raises :class:`DataError` when an example is not a sample or has no input.
    """
    check_input_kind(input_kind)
    need = ["finding_id", "label", "group", "severity", "examples"]
    missing = [c for c in need if c not in findings_df.columns]
    if missing:
        raise DataError(f"findings table lacks the column(s) {', '.join(missing)}; pass a findings table of a scan run")
    if "sample_id" not in samples_df.columns or input_kind not in samples_df.columns:
        raise DataError(
            f"samples table needs the columns 'sample_id' and '{input_kind}' to push {input_kind} reviews; "
            f"found {', '.join(map(str, samples_df.columns))}"
        )
    inputs = dict(zip(samples_df["sample_id"].astype(str), samples_df[input_kind]))
    to_input = image_fn if (image_fn is not None and input_kind == "image") else (lambda v: v)

    items: list[ReviewItem] = []
    seen: set[str] = set()
    for row in findings_df.to_dict("records"):
        fid = str(row["finding_id"])
        label = str(row["label"])
        label_name = _text(row.get("label_name")) or label
        group = str(row["group"])
        group_desc = _text(row.get("group_description")) or group
        severity = _score(row.get("severity"))
        level = _text(row.get("severity_level")) or ""
        extras = {k: (_text(row.get(k)) or None) for k in ("detector", "watch_category")}
        for sid in _examples(row["examples"]):
            key = tagscan_key(model_key, fid, sid)
            if key in seen:
                continue
            seen.add(key)
            if sid not in inputs:
                raise DataError(
                    f"finding {fid}: example sample '{sid}' is not in the samples table; "
                    "push the findings together with the samples of the same scan"
                )
            raw = _text(inputs[sid])
            if raw is None or raw == "":
                raise DataError(f"finding {fid}: sample '{sid}' has no {input_kind}; every review example needs one")
            items.append(
                ReviewItem(
                    tagscan_key=key,
                    model_key=model_key,
                    finding_id=fid,
                    sample_id=sid,
                    label=label,
                    label_name=label_name,
                    group=group,
                    group_description=group_desc,
                    severity=severity,
                    severity_level=level,
                    input_kind=input_kind,
                    input=to_input(raw),
                    **extras,
                )
            )
    return items


def votes_from_annotations(records: Iterable) -> pd.DataFrame:
    """One vote per (task, annotator): their latest non-cancelled answer with a verdict.

    ``records`` are :class:`tagscan.review.backend.AnnotationRecord` (or objects with the same
    attributes). Returns a DataFrame with :data:`VOTE_COLUMNS`, sorted by task and annotator.
    """
    best: dict[tuple[int, str], tuple[tuple[str, int], dict]] = {}
    for r in records:
        if r.cancelled or r.verdict is None:
            continue
        order = (str(r.updated_at or ""), int(r.annotation_id))
        k = (int(r.task_id), str(r.annotator))
        if k in best and best[k][0] >= order:
            continue
        best[k] = (
            order,
            {
                "task_id": int(r.task_id),
                "tagscan_key": r.tagscan_key,
                "finding_id": r.finding_id,
                "sample_id": r.sample_id,
                "annotator": str(r.annotator),
                "annotation_id": int(r.annotation_id),
                "updated_at": str(r.updated_at or ""),
                "verdict": r.verdict,
                "comment": r.comment,
            },
        )
    rows = [row for _, row in sorted(best.values(), key=lambda t: (t[1]["task_id"], t[1]["annotator"]))]
    out = pd.DataFrame(rows, columns=VOTE_COLUMNS, dtype=object)  # object: missing stays None
    return out.astype({"task_id": "int64", "annotation_id": "int64"})
