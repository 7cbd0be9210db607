"""tagscan.outputs.format: the one home of number, p-value, lift, percent, level and JSON formatting.

The terminal and the report write some numbers differently (by design: ``nan``/``inf`` in a terminal
table, typographic ``–``/``∞`` in the report); each difference is one field of a NumberStyle.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tagscan.constants import LEVELS
from tagscan.outputs.format import (
    HTML,
    LEVELS_MOST_SEVERE_FIRST,
    TERMINAL,
    fmt_count,
    fmt_int,
    fmt_level_counts,
    fmt_lift,
    fmt_lift_ci,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_significance,
    jsonable,
    known_level,
    watch_text,
)


@pytest.mark.parametrize(
    ("value", "terminal", "html"),
    [(0.04, "0.040", "0.040"), (2.5e-5, "2.5e-05", "2.5e-05"), (0.0, "<1e-300", "< 1e-300"),
     (math.nan, "nan", "–"), (1.0, "1.000", "1.000")],
)  # fmt: skip
def test_p_values(value, terminal, html):
    assert fmt_p(value, style=TERMINAL) == terminal
    assert fmt_p(value, style=HTML) == html
    assert fmt_p(value) == html  # the report's is the default


@pytest.mark.parametrize(
    ("value", "terminal", "html"),
    [(3.14159, "3.1", "3.14"), (42.42, "42.4", "42.4"), (1234.5, "1234", "1,234"), (math.inf, "inf", "∞"),
     (math.nan, "nan", "–")],
)  # fmt: skip
def test_lifts(value, terminal, html):
    assert fmt_lift(value, style=TERMINAL) == terminal
    assert fmt_lift(value, style=HTML) == html


def test_lift_with_its_interval():
    assert fmt_lift_ci(5.0, 2.0, math.inf, style=TERMINAL) == "5.0 [2.0, inf]"
    assert fmt_lift_ci(5.0, 2.0, math.inf) == "5.00 [2.00, ∞]"


def test_counts_numbers_percentages_and_levels():
    assert fmt_int(12034.0) == "12,034" and fmt_int(None) == "–" and fmt_int(-math.inf) == "−∞"
    assert fmt_count(12034) == "12,034" and fmt_count(np.nan) == "" and fmt_count(None, missing="?") == "?"
    assert fmt_num(0.05) == "0.05" and fmt_num(0) == "0" and fmt_num(12345.6) == "12,346" and fmt_num("x") == "–"
    assert [fmt_pct(x) for x in (0.0, 0.0004, 0.042, 0.5, math.inf)] == ["0%", "0.04%", "4.20%", "50.0%", "–"]
    assert fmt_significance(1.4e-5) == "1.4e-05" and fmt_significance(0.0) == "–" and fmt_significance(None) == "–"


def test_levels_come_from_the_constants():
    assert LEVELS_MOST_SEVERE_FIRST == tuple(reversed(LEVELS)) == ("critical", "high", "medium", "low")
    assert known_level("high") == "high" and known_level("bogus") == "low" and known_level(None) == "low"
    assert fmt_level_counts({"low": 4, "critical": 1200, "high": 0}) == "1,200 critical, 4 low"
    assert fmt_level_counts({}) == ""


def test_watch_text():
    assert watch_text("watchlist", "dehumanizing") == "dehumanizing"
    assert watch_text("label_family:watchlist", "slur") == "slur"
    assert watch_text("discovery", "dehumanizing") == "dehumanizing label"
    assert watch_text("discovery", None) == watch_text("discovery", np.nan) == watch_text("discovery", "") == ""


def test_jsonable_infinity_and_nan_in_both_modes():
    row = {"lift": np.float64(np.inf), "low": -math.inf, "q": np.nan, "n": np.int64(3), "ok": np.bool_(True),
           "na": pd.NA, "ex": np.array(["a", "b"], dtype=object), "t": (1.5, np.float32(2.5))}  # fmt: skip
    want = {"lift": None, "low": None, "q": None, "n": 3, "ok": True, "na": None, "ex": ["a", "b"], "t": [1.5, 2.5]}
    for strict in (False, True):
        got = jsonable(row, strict=strict)
        assert got == want
        assert json.loads(json.dumps(got, allow_nan=False)) == want


def test_jsonable_strict_stringifies_what_json_cannot_hold():
    ts = pd.Timestamp("2026-01-02T03:04:05")
    assert jsonable({1: ts}, strict=True) == {"1": "2026-01-02 03:04:05"}
    assert jsonable(ts) is ts  # left for the caller's json.dumps(default=str), as the scan JSON does
