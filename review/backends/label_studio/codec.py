"""The pure Label Studio codec: the labeling config, review items -> tasks, exported annotations -> records.

No SDK, no I/O: everything here maps tagscan's records to Label Studio's JSON shapes and back, so that it
is unit-tested without a server.

Decisions
---------
* **One task per review item** (:class:`~tagscan.review.backend.ReviewItem`, a (sample, label) pair); its
  ``data`` carries the item's identifiers (``tagscan_key``, ``finding_id`` of its most severe finding,
  ``finding_ids`` of all it serves, ``sample_id``), what the reviewer reads, and the input (``text``,
  ``image`` as a URL, or ``record``: escaped HTML with the sample's link and columns, shown by a
  ``<HyperText>`` tag), plus ``link`` and ``columns`` when configured.
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
* **Contradictory choices** in one annotation (possible through the API): "label correct" together with
  a "wrong" choice is ``unsure``; "label wrong" with "label wrong and harmful" is ``harmful``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

from tagscan.errors import DataError
from tagscan.review.backend import AnnotationRecord, RemoteTask, ReviewItem
from tagscan.review.codec import VERDICTS, Verdict, check_input_kind

__all__ = [
    "BATCH_FIELD",
    "CHOICE_FOR_VERDICT",
    "VERDICT_FOR_CHOICE",
    "annotation_records",
    "labeling_config",
    "parse_annotation",
    "record_html",
    "remote_task",
    "task_payload",
    "task_payloads",
]

log = logging.getLogger(__name__)

#: the labels reviewers see for each verdict code
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
#: the task data field that marks the tasks of one import request (recovery of an interrupted push)
BATCH_FIELD = "tagscan_batch"


def labeling_config(input_kind: str) -> str:
    """The Label Studio labeling config (XML) for reviewing findings over ``input_kind`` inputs.

    Shows the predicted label (header), the findings' groups and severity, the input (``<Text>`` over
    ``$text``, ``<Image>`` over ``$image``, or for ``record`` items ``<HyperText>`` over ``$record``: the
    sample's link and columns), a required single choice among the four verdicts, and a free comment.
    """
    check_input_kind(input_kind)
    if input_kind == "text":
        obj = f'<Text name="{INPUT_OBJECT}" value="$text"/>'
    elif input_kind == "image":
        obj = f'<Image name="{INPUT_OBJECT}" value="$image" zoom="true"/>'
    else:  # a sample without text or image: its link and columns, as escaped HTML built by task_payload
        obj = f'<HyperText name="{INPUT_OBJECT}" value="$record" inline="true" clickableLinks="true" selectionEnabled="false"/>'
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


def _default_image_url(value: str) -> str:
    if value.startswith(("http://", "https://", "data:", "/data/")):
        return value
    raise DataError(
        f"image {value!r} is a local path and no image_url_fn was given; serve it through Label Studio's "
        "local files (push with image_root) or use http(s) URLs"
    )


def task_payload(item: ReviewItem, *, image_url_fn: Callable[[str], str] | None = None) -> dict:
    """The Label Studio task of one review item: ``data`` (identifiers, what the reviewer reads, the input)
    and one prediction with an empty result and ``score`` = severity / 100 (see the module notes).

    ``image_url_fn`` maps an image item's input to the URL Label Studio loads; without it only URLs pass.
    """
    check_input_kind(item.input_kind)
    label, label_name, group, group_desc = item.label, item.label_name, item.group, item.group_description
    severity, level = item.severity, item.severity_level
    score = None if severity is None else severity / 100.0
    headline = f"Model predicted: {label_name}" + (f" ({label})" if label_name != label else "")
    context = f"Group: {group_desc}" + (f" [{group}]" if group_desc != group else "")
    if severity is not None:
        context += f" · severity {severity:.0f}" + (f" ({level})" if level else "")
    others = [g for g in dict.fromkeys(item.groups) if g != group_desc]
    if others:
        context += f" · also shown for: {'; '.join(others)}"
    if item.input_kind == "text":
        shown = item.input
    elif item.input_kind == "image":
        shown = (image_url_fn or _default_image_url)(item.input)
    else:
        shown = record_html(item)
    data: dict = {
        "tagscan_key": item.tagscan_key,
        "finding_id": item.finding_id,
        "sample_id": item.sample_id,
        "label": label,
        "label_name": label_name,
        "group": group,
        "group_description": group_desc,
        "severity": severity,
        "severity_level": level,
        "headline": headline,
        "context": context,
        item.input_kind: shown,
    }
    data["finding_ids"] = list(item.finding_ids)
    if item.link:
        data["link"] = item.link
    if item.record:
        data["columns"] = dict(item.record)
    if item.detector:
        data["detector"] = item.detector
    if item.watch_category:
        data["watch_category"] = item.watch_category
    return {"data": data, "predictions": [{"model_version": item.model_key, "score": score, "result": []}]}


def record_html(item: ReviewItem) -> str:
    """What a reviewer of a ``record`` item sees (HTML, every value escaped): the sample id, its link
    (``review.link``, opened in a new tab) and its columns (``review.show``) as a small table."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in item.record)
    parts = [f"<p>sample <b>{escape(item.sample_id)}</b></p>"]
    if item.link:
        parts.append(f'<p><a href={quoteattr(item.link)} target="_blank" rel="noopener">{escape(item.link)}</a></p>')
    if rows:
        parts.append(f"<table>{rows}</table>")
    return "<div>" + "".join(parts) + "</div>"


def task_payloads(
    items: Sequence[ReviewItem], *, image_url_fn: Callable[[str], str] | None = None, batch_id: str | None = None
) -> list[dict]:
    """:func:`task_payload` of each item, in order; with ``batch_id``, each task's data carries it as
    ``tagscan_batch`` (:data:`BATCH_FIELD`)."""
    tasks = [task_payload(item, image_url_fn=image_url_fn) for item in items]
    if batch_id is not None:
        for t in tasks:
            t["data"][BATCH_FIELD] = batch_id
    return tasks


def _norm(choice: object) -> str:
    return " ".join(str(choice).split()).casefold()


_BY_NORM = {_norm(k): v for k, v in VERDICT_FOR_CHOICE.items()}


def parse_annotation(annotation: Mapping | Sequence | None) -> Verdict:
    """Map one Label Studio annotation (a dict with ``result`` and ``was_cancelled``, or a bare result
    list) to a :class:`~tagscan.review.codec.Verdict`.

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


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def remote_task(task_id: object, data: object) -> RemoteTask | None:
    """The tagscan identifiers of a task from its ``data``; None for a task tagscan did not create."""
    if not isinstance(data, dict) or not data.get("tagscan_key"):
        return None
    return RemoteTask(
        task_id=int(task_id),  # type: ignore[arg-type]
        tagscan_key=str(data["tagscan_key"]),
        finding_id=_opt_str(data.get("finding_id")),
        sample_id=_opt_str(data.get("sample_id")),
    )


def annotation_records(tasks: Iterable[Mapping]) -> list[AnnotationRecord]:
    """Every annotation of the tasks of a ``JSON`` export, decoded (:func:`parse_annotation`), in order."""
    out = []
    for task in tasks:
        data = task.get("data") or {}
        for ann in task.get("annotations") or []:
            who = ann.get("completed_by")
            if isinstance(who, dict):
                who = who.get("id", who.get("email"))
            cancelled = bool(ann.get("was_cancelled", False))
            v = parse_annotation({"result": list(ann.get("result") or []), "was_cancelled": cancelled})
            out.append(
                AnnotationRecord(
                    task_id=int(task["id"]),
                    tagscan_key=data.get("tagscan_key"),
                    finding_id=_opt_str(data.get("finding_id")),
                    sample_id=_opt_str(data.get("sample_id")),
                    annotation_id=int(ann["id"]),
                    annotator=str(who),
                    updated_at=str(ann.get("updated_at") or ann.get("created_at") or ""),
                    cancelled=cancelled,
                    verdict=v.verdict,
                    comment=v.comment,
                )
            )
    return out
