"""Escaping and small markup helpers shared by the report's sections.

Escaping policy: every string that comes from a run (label names, groups, descriptions, texts,
attribute values, config values) goes through :func:`e` before it lands in markup; JSON embedded in a
``<script>`` (:func:`script_json`) escapes ``<``, ``>``, ``&``, U+2028 and U+2029, so that no value can
close the element.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pandas as pd

from tagscan.outputs.format import is_missing, jsonable, number, watch_text

__all__ = ["also_text", "as_list", "e", "script_json", "sort_value", "truncate", "watch_tag", "yes_no"]


def e(value: object) -> str:
    """HTML-escape any value (quotes too, so the result is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def watch_tag(family: object, category: object, sep: str = "") -> str:
    """The watchlist category beside the family, named by :func:`tagscan.outputs.format.watch_text`."""
    text = watch_text(family, category)
    return f'{sep} <span class="tag watch">{e(text)}</span>' if text else ""


def sort_value(value: object) -> str:
    """A ``data-v`` attribute for numeric sorting: JS ``Number()`` reads it; '' means missing."""
    x = number(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def script_json(obj: object) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>``, ``&``, U+2028 or U+2029 survives raw."""
    text = json.dumps(jsonable(obj, strict=True), ensure_ascii=False, allow_nan=False, sort_keys=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def as_list(value: object) -> list[str]:
    """A cell holding one id or several (a list, an array) as a list of strings; missing ones dropped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [str(v) for v in value if not is_missing(v)]
    return [str(value)]


def yes_no(value: object) -> str:
    return "–" if is_missing(value) else ("yes" if bool(value) else "no")


def truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def also_text(r: pd.Series) -> str:
    """'also: error_gap, label_family' for a pair raised by other detectors too, else ''."""
    also = r["also"] if "also" in r.index else []
    return f"also: {', '.join(also)}" if len(also) else ""
