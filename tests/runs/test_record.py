"""The typed run record: run.json round-trips, older run.json files read with defaults, newer ones are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.runs import (
    SCHEMA_VERSION,
    ClusterInfo,
    Counts,
    EngineInfo,
    FamilyRecord,
    ModelRef,
    RunRecord,
    Workspace,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*/run*/run.json")), ids=lambda p: f"{p.parent.parent.name}-{p.parent.name}")
def test_golden_run_json_round_trips(path):
    raw = json.loads(path.read_text())
    raw.pop("schema_version", None)  # recorded since the typed record; to_json writes it
    raw.update(run_id="r1", created_at="2026-12-03T00:00:00+00:00", baseline=None, timings={"total": 1.0})
    record = RunRecord.from_json(raw)
    out = record.to_json()
    assert out.pop("schema_version") == SCHEMA_VERSION
    # Newer than the recorded files: where embedding and counting ran, in-process by default.
    assert out.pop("engine") == raw.pop("engine", EngineInfo().to_json()) == {
        "embed": "local", "counts": "local", "address": None, "count_tasks": 0}
    assert out == raw
    # Typed views of what renderers and history read.
    assert record.counts.findings == raw["counts"]["findings"]
    assert record.fdr == raw["config"]["scan"]["fdr"]
    assert record.corrections == tuple(dict.fromkeys(f["correction"] for f in raw["families"]))
    assert all(isinstance(f, FamilyRecord) for f in record.families)


def test_a_run_json_from_before_the_typed_record_reads_with_defaults():
    old = {
        "run_id": "20261101-120000-abcdef",
        "config_name": "synth",
        "created_at": "2026-11-01T12:00:00+00:00",
        "model": {"name": "tagger", "version": "v1"},
        "clusters": {"k": [4], "seed": 0, "fit_share": 0.5, "n_fit": 10, "n_test": 10},  # no "key" yet
        "counts": {"samples": 20, "labels": 3, "findings": 0},
        "families": [{"name": "discovery", "n_significant": 0, "correction": "bh"}],
    }
    record = RunRecord.from_json(old)
    assert record.schema_version == 1
    assert record.clusters.key is None and record.clusters.k == (4,)
    assert record.counts.groups_untested_by_reason == {} and record.counts.by_status == {}
    assert record.embedding.input_model is None and record.baseline_model is None
    assert record.watchlist.path is None and record.model == ModelRef("tagger", "v1")
    assert "key" not in record.clusters.to_json()  # an old clustering stays keyless when written again


def _write(ws: Workspace, record: RunRecord) -> Path:
    findings = pd.DataFrame(columns=["finding_id", "detector", "label", "group", "family", "severity",
                                     "severity_level", "count", "lift", "lift_low", "p_value", "q_value", "status"])
    return ws.write_run(record, findings)


def test_workspace_writes_and_reads_the_record(tmp_path):
    ws = Workspace(tmp_path / "ws")
    record = RunRecord(run_id="20261203-000000-aaaaaa", config_name="c", created_at="2026-12-03T00:00:00+00:00",
                       model=ModelRef("m", "v2"), counts=Counts(samples=5, labels=2),
                       clusters=ClusterInfo(k=(2,), key="abc"))
    run_dir = _write(ws, record)
    assert json.loads((run_dir / "run.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert ws.load_record(record.run_id) == record
    entry = ws.latest_run("c")
    assert (entry.run_id, entry.model_name, entry.model_version, entry.n_samples) == (record.run_id, "m", "v2", 5)


def test_a_run_from_a_newer_tagscan_is_refused_with_the_fix(tmp_path):
    ws = Workspace(tmp_path / "ws")
    record = RunRecord(run_id="20261203-000000-bbbbbb", config_name="c", created_at="2026-12-03T00:00:00+00:00",
                       model=ModelRef("m"))
    run_dir = _write(ws, record)
    raw = json.loads((run_dir / "run.json").read_text())
    raw["schema_version"] = SCHEMA_VERSION + 1
    (run_dir / "run.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match=r"run\.json: run 20261203-000000-bbbbbb was written by a newer tagscan: "
                                        r"schema_version 2, newer than this tagscan reads \(1\); upgrade tagscan"):
        ws.load_record(record.run_id)
    (run_dir / "run.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a JSON object"):
        ws.load_record(record.run_id)
