"""How numbers, p-values, lifts, percentages, severity levels and JSON values are written, once.

Every renderer formats through these functions. A medium differs from another only in a
:class:`NumberStyle` (what an undefined or infinite number reads as, the precision of a small lift),
passed as ``style=``: :data:`TERMINAL` for the terminal summary, :data:`HTML` for the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tagscan.constants import LEVELS

__all__ = [
    "HTML",
    "LEVELS_MOST_SEVERE_FIRST",
    "TERMINAL",
    "NumberStyle",
    "fmt_count",
    "fmt_int",
    "fmt_level_counts",
    "fmt_lift",
    "fmt_lift_ci",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_significance",
    "is_missing",
    "jsonable",
    "known_level",
    "number",
    "watch_text",
]

#: Severity level names, the most severe first (the order of every table, legend and count).
LEVELS_MOST_SEVERE_FIRST: tuple[str, ...] = tuple(reversed(LEVELS))


@dataclass(frozen=True)
class NumberStyle:
    """What one medium writes for the numbers a finding carries.

    ``missing``: a NaN (an undefined statistic); ``infinity``: +inf (a lift with nothing outside the
    group); ``p_floor``: a p-value of 0 (below the smallest double); ``lift_digits``: decimals of a lift
    below 10; ``thousands``: separators in a lift of 100 or more.
    """

    missing: str
    infinity: str
    p_floor: str
    lift_digits: int
    thousands: bool


#: The terminal summary: Python's own ``nan`` and ``inf``, one decimal.
TERMINAL = NumberStyle(missing="nan", infinity="inf", p_floor="<1e-300", lift_digits=1, thousands=False)
#: The HTML report: typographic dash and infinity, two decimals for small lifts.
HTML = NumberStyle(missing="–", infinity="∞", p_floor="< 1e-300", lift_digits=2, thousands=True)


def number(value: object) -> float:
    """A float, or NaN for anything that is not a number (None, strings, ``pd.NA``)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def is_missing(value: object) -> bool:
    """None, ``pd.NA`` or a float NaN."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _signed_infinity(x: float, style: NumberStyle) -> str:
    return style.infinity if x > 0 else f"−{style.infinity}"


def fmt_int(value: object, *, style: NumberStyle = HTML) -> str:
    """A count with thousands separators: '12,034'."""
    x = number(value)
    if math.isnan(x):
        return style.missing
    if math.isinf(x):
        return _signed_infinity(x, style)
    return f"{int(round(x)):,}"


def fmt_count(value: object, *, missing: str = "") -> str:
    """A count in a plain table cell: '12,034', ``missing`` for a run that lacks it."""
    return missing if is_missing(value) else f"{int(value):,}"  # type: ignore[call-overload]


def fmt_num(value: object, digits: int = 3, *, style: NumberStyle = HTML) -> str:
    """A measurement to ``digits`` significant digits; 1,000 and more as a whole number."""
    x = number(value)
    if math.isnan(x):
        return style.missing
    if math.isinf(x):
        return _signed_infinity(x, style)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_lift(value: object, *, style: NumberStyle = HTML) -> str:
    """A rate ratio: whole above 100, one decimal above 10, ``style.lift_digits`` below."""
    x = number(value)
    if math.isnan(x):
        return style.missing
    if math.isinf(x):
        return style.infinity
    if x >= 100:
        return f"{x:,.0f}" if style.thousands else f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{style.lift_digits}f}"


def fmt_lift_ci(lift: object, low: object, high: object, *, style: NumberStyle = HTML) -> str:
    """'3.2 [1.8, 5.9]': a lift and its 95% interval."""
    return f"{fmt_lift(lift, style=style)} [{fmt_lift(low, style=style)}, {fmt_lift(high, style=style)}]"


def fmt_p(value: object, *, style: NumberStyle = HTML) -> str:
    """A p- or q-value: three decimals, scientific below 0.001, ``style.p_floor`` at 0."""
    x = number(value)
    if math.isnan(x):
        return style.missing
    if x <= 0:
        return style.p_floor
    if x < 1e-3:
        return f"{x:.1e}"
    return f"{x:.3f}"


def fmt_significance(value: object, *, style: NumberStyle = HTML) -> str:
    """A significance level (Tarone's): ``style.missing`` when there is none (no pair, a continuous test)."""
    x = number(value)
    return style.missing if math.isnan(x) or x <= 0 else fmt_p(x, style=style)


def fmt_pct(value: object, *, style: NumberStyle = HTML) -> str:
    """A rate as a percentage with two significant digits below 10% ('0.42%', '3.1%', '12.5%')."""
    x = number(value)
    if math.isnan(x) or math.isinf(x):
        return style.missing
    pct = 100.0 * x
    if pct == 0:
        return "0%"
    if pct >= 10:
        return f"{pct:.1f}%"
    return f"{pct:.2g}%" if pct < 0.1 else f"{pct:.2f}%"


def known_level(level: object) -> str:
    """The severity level's name when it is one of :data:`tagscan.constants.LEVELS`, else ``low``."""
    return str(level) if level in LEVELS else LEVELS[0]


def fmt_level_counts(by_level: Mapping[str, object]) -> str:
    """'2 critical, 5 high': the non-zero counts of a ``findings_by_level`` mapping, most severe first."""
    parts = []
    for level in LEVELS_MOST_SEVERE_FIRST:
        x = number(by_level.get(level))
        if not math.isnan(x) and x:
            parts.append(f"{int(x):,} {level}")
    return ", ".join(parts)


def watch_text(family: object, category: object) -> str:
    """How a finding's watchlist category is named beside its family ('' when it has none).

    As is on a watchlist finding; as '<category> label' on any other (a watchlist label on a group that
    is not about people, dog on a cluster of dog photos), since there the category is the label's, not a
    verdict on the finding.
    """
    if category is None or (not isinstance(category, str) and pd.isna(category)) or not str(category):
        return ""
    return str(category) if "watchlist" in str(family) else f"{category} label"


def jsonable(value: object, *, strict: bool = False) -> object:
    """``value`` with numpy and pandas scalars as JSON types: NaN, ``pd.NA`` and an infinity as None (JSON
    has no number for them, and the strings ``"inf"`` or ``NaN``/``Infinity`` tokens break consumers that
    expect a number or strict JSON), arrays, tuples and sets as lists, mappings with string keys.

    ``strict``: any other object becomes its ``str`` (for ``json.dumps`` without a ``default``, as the
    report's embedded run does); otherwise it is left for the caller's ``default=`` (the scan JSON).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [jsonable(v, strict=strict) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return None if math.isnan(x) or math.isinf(x) else x
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str) or not strict:
        return value
    return str(value)
