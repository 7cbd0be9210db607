"""Terminal tables fit 80-120 columns (issue 11, item 6): one line a row, no line wider than the console,
no run id split, severity level words whole; columns dropped by width are named."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.outputs.fit import GAP, Col, fit_widths
from tagscan.outputs.terminal import print_summary, print_table
from tagscan.scan.findings import FINDING_COLUMNS

WIDTHS = (80, 100, 120)
RUN_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b")
runner = CliRunner()


def _lines_fit(out: str, width: int) -> None:
    for line in out.splitlines():
        assert len(line) <= width, (width, line)


def test_fit_widths_drops_lowest_rank_first_and_never_cuts_an_id():
    cols = [Col("id"), Col("name", shrink=6), Col("a", drop=2), Col("b", drop=1)]
    natural = [22, 30, 10, 10]
    kept, widths = fit_widths(natural, cols, 200)
    assert kept == [0, 1, 2, 3] and widths == natural  # room: nothing changes
    kept, widths = fit_widths(natural, cols, 60)
    assert kept == [0, 1, 2, 3] and widths == [22, 12, 10, 10]  # free text is cut before a column goes
    kept, widths = fit_widths(natural, cols, 50)
    assert kept == [0, 1, 2] and widths == [22, 14, 10] and sum(widths) + GAP * 2 == 50  # b goes first
    kept, widths = fit_widths(natural, cols, 34)
    assert kept == [0, 1] and widths == [22, 10]  # name takes the room left, up to 34
    kept, widths = fit_widths(natural, cols, 10)
    assert kept == [0, 1] and widths == [22, 6]  # too narrow even at the floors: the id stays whole


def _finding(i: int, level: str, severity: float, label: str, group: str) -> dict:
    r = dict.fromkeys(FINDING_COLUMNS, np.nan)
    r.update(label=f"l{i}", label_name=label, group=group, detector="association", severity=severity,
             severity_level=level, count=1234, expected=12.5, lift=123.4, lift_low=12.3, lift_high=3456.7,
             q_value=1.2e-45, family="watchlist", watch_category="dehumanizing", status="persisting",
             expected_reason=np.nan)  # fmt: skip
    return r


RUN = {"run_id": "20260101-000000-abcdef", "config_name": "a-config-with-a-long-name", "created_at": "2026-01-01T00:00:00+00:00",
       "baseline": "20251231-000000-fedcba", "comparison": "paired (McNemar, same samples)",
       "model": {"name": "photo-tagger", "version": "v2"}, "config": {"scan": {"fdr": 0.05}},
       "counts": {"samples": 10000, "labels": 3000, "positives": 50000, "groups_tested": 50, "groups_untested": 0,
                  "cells_nonzero": 12345, "findings": 4, "findings_by_level": {"critical": 2, "high": 1, "medium": 1},
                  "by_status": {"persisting": 4}},
       "families": [], "detectors": {"association": "ran"}}  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
def test_findings_table_fits_with_level_words_whole(width):
    f = pd.DataFrame([
        _finding(0, "critical", 100, "gorilla", "skin_tone=dark & gender=woman & age=60+"),
        _finding(1, "critical", 99, "a rather long label name for a tagger output", "cluster:k64/17"),
        _finding(2, "high", 60, "mugshot", "skin_tone=dark"),
        _finding(3, "medium", 25, "zoo", "region=south-east-asia-and-oceania"),
    ])  # fmt: skip
    buf = io.StringIO()
    print_summary(RUN, f, console=Console(file=buf, width=width, highlight=False), top=10, run_dir="/runs/x")
    out = buf.getvalue()
    _lines_fit(out, width)
    rows = [ln for ln in out.splitlines() if re.match(r"\s*\d+\s+(critical|high|medium|low) \d+", ln)]
    assert len(rows) == 4  # one line a row
    assert [re.search(r"(critical|high|medium|low) \d+", r).group(0) for r in rows] == [
        "critical 100", "critical 99", "high 60", "medium 25"
    ]
    assert "gorilla" in rows[0] and "mugshot" in rows[2]
    if width < 120:
        assert "not shown:" in out and "--format json" in out  # what was dropped is named
    assert "20251231-000000-fedcba" in out and "20260101-000000-abcdef" in out  # ids never split


@pytest.mark.parametrize("width", WIDTHS)
def test_generic_table_keeps_ids_whole(width):
    rows = pd.DataFrame({
        "sample_id": ["sample-with-a-long-id-000001", "sample-with-a-long-id-000002"],
        "text": ["a long text " * 20, "short"],
        "score": [0.91, 0.5],
        "labels": ["gorilla, ape, chimpanzee, primate, zoo, animal, wildlife", "dog"],
    })  # fmt: skip
    buf = io.StringIO()
    print_table(rows, Console(file=buf, width=width, highlight=False))
    out = buf.getvalue()
    _lines_fit(out, width)
    assert "sample-with-a-long-id-000001" in out and "sample-with-a-long-id-000002" in out
    assert len([ln for ln in out.splitlines() if ln.startswith("sample-with")]) == 2


def test_cli_runs_and_diff_fit_the_terminal_and_keep_run_ids_whole(synth_config):
    cfg = str(synth_config)
    ids = []
    for _ in range(2):
        res = runner.invoke(app, ["-q", "scan", cfg, "--format", "json"])
        assert res.exit_code == 0, res.output
        ids.append(json.loads(res.stdout)["run_id"])
    for width in WIDTHS:
        env = {"COLUMNS": str(width)}
        res = runner.invoke(app, ["runs", cfg], env=env)
        assert res.exit_code == 0, res.output
        _lines_fit(res.stdout, width)
        table = [ln for ln in res.stdout.splitlines() if RUN_ID.match(ln)]
        assert [RUN_ID.match(ln).group(0) for ln in table][: len(ids)] == ids  # one line a run, its id whole, first
        res = runner.invoke(app, ["diff", cfg, *ids], env=env)
        assert res.exit_code == 0, res.output
        _lines_fit(res.stdout, width)
        assert ids[0] in res.stdout and ids[1] in res.stdout
        res = runner.invoke(app, ["-q", "scan", cfg], env=env)
        assert res.exit_code == 0, res.output
        lines = res.stdout.splitlines()
        # Every line fits but the run folder's path, which is never split (on its own line when long).
        _lines_fit("\n".join(ln for ln in lines if not ln.startswith(str(synth_config.parent))), width)
        assert any(RUN_ID.search(ln) for ln in lines if ln.startswith(str(synth_config.parent)) or "run folder" in ln)
        # One line per error budget: its name and its counts stay together.
        budgets = [ln for ln in lines if ln.startswith("  ") and "significant of" in ln]
        assert budgets and all("testable pairs" in ln for ln in budgets)
        assert not [ln for ln in lines if ln.lstrip().startswith("(") and ln.rstrip().endswith("labels)")]
