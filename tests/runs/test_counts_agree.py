"""One count everywhere (issue 10, item 13): the terminal summary, the JSON, the HTML report, the gate and the
runs table read the same counts from run.json, and each says whether it counts detector findings or
(label, group) pairs. The run has several detectors on one pair (association and error_gap on the planted
harm), so the two units differ."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.constants import LEVELS
from tagscan.demo.planted import Planted, SynthSpec, write_audit_set
from tagscan.runs import Workspace

runner = CliRunner()


def _audit(tmp_path: Path) -> Path:
    spec = SynthSpec(n=1200, n_labels=60, planted=[Planted("gorilla", {"tone": "dark"}, 0.25),
                                                   Planted("mugshot", {"tone": "dark", "gender": "man"}, 0.3)])
    cfg = write_audit_set(tmp_path / "a", spec)
    samples = pd.read_parquet(cfg.parent / "samples.parquet")
    # Every sample annotated with one unrelated true label: every gorilla / mugshot prediction is a false positive,
    # so error_gap raises the planted pairs that association raises.
    pd.DataFrame({"sample_id": samples["sample_id"], "label": "tag_0000"}).to_parquet(cfg.parent / "truth.parquet")
    text = cfg.read_text()
    text = re.sub(r"truth: null\n", "truth: truth.parquet\n", text) if "truth:" in text else text.replace(
        "data:\n", "data:\n  truth: truth.parquet\n", 1)
    cfg.write_text(text)
    return cfg


def _at_or_above(by_level: dict, level: str) -> int:
    return sum(n for lv, n in by_level.items() if LEVELS.index(lv) >= LEVELS.index(level))


def test_every_surface_reads_the_same_counts(tmp_path):
    cfg = _audit(tmp_path)
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--format", "json", "--fail-on", "high"])
    out = json.loads(res.stdout)
    c, rows = out["counts"], pd.DataFrame(out["findings"])
    assert out["detectors"].get("error_gap") == "ran", out["detectors"]
    # Several detectors on one pair: the units differ.
    per_pair = rows.groupby(["label", "group"])["detector"].nunique()
    assert (per_pair > 1).any() and c["pairs"] < c["findings"]
    # run.json's counts are those of its findings.
    assert c["findings"] == len(rows) and c["pairs"] == len(per_pair)
    assert c["findings_by_level"] == rows["severity_level"].value_counts().to_dict()
    worst = rows.assign(r=rows["severity_level"].map(LEVELS.index)).groupby(["label", "group"])["r"].max()
    assert c["pairs_by_level"] == {LEVELS[r]: int(n) for r, n in worst.value_counts().items()}
    # The gate counts (label, group) pairs, says so, and agrees with the record's open pairs.
    gated = _at_or_above(c["open_pairs_by_level"], "high")
    assert gated > 0 and res.exit_code == 1
    assert f"{gated} (label, group) pair(s) at or above 'high'" in res.stderr
    n_gated_findings = int(rows["severity_level"].map(LEVELS.index).ge(LEVELS.index("high")).sum())
    assert f"from {n_gated_findings} detector finding(s)" in res.stderr
    # The terminal summary: both units, from the record.
    text = runner.invoke(app, ["-q", "scan", str(cfg), "--baseline", out["run_id"]]).stdout
    ws = Workspace(cfg.parent / "ws")
    rec2 = ws.load_record(ws.latest_run().run_id).counts
    lv = ", ".join(f"{rec2.findings_by_level[x]:,} {x}" for x in reversed(LEVELS) if rec2.findings_by_level.get(x))
    plv = ", ".join(f"{rec2.pairs_by_level[x]:,} {x}" for x in reversed(LEVELS) if rec2.pairs_by_level.get(x))
    assert f"{rec2.findings:,} detector findings ({lv}) on {rec2.pairs:,} (label, group) pairs ({plv};" in text
    assert "#: position in findings.parquet" in text
    # Families: significant (and reported where fewer) the same in the terminal and the report.
    # The HTML report: the pair levels and the detector findings of the record.
    assert runner.invoke(app, ["report", str(cfg), "--run", out["run_id"]]).exit_code == 0
    html = (ws.report_path(out["run_id"])).read_text()
    for lv_name, n in c["pairs_by_level"].items():
        assert f"{lv_name} <b>{n:,}</b>" in html
    assert f'<div class="k">Flagged pairs</div><div class="v">{c["pairs"]:,}</div>' in html
    assert f'<div class="k">Detector findings</div><div class="v">{c["findings"]:,}</div>' in html
    for fam in out["families"]:
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(fam["name"] + " "))
        assert f"{fam['n_significant']:,} significant" in line
    # The runs table: its findings are the record's findings, and its headers say findings.
    runs = ws.run_summaries().set_index("run_id")
    assert int(runs.loc[out["run_id"], "n_findings"]) == c["findings"]
    assert int(runs.loc[out["run_id"], "critical"]) == c["findings_by_level"].get("critical", 0)
    table = runner.invoke(app, ["runs", str(cfg)]).stdout
    assert "critical, high and the statuses count detector findings" in table
