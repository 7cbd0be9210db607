"""tagscan.outputs: one registry of renderers, one interface for the views the CLI shows."""

from __future__ import annotations

import io
import json
import math
from enum import Enum

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from tagscan.errors import DataError, UsageError
from tagscan.outputs import FORMATS, Renderer, as_record, get_renderer
from tagscan.runs import RunRecord
from tagscan.scan.findings import FINDING_COLUMNS

RUN = {
    "run_id": "20260101-000000-abcdef", "config_name": "cfg", "created_at": "2026-01-01T00:00:00+00:00",
    "model": {"name": "m", "version": "v2"}, "config": {"scan": {"fdr": 0.05, "correction": "by"}},
    "counts": {"samples": 100, "labels": 5, "positives": 40, "groups_tested": 3, "groups_untested": 1,
               "groups_untested_by_reason": {"below min_group_size 30": 1}, "cells_nonzero": 9, "findings": 2,
               "findings_by_level": {"critical": 1, "low": 1}},
    "families": [{"name": "watchlist", "n_labels": 2, "n_pairs": 6, "n_testable": 4, "tarone_level": 0.01,
                  "n_significant": 2, "correction": "by"}],
    "detectors": {"association": "ran", "error_gap": "skipped: needs truth"},
}  # fmt: skip


def _findings() -> pd.DataFrame:
    rows = []
    for i, (label, lift, q) in enumerate((("ape", math.inf, 1e-9), ("thug", 4.0, math.nan))):
        r = dict.fromkeys(FINDING_COLUMNS, np.nan)
        r.update(finding_id=f"f{i}", label=label, label_name=label, group="tone=dark", detector="association",
                 severity=90.0 - 50 * i, severity_level="critical" if i == 0 else "low", count=10, expected=2.0,
                 lift=lift, lift_low=2.0, lift_high=lift, q_value=q, family="watchlist", watch_category="slur",
                 status="new", examples=np.array(["s1", "s2"], dtype=object))  # fmt: skip
        rows.append(r)
    return pd.DataFrame(rows)


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=160, highlight=False), buf


def test_registry_names_and_unknown_format():
    assert FORMATS == ("text", "json", "html")
    for name in FORMATS:
        r = get_renderer(name)
        assert isinstance(r, Renderer) and r.name == name

    class Fmt(str, Enum):
        json = "json"

    assert get_renderer(Fmt.json).name == "json"  # the CLI's --format enum works as is
    with pytest.raises(UsageError, match=r"unknown output format 'xml'; valid formats: text, json, html"):
        get_renderer("xml")


def test_scan_json_conventions_and_run_dir():
    console, buf = _console()
    get_renderer("json", console=console).scan({**RUN, "run_dir": "/from/dict"}, _findings())
    doc = json.loads(buf.getvalue())
    assert doc["run_dir"] == "/from/dict" and doc["run_id"] == RUN["run_id"] and doc["model"] == RUN["model"]
    assert [f["lift"] for f in doc["findings"]] == [None, 4.0]  # infinity as null (issue 11): strict JSON, a number or null
    assert doc["findings"][1]["q_value"] is None  # NaN as null
    assert doc["findings"][0]["examples"] == ["s1", "s2"]
    assert doc["families"][0]["correction"] == "by" and doc["counts"]["groups_tested"] == 3
    assert doc["engine"] == {"embed": "local", "counts": "local", "address": None, "count_tasks": 0}  # where it ran
    console, buf = _console()
    get_renderer("json", console=console).scan(RunRecord.from_json(RUN), _findings(), run_dir="/kw")
    assert json.loads(buf.getvalue())["run_dir"] == "/kw"


def test_text_scan_is_the_summary():
    console, buf = _console()
    get_renderer("text", console=console).scan(RunRecord.from_json(RUN), _findings(), run_dir="/runs/x", top=5)
    out = buf.getvalue()
    assert out.startswith("tagscan run 20260101-000000-abcdef of cfg (model m v2)")
    assert "3 groups tested (1 not tested: 1 below min_group_size 30)" in out
    assert "error budgets at FDR 0.05:" in out and "detector error_gap: skipped: needs truth" in out
    assert "inf [2.0, inf]" in out and "watchlist/slur" in out
    assert out.rstrip().endswith("run folder: /runs/x")


def test_views_of_tables():
    table = pd.DataFrame({"label": ["ape", "[b]x[/b]"], "score": [0.9, 0.5]})
    console, buf = _console()
    get_renderer("text", console=console).table(table)
    assert "[b]x[/b]" in buf.getvalue()  # cells are text, never rich markup
    console, buf = _console()
    get_renderer("json", console=console).table(table)
    assert json.loads(buf.getvalue()) == table.to_dict(orient="records")


def test_runs_without_a_run_say_what_to_run():
    empty = pd.DataFrame(columns=["run_id"])
    console, buf = _console()
    get_renderer("text", console=console).runs(empty, workspace="/ws [x]", config="cfg.yaml")
    assert buf.getvalue() == "no runs yet in /ws [x]; run 'tagscan scan cfg.yaml'\n"
    console, buf = _console()
    get_renderer("json", console=console).runs(empty)
    assert buf.getvalue() == "[]\n"


def test_diff_json_keeps_the_scan_conventions():
    changes = pd.DataFrame({"change": ["new", "gone"], "lift_b": [math.inf, math.nan]})
    console, buf = _console()
    get_renderer("json", console=console).diff(changes, run_a="a", run_b="b")
    assert json.loads(buf.getvalue()) == [{"change": "new", "lift_b": None}, {"change": "gone", "lift_b": None}]


def test_html_renders_reports_not_the_cli_views():
    r = get_renderer("html")
    doc = r.report(RUN, _findings())
    assert doc.startswith("<!DOCTYPE html>") and "Benjamini–Yekutieli" in doc
    with pytest.raises(UsageError, match=r"--format html cannot show a scan; use --format text or --format json"):
        r.scan(RUN, _findings())


def test_run_boundary():
    record, run_dir = as_record({**RUN, "run_dir": "/d"})
    assert isinstance(record, RunRecord) and run_dir == "/d"
    assert as_record(record, run_dir="/e") == (record, "/e")
    with pytest.raises(DataError, match=r"run record: no 'created_at'"):
        as_record({"run_id": "r", "config_name": "c"})
    with pytest.raises(TypeError, match=r"run must be a tagscan.runs.RunRecord or its run.json mapping; found list"):
        as_record([])


def test_output_formats_come_from_one_registry():
    """--format offers the registry's formats that show command views; a taken name is refused."""
    from tagscan.cli.common import OutputFormat
    from tagscan.outputs import FORMATS, Renderer, cli_formats, get_renderer, register
    from tagscan.outputs.jsonout import JsonRenderer

    assert [f.value for f in OutputFormat] == list(cli_formats()) == ["text", "json"]
    assert "html" in FORMATS and "html" not in cli_formats()

    class Other(Renderer):
        name = "json"

    with pytest.raises(ValueError, match="an output format named 'json' is already registered"):
        register(Other)
    assert register(JsonRenderer) is JsonRenderer  # the same class again is not a duplicate
    with pytest.raises(UsageError, match="unknown output format 'xml'; valid formats: text, json, html"):
        get_renderer("xml")
