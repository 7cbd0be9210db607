"""The pure codec between findings and Label Studio tasks, and between annotations and verdicts.

No SDK, no I/O: everything here maps plain Python and pandas values to Label Studio's JSON shapes
and back, so that it is unit-tested without a server.

Decisions
---------
* **One task per (finding, example sample).** A sample that illustrates two findings is reviewed twice,
  once per hypothesis, because the question differs ("is *this* label right here?"). Its stable key
  ``tagscan_key = sha1(model_key | finding_id | sample_id)`` makes pushes idempotent.
* **The pre-annotation selects no verdict.** The model's prediction is shown in the task (the header names
  the predicted label) and travels as a Label Studio prediction with an *empty* result, ``score`` = the
  finding's severity / 100 and ``model_version`` = the model key, so reviewers sort and filter by
  "Prediction score" in the Data Manager. The score is scaled because Label Studio shows prediction scores
  as percentages (severity 90.5 as a raw score displays as "9050.00%"); the order is the same, and the task
  data keeps the 0-100 ``severity``. Pre-selecting "label correct" (what the model asserts) would
  invite reviewers to click through and would turn automation bias into *dismissed* findings, the
  costly error for a harm audit; an empty pre-annotation costs one click per task.
* **Choices are required** in the labeling config (one of the four, "unsure" included), so a submitted
  annotation without a verdict only comes from the API or an edited config; it counts as no vote.
* **Several annotations per task**: each annotator has one vote per task, their latest submitted
  (non-cancelled) annotation that carries a verdict (ordered by ``updated_at``, then annotation id);
  different annotators' votes all count. Cancelled (skipped) annotations never vote.
* **Contradictory choices** in one annotation (possible through the API): "label correct" together with
  a "wrong" choice is ``unsure``; "label wrong" with "label wrong and harmful" is ``harmful``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from tagscan.errors import DataError

__all__ = [
    "CHOICE_FOR_VERDICT",
    "VERDICTS",
    "VERDICT_FOR_CHOICE",
    "VOTE_COLUMNS",
    "Verdict",
    "finding_to_tasks",
    "labeling_config",
    "parse_annotation",
    "tagscan_key",
    "votes_from_annotations",
]

log = logging.getLogger(__name__)

#: verdict codes in order of severity; the labels reviewers see are ``CHOICE_FOR_VERDICT``.
VERDICTS = ("correct", "unsure", "wrong", "harmful")
CHOICE_FOR_VERDICT = {
    "correct": "label correct",
    "wrong": "label wrong",
    "harmful": "label wrong and harmful",
    "unsure": "unsure",
}
VERDICT_FOR_CHOICE = {v: k for k, v in CHOICE_FOR_VERDICT.items()}
_CHOICE_ORDER = ("correct", "wrong", "harmful", "unsure")
_CHOICE_HINTS = {
    "correct": "The label fits this input: the association is benign.",
    "wrong": "The label does not fit this input.",
    "harmful": "The label does not fit and is offensive, demeaning or otherwise harmful here.",
    "unsure": "You cannot tell from what is shown.",
}

VERDICT_CONTROL = "verdict"
COMMENT_CONTROL = "comment"
INPUT_OBJECT = "input"
INPUT_KINDS = ("text", "image")

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


def _check_kind(input_kind: str) -> None:
    if input_kind not in INPUT_KINDS:
        raise DataError(f"input_kind must be one of {', '.join(INPUT_KINDS)}; got {input_kind!r}")


def labeling_config(input_kind: str) -> str:
    """The Label Studio labeling config (XML) for reviewing findings over ``input_kind`` inputs.

    Shows the predicted label (header), the finding's group and severity, the input (``<Text>`` over
    ``$text`` or ``<Image>`` over ``$image``), a required single choice among the four verdicts, and a
    free comment.
    """
    _check_kind(input_kind)
    if input_kind == "text":
        obj = f'<Text name="{INPUT_OBJECT}" value="$text"/>'
    else:
        obj = f'<Image name="{INPUT_OBJECT}" value="$image" zoom="true"/>'
    choices = "\n".join(
        f"    <Choice value={quoteattr(CHOICE_FOR_VERDICT[v])} hint={quoteattr(_CHOICE_HINTS[v])}/>"
        for v in _CHOICE_ORDER
    )
    return f"""<View>
  <Header value="$headline"/>
  <Text name="context" value="$context"/>
  <View style="margin: 12px 0; padding: 8px; border: 1px solid #ddd; border-radius: 4px">
    {obj}
  </View>
  <Header value="Is the predicted label right for this input?" size="5"/>
  <Choices name="{VERDICT_CONTROL}" toName="{INPUT_OBJECT}" choice="single-radio" required="true" requiredMessage="Choose a verdict (unsure if you cannot tell)." showInline="false">
{choices}
  </Choices>
  <TextArea name="{COMMENT_CONTROL}" toName="{INPUT_OBJECT}" placeholder="Optional: why? (kept with the verdict)" rows="2" maxSubmissions="1" editable="true"/>
</View>
"""


def tagscan_key(model_key: str, finding_id: str, sample_id: str) -> str:
    """The stable key of one review task: sha1 of ``model_key | finding_id | sample_id``."""
    return hashlib.sha1(f"{model_key}\x1f{finding_id}\x1f{sample_id}".encode()).hexdigest()


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


def _default_image_url(value: str) -> str:
    if value.startswith(("http://", "https://", "data:", "/data/")):
        return value
    raise DataError(
        f"image {value!r} is a local path and no image_url_fn was given; serve it through Label Studio's "
        "local files (push with image_root) or use http(s) URLs"
    )


def finding_to_tasks(
    findings_df: pd.DataFrame,
    samples_df: pd.DataFrame,
    *,
    input_kind: str,
    model_key: str,
    image_url_fn: Callable[[str], str] | None = None,
) -> list[dict]:
    """One Label Studio task per review example of each finding, in findings order.

    ``findings_df`` has the findings columns (``finding_id``, ``label``, ``label_name``, ``group``,
    ``group_description``, ``severity``, ``severity_level``, ``examples``; ``detector`` and
    ``watch_category`` when present); ``samples_df`` has ``sample_id`` and the ``text`` or ``image``
    column. Each task's ``data`` carries the identifiers and the input; its one prediction has an empty
    result and ``score`` = severity / 100 (see the module notes). A (finding, sample) pair listed twice
    gives one task. Raises :class:`DataError` when an example is not a sample or has no input.
    """
    _check_kind(input_kind)
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
    to_url = image_url_fn or _default_image_url

    tasks: list[dict] = []
    seen: set[str] = set()
    for row in findings_df.to_dict("records"):
        fid = str(row["finding_id"])
        label = str(row["label"])
        label_name = _text(row.get("label_name")) or label
        group = str(row["group"])
        group_desc = _text(row.get("group_description")) or group
        severity = _score(row.get("severity"))
        score = None if severity is None else severity / 100.0
        level = _text(row.get("severity_level")) or ""
        headline = f"Model predicted: {label_name}" + (f" ({label})" if label_name != label else "")
        context = f"Group: {group_desc}" + (f" [{group}]" if group_desc != group else "")
        if severity is not None:
            context += f" · severity {severity:.0f}" + (f" ({level})" if level else "")
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
            data = {
                "tagscan_key": key,
                "finding_id": fid,
                "sample_id": sid,
                "label": label,
                "label_name": label_name,
                "group": group,
                "group_description": group_desc,
                "severity": severity,
                "severity_level": level,
                "headline": headline,
                "context": context,
                input_kind: raw if input_kind == "text" else to_url(raw),
            }
            for extra in ("detector", "watch_category"):
                v = _text(row.get(extra))
                if v:
                    data[extra] = v
            tasks.append(
                {
                    "data": data,
                    "predictions": [{"model_version": model_key, "score": score, "result": []}],
                }
            )
    return tasks


@dataclass(frozen=True)
class Verdict:
    """One annotation read back: ``verdict`` is a code of :data:`VERDICTS` or None (no usable choice)."""

    verdict: str | None
    comment: str | None = None
    cancelled: bool = False


def _norm(choice: object) -> str:
    return " ".join(str(choice).split()).casefold()


_BY_NORM = {_norm(k): v for k, v in VERDICT_FOR_CHOICE.items()}


def parse_annotation(annotation: Mapping | Sequence | None) -> Verdict:
    """Map one Label Studio annotation (a dict with ``result`` and ``was_cancelled``, or a bare result
    list) to a :class:`Verdict`.

    Reads every ``choices`` item (the verdict control) and ``textarea`` item (the comment). Choices are
    matched ignoring case and spacing; unknown choices are ignored with a warning. A cancelled annotation,
    or one without a known choice, has ``verdict=None``.
    """
    if annotation is None:
        return Verdict(None)
    if isinstance(annotation, Mapping):
        cancelled = bool(annotation.get("was_cancelled", False))
        result = annotation.get("result") or []
    else:
        cancelled = False
        result = annotation
    chosen: set[str] = set()
    comments: list[str] = []
    for item in result:
        if not isinstance(item, Mapping):
            continue
        value = item.get("value") or {}
        kind = item.get("type")
        if kind == "choices" or "choices" in value:
            for choice in value.get("choices") or []:
                code = _BY_NORM.get(_norm(choice))
                if code is None:
                    log.warning("ignoring the unknown review choice %r (from %s)", choice, item.get("from_name"))
                else:
                    chosen.add(code)
        elif kind == "textarea" or "text" in value:
            text = value.get("text")
            parts = [text] if isinstance(text, str) else list(text or [])
            comments.extend(p.strip() for p in parts if isinstance(p, str) and p.strip())
    comment = "\n".join(comments) or None
    if cancelled:
        return Verdict(None, comment, cancelled=True)
    if not chosen:
        return Verdict(None, comment)
    if "correct" in chosen and chosen & {"wrong", "harmful"}:
        return Verdict("unsure", comment)
    return Verdict(max(chosen, key=VERDICTS.index), comment)


def votes_from_annotations(records: Iterable) -> pd.DataFrame:
    """One vote per (task, annotator): their latest non-cancelled annotation with a verdict.

    ``records`` are :class:`tagscan.review.backend.AnnotationRecord` (or objects with the same
    attributes). Returns a DataFrame with :data:`VOTE_COLUMNS`, sorted by task and annotator.
    """
    best: dict[tuple[int, str], tuple[tuple[str, int], dict]] = {}
    for r in records:
        v = parse_annotation({"result": r.result, "was_cancelled": r.cancelled})
        if v.verdict is None:
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
                "verdict": v.verdict,
                "comment": v.comment,
            },
        )
    rows = [row for _, row in sorted(best.values(), key=lambda t: (t[1]["task_id"], t[1]["annotator"]))]
    out = pd.DataFrame(rows, columns=VOTE_COLUMNS, dtype=object)  # object: missing stays None
    return out.astype({"task_id": "int64", "annotation_id": "int64"})
