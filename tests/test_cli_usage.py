"""The command line as people expect it (issue 11, item 7): --version, -h everywhere, -v/-q after the
command's arguments, plain flags without a type in the help, ./tagscan.yaml as the default config, and
JSON with null (never "inf", NaN or Infinity) for a number that is infinite or missing."""

from __future__ import annotations

import json
import logging
import math
import re
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tagscan.cli import app

runner = CliRunner()


def _strict(text: str):
    """json.loads that refuses the NaN / Infinity tokens Python's json would otherwise accept."""

    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"tagscan {version('tagscan')}"


@pytest.mark.parametrize("cmd", [[], ["scan"], ["diff"], ["neighbors"], ["review"], ["review", "push"], ["demo"]])
def test_h_is_help_everywhere(cmd):
    short = runner.invoke(app, [*cmd, "-h"])
    long = runner.invoke(app, [*cmd, "--help"])
    assert short.exit_code == long.exit_code == 0, short.output
    assert "Usage:" in short.stdout and short.stdout == long.stdout
    assert re.search(r"--help\s+-h\s", short.stdout)


@pytest.mark.parametrize("cmd", [[], ["scan"], ["runs"], ["review", "push"], ["review"]])
def test_plain_flags_have_no_type_in_help(cmd):
    out = runner.invoke(app, [*cmd, "--help"], terminal_width=160).stdout
    assert "<bool>" not in out
    assert re.search(r"--help\s+-h\s+Show this message", out)
    if cmd != ["review"]:  # a group of commands takes -v/-q at the root or after its command
        verbose = [line for line in out.splitlines() if "--verbose" in line]
        assert verbose and all("<int>" not in line for line in verbose)  # a counted flag takes no value
    if cmd:
        assert "<path>" in out or "COMMAND" in out  # what takes a value still shows its type


def _log_level() -> int:
    return logging.getLogger("tagscan").level


def test_verbose_and_quiet_after_the_arguments(synth_config):
    cfg = str(synth_config)
    cases = [
        (["runs", cfg, "-v"], logging.INFO),
        (["runs", cfg, "-vv"], logging.DEBUG),
        (["runs", cfg, "--verbose"], logging.INFO),
        (["-v", "runs", cfg], logging.INFO),  # the root's place still works
        (["runs", cfg], logging.WARNING),
        (["-v", "runs", cfg, "-q"], logging.WARNING),  # -q anywhere wins
        (["runs", cfg, "--quiet", "-vv"], logging.WARNING),
        (["-v", "runs", cfg, "-vv"], logging.DEBUG),  # the more verbose counts
    ]
    for args, level in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
        assert _log_level() == level, args
    res = runner.invoke(app, ["scan", cfg, "--format", "json", "-v"])
    assert res.exit_code == 0, res.output
    assert "tagscan: " in res.stderr  # progress lines on stderr
    _strict(res.stdout)  # stdout stays the JSON document alone


def test_config_defaults_to_tagscan_yaml_in_the_current_folder(synth_config, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    line = _one_line_error(runner.invoke(app, ["scan"]), "no CONFIG given", "./tagscan.yaml", str(empty), "tagscan scan")
    assert line.startswith("tagscan: error: ")
    _one_line_error(runner.invoke(app, ["runs"]), "no CONFIG given", "./tagscan.yaml")
    _one_line_error(runner.invoke(app, ["diff", "r1"]), "Missing argument 'RUN_B'", "tagscan diff --help")

    monkeypatch.chdir(synth_config.parent)
    assert synth_config.name == "tagscan.yaml"
    res = runner.invoke(app, ["-q", "scan", "--format", "json"])
    assert res.exit_code == 0, res.output
    run_id = _strict(res.stdout)["run_id"]
    res = runner.invoke(app, ["runs", "--format", "json"])
    assert res.exit_code == 0 and [r["run_id"] for r in _strict(res.stdout)] == [run_id], res.output
    # diff RUN_A RUN_B without CONFIG: the two values are the runs, not a config and a run.
    res = runner.invoke(app, ["diff", run_id, run_id, "--format", "json"])
    assert res.exit_code == 0, res.output
    assert all(r["change"] == "both" for r in _strict(res.stdout))
    res = runner.invoke(app, ["diff", str(synth_config), run_id, run_id, "--format", "json"])
    assert res.exit_code == 0, res.output
    _one_line_error(runner.invoke(app, ["diff", "nosuchrun", run_id]), "nosuchrun")


def _with_a_label_only_in_one_group(config: Path) -> None:
    """A label predicted for 60 samples of tone=dark and none outside: its lift and upper bound are infinite."""
    folder = config.parent
    samples = pd.read_parquet(folder / "samples.parquet")
    dark = samples.loc[samples["tone"] == "dark", "sample_id"].head(60)
    pred = pd.read_parquet(folder / "predictions.parquet")
    extra = pd.DataFrame({"sample_id": dark, "label": "tag_only_dark", "score": 0.9})
    pd.concat([pred, extra], ignore_index=True).to_parquet(folder / "predictions.parquet")
    vocab = pd.read_parquet(folder / "vocabulary.parquet")
    vocab = pd.concat([vocab, pd.DataFrame({"label": ["tag_only_dark"], "name": ["tag only dark"]})], ignore_index=True)
    vocab.to_parquet(folder / "vocabulary.parquet")


def test_scan_and_diff_json_are_strict_with_numbers_or_null(synth_config):
    """End to end on a label with nothing outside its group (where infinities came from); the conversion of
    an infinity itself to null is checked in tests/outputs (test_renderers, test_format)."""
    _with_a_label_only_in_one_group(synth_config)
    res = runner.invoke(app, ["-q", "scan", str(synth_config), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert '"inf"' not in res.stdout and "Infinity" not in res.stdout and "NaN" not in res.stdout
    doc = _strict(res.stdout)
    only = [f for f in doc["findings"] if f["label"] == "tag_only_dark" and f["group"] == "tone=dark"]
    assert only, "the planted one-group label is flagged"
    assert only[0]["rate_outside"] == 0
    for f in doc["findings"]:
        for key in ("lift", "lift_low", "lift_high", "p_value", "q_value", "severity", "expected"):
            assert f[key] is None or (isinstance(f[key], (int, float)) and math.isfinite(f[key])), (key, f[key])
    run_id = doc["run_id"]
    res = runner.invoke(app, ["diff", str(synth_config), run_id, run_id, "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = _strict(res.stdout)
    assert '"inf"' not in res.stdout and any(r["label"] == "tag_only_dark" for r in rows)
