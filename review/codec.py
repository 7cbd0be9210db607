"""The backend-neutral codec: findings -> review items, and reviewers' answers -> votes.

No I/O, no server shapes: a backend turns :class:`~tagscan.review.backend.ReviewItem` records into its own
payloads and decodes its answers into :class:`~tagscan.review.backend.AnnotationRecord` records (the Label
Studio codec is :mod:`tagscan.review.backends.label_studio.codec`).

Decisions
---------
* **One item per (sample, label).** The question a reviewer answers, "is the predicted label right for this
  input?", depends on the sample and the label only, not on the group a finding tested: a sample that
  illustrates several findings of one label (``gorilla`` on ``tone=dark`` and on ``tone=dark & gender=man``)
  is reviewed once, and its verdict counts for every finding that shows it (``finding_ids``; the first is
  the most severe, in findings order). Its stable key ``tagscan_key = sha1(model_key | label | sample_id)``
  makes pushes idempotent.
* **What the reviewer sees** is the sample's input: its text, its image, or, for samples with neither (an
  audit from the user's own vectors), a *record*: a link built from ``review.link`` (a template over sample
  columns, ``https://photos.example/{sample_id}``) and the columns of ``review.show`` (default: every
  attribute column). Text and image items carry the link and the record too.
* **Four verdicts** (:data:`VERDICTS`): the label is correct, wrong, wrong and harmful, or the reviewer is
  unsure. An answer without a verdict, or a cancelled (skipped) one, is no vote.
* **Several answers per task**: each annotator has one vote per task, their latest non-cancelled answer
  that carries a verdict (ordered by ``updated_at``, then annotation id); different annotators' votes all
  count.
"""

from __future__ import annotations

import hashlib
import math
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pandas as pd

from tagscan.constants import INPUT_KINDS
from tagscan.errors import ConfigError, DataError
from tagscan.review.backend import ReviewItem

__all__ = [
    "INPUT_KINDS",
    "REVIEW_KINDS",
    "fill_link",
    "legacy_key",
    "link_fields",
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


#: what a review item shows: an input kind, or ``record`` (a sample without text or image: link and columns)
REVIEW_KINDS: tuple[str, ...] = (*INPUT_KINDS, "record")


def check_input_kind(input_kind: str) -> None:
    """Raise :class:`DataError` unless ``input_kind`` is one of :data:`REVIEW_KINDS`."""
    if input_kind not in REVIEW_KINDS:
        raise DataError(f"input_kind must be one of {', '.join(REVIEW_KINDS)}; got {input_kind!r}")


def tagscan_key(model_key: str, label: str, sample_id: str) -> str:
    """The stable key of one review item, a (sample, label) pair: sha1 of ``model_key | label | sample_id``."""
    return hashlib.sha1(f"{model_key}\x1flabel\x1f{label}\x1f{sample_id}".encode()).hexdigest()


def legacy_key(model_key: str, finding_id: str, sample_id: str) -> str:
    """The key of a task pushed before tasks were per (sample, label): sha1 of ``model_key | finding_id |
    sample_id`` (one task per finding and example). A push finds such tasks and lets them stand for their
    pair instead of creating a second task for it."""
    return hashlib.sha1(f"{model_key}\x1f{finding_id}\x1f{sample_id}".encode()).hexdigest()


def link_fields(template: str) -> list[str]:
    """The sample columns a ``review.link`` template names (``{sample_id}`` -> ``['sample_id']``), in order.

    Raises :class:`ValueError` for a template :meth:`str.format` cannot fill (unbalanced braces, a
    positional ``{}``, an attribute or index such as ``{a.b}``)."""
    fields: list[str] = []
    for _, name, _spec, _conv in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or any(c in name for c in ".[]"):
            raise ValueError(f"placeholder {{{name}}} must name a sample column, e.g. {{sample_id}}")
        if name not in fields:
            fields.append(name)
    return fields


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


def _check_columns(samples_df: pd.DataFrame, link: str | None, show: Sequence[str] | None) -> list[str]:
    """The record columns (``show``, or every attribute column); ConfigError for a ``review.link`` placeholder
    or a ``review.show`` entry that is not a samples column."""
    cols = [str(c) for c in samples_df.columns]
    if link is not None:
        try:
            fields = link_fields(link)
        except ValueError as exc:
            raise ConfigError(f"review.link {link!r}: {exc}") from exc
        for f in fields:
            if f not in cols:
                raise ConfigError(
                    f"review.link {link!r} names the column '{f}', which the samples table does not have "
                    f"(columns: {', '.join(cols)}); use one of those columns in the template"
                )
    if show is None:
        return [c for c in cols if c not in ("sample_id", *INPUT_KINDS)]
    for c in show:
        if c not in cols:
            raise ConfigError(
                f"review.show lists '{c}', which is not a column of the samples table (columns: {', '.join(cols)}); "
                "remove it or add the column"
            )
    return [str(c) for c in show]


def fill_link(template: str, row: Mapping) -> str:
    """The template with each placeholder replaced by the sample's value, percent-encoded where a URL
    cannot hold it (spaces, quotes, non-ASCII); reserved characters and existing %-escapes are kept."""
    values = {k: quote("" if _text(v) is None else str(v), safe="/:?&=#+@!$'()*,;~%") for k, v in row.items()}
    return template.format_map(values)


def review_items(
    findings_df: pd.DataFrame,
    samples_df: pd.DataFrame,
    *,
    input_kind: str,
    model_key: str,
    image_fn: Callable[[str], str] | None = None,
    link: str | None = None,
    show: Sequence[str] | None = None,
) -> list[ReviewItem]:
    """One :class:`ReviewItem` per (example sample, label) of the findings, in findings order.

    ``findings_df`` has the findings columns (``finding_id``, ``label``, ``label_name``, ``group``,
    ``group_description``, ``severity``, ``severity_level``, ``examples``; ``detector`` and
    ``watch_category`` when present); ``samples_df`` has ``sample_id`` and the ``text`` or ``image``
    column (``record``: only ``sample_id``). An item lists every finding that shows its pair
    (``finding_ids``, the most severe first; its ``severity`` is theirs). ``image_fn`` maps an image value
    to the item's input (the service resolves local paths with it); without it image values are kept as
    they are. ``link`` (``review.link``) is a template over sample columns, ``show`` (``review.show``) the
    columns shown as the sample's record (default: every attribute column). Raises :class:`DataError`
    when an example is not a sample or has no input, :class:`ConfigError` when ``link`` or ``show`` names
    a column the samples do not have.
    """
    check_input_kind(input_kind)
    need = ["finding_id", "label", "group", "severity", "examples"]
    missing = [c for c in need if c not in findings_df.columns]
    if missing:
        raise DataError(f"findings table lacks the column(s) {', '.join(missing)}; pass a findings table of a scan run")
    if "sample_id" not in samples_df.columns or (input_kind != "record" and input_kind not in samples_df.columns):
        raise DataError(
            f"samples table needs the columns 'sample_id' and '{input_kind}' to push {input_kind} reviews; "
            f"found {', '.join(map(str, samples_df.columns))}"
        )
    record_cols = _check_columns(samples_df, link, show)
    rows = {str(r["sample_id"]): r for r in samples_df.to_dict("records")}
    to_input = image_fn if (image_fn is not None and input_kind == "image") else (lambda v: v)

    pairs: dict[str, dict] = {}  # tagscan_key -> the pair's findings, in findings order
    for row in findings_df.to_dict("records"):
        fid = str(row["finding_id"])
        label = str(row["label"])
        for sid in _examples(row["examples"]):
            if sid not in rows:
                raise DataError(
                    f"finding {fid}: example sample '{sid}' is not in the samples table; "
                    "push the findings together with the samples of the same scan"
                )
            key = tagscan_key(model_key, label, sid)
            pair = pairs.setdefault(key, {"sid": sid, "findings": []})
            if all(str(f["finding_id"]) != fid for f in pair["findings"]):
                pair["findings"].append(row)

    items: list[ReviewItem] = []
    for key, pair in pairs.items():
        sid, shown = pair["sid"], pair["findings"]
        sev = [_score(f.get("severity")) for f in shown]
        top = max(range(len(shown)), key=lambda i: (-1.0 if sev[i] is None else sev[i], -i))
        main = shown[top]
        order = [main, *(f for i, f in enumerate(shown) if i != top)]
        sample = rows[sid]
        record = tuple((c, v) for c in record_cols if (v := _text(sample.get(c))) is not None and v != "")
        url = fill_link(link, sample) if link is not None else None
        if input_kind == "record":
            shown_input = "\n".join(f"{c}: {v}" for c, v in record) or f"sample {sid}"
        else:
            raw = _text(sample.get(input_kind))
            if raw is None or raw == "":
                fid = str(main["finding_id"])
                raise DataError(f"finding {fid}: sample '{sid}' has no {input_kind}; every review example needs one")
            shown_input = to_input(raw)
        label = str(main["label"])
        items.append(
            ReviewItem(
                tagscan_key=key,
                model_key=model_key,
                finding_id=str(main["finding_id"]),
                sample_id=sid,
                label=label,
                label_name=_text(main.get("label_name")) or label,
                group=str(main["group"]),
                group_description=_text(main.get("group_description")) or str(main["group"]),
                severity=sev[top],
                severity_level=_text(main.get("severity_level")) or "",
                input_kind=input_kind,
                input=shown_input,
                detector=_text(main.get("detector")) or None,
                watch_category=_text(main.get("watch_category")) or None,
                finding_ids=tuple(str(f["finding_id"]) for f in order),
                groups=tuple(_text(f.get("group_description")) or str(f["group"]) for f in order),
                link=url,
                record=record,
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
