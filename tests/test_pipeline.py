"""Scan end to end through the CLI on a synthetic audit set with precomputed vectors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.config import load_config
from tagscan.demo.planted import Planted, SynthSpec, write_audit_set
from tagscan.runs import Workspace

runner = CliRunner()
# The module's fixtures warm one workspace (and so the embedding cache) for all its tests.
pytestmark = pytest.mark.module_cache

PLANTED = [Planted("gorilla", {"tone": "dark"}, 0.08), Planted("mugshot", {"tone": "dark", "gender": "man"}, 0.12)]


@pytest.fixture(scope="module")
def planted_config(tmp_path_factory) -> Path:
    return write_audit_set(tmp_path_factory.mktemp("e2e") / "a", SynthSpec(n=3000, planted=PLANTED))


def _json_scan(cfg: Path, *extra: str) -> dict:
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--format", "json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_scan_writes_run_and_ranks_watchlist_hits_on_people_first(planted_config):
    out = _json_scan(planted_config)
    f = pd.DataFrame(out["findings"])
    top2 = set(zip(f["label"].head(2), f["group"].head(2)))
    assert top2 == {("gorilla", "tone=dark"), ("mugshot", "tone=dark & gender=man")}
    assert set(f["family"].head(2)) == {"watchlist"}
    assert f["watch_category"].iloc[0] in ("dehumanizing", "criminality")
    assert (f["q_value"] <= 0.05).all() and (f["q_value"] >= f["p_value"]).all()
    run_dir = Path(out["run_dir"])
    assert (run_dir / "findings.parquet").is_file() and (run_dir / "run.json").is_file()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["model"] == {"name": "synth-tagger", "version": "v1"}
    assert set(info["inputs"]) == {"samples", "predictions", "vocabulary", "embeddings"}
    assert {x["name"] for x in info["families"]} >= {"watchlist", "discovery"}
    assert all(x["n_testable"] >= x["n_significant"] for x in info["families"])
    cl = info["clusters"]
    assert cl["n_fit"] + cl["n_test"] == 3000 and cl["seed"] == 0 and 0.4 < cl["n_test"] / 3000 < 0.6
    assert "association.gps_prior" in info["detector_facts"]
    parquet = pd.read_parquet(run_dir / "findings.parquet")
    for col in ("finding_id", "detector", "label", "label_name", "group", "group_kind", "group_description", "count",
                "group_size", "label_count", "expected", "rate_in_group", "rate_outside", "lift", "lift_low",
                "lift_high", "p_value", "q_value", "family", "severity", "severity_level", "watch_category",
                "examples", "status"):
        assert col in parquet.columns, col
    assert len(parquet) == len(f)
    with sqlite3.connect(run_dir.parents[1] / "tagscan.sqlite") as db:
        n = db.execute("SELECT count(*) FROM findings WHERE run_id = ?", (out["run_id"],)).fetchone()[0]
        assert n == len(f)


def test_text_summary_and_second_run_statuses(planted_config):
    res = runner.invoke(app, ["-q", "scan", str(planted_config)])
    assert res.exit_code == 0, res.output
    assert "gorilla" in res.stdout and "tone=dark" in res.stdout and "findings" in res.stdout
    out = _json_scan(planted_config)
    assert {x["status"] for x in out["findings"]} == {"persisting"}
    ids = [x["finding_id"] for x in out["findings"]]
    assert len(ids) == len(set(ids))


def test_fail_on_gate(tmp_path):
    cfg = write_audit_set(tmp_path / "g", SynthSpec(n=3000, planted=PLANTED))
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--fail-on", "high"])
    assert res.exit_code == 1, res.output
    assert "at or above 'high'" in res.stderr and " new" in res.stderr
    # Same data again: the findings persist. Rerunning the job must not turn the gate green.
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--fail-on", "high"])
    assert res.exit_code == 1, res.output
    assert "persisting" in res.stderr and "dismiss benign ones in review" in res.stderr
    # The ratchet: only what is new or regressed since the baseline counts.
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--fail-on", "high", "--fail-only-new"])
    assert res.exit_code == 0, res.output


def test_fail_only_new_needs_fail_on(tmp_path):
    cfg = write_audit_set(tmp_path / "g", SynthSpec(n=300))
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--fail-only-new"])
    assert res.exit_code == 2
    assert res.stderr.strip() == "tagscan: error: --fail-only-new only narrows --fail-on; add --fail-on LEVEL"


def test_gate_counts_open_findings_once_per_pair():
    import pandas as pd

    from tagscan.runs.gate import gate

    f = pd.DataFrame(
        {
            "label": ["gorilla", "gorilla", "dog", "ape", "cat"],
            "group": ["tone=dark", "tone=dark", "cluster:k8/1", "tone=dark", "tone=light"],
            "severity_level": ["critical", "critical", "high", "critical", "low"],
            "status": ["confirmed", "confirmed", "dismissed", "resolved", "new"],
        }
    )
    high = gate(f, "high")
    assert high.failed and len(high.gated) == 1  # the confirmed pair, once
    assert high.message.startswith("1 (label, group) pair(s) at or above 'high' (from 2 detector finding(s); pairs 1 confirmed; top: gorilla on tone=dark)")
    assert not gate(f, "high", only_new=True).failed
    assert len(gate(f, "low", only_new=True).gated) == 1  # the new low one
    assert not gate(f[f["status"].isin(["dismissed", "resolved"])], "low").failed
    assert not gate(f, None).failed


def test_fail_on_passes_on_clean_data(tmp_path):
    cfg = write_audit_set(tmp_path / "c", SynthSpec(n=1500, planted=[]))
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--fail-on", "medium"])
    assert res.exit_code == 0, res.output


def test_runs_and_embed_commands(planted_config):
    if "no runs yet" in runner.invoke(app, ["runs", str(planted_config)]).stdout:  # run alone (-k)
        assert runner.invoke(app, ["-q", "scan", str(planted_config)]).exit_code == 0
    res = runner.invoke(app, ["runs", str(planted_config)])
    assert res.exit_code == 0 and "findings" in res.stdout
    assert res.stdout.split()[:4] == ["run", "created", "model", "samples"]
    res = runner.invoke(app, ["runs", str(planted_config), "--format", "json"])
    runs = json.loads(res.stdout)
    assert runs and {"run_id", "n_findings", "critical", "high", "new", "regressed", "confirmed", "dismissed"} <= set(runs[0])
    assert runs[0]["new"] == runs[0]["n_findings"]  # a first run: everything is new
    assert runs[0]["critical"] + runs[0]["high"] >= 1  # the planted harms
    assert all(r["new"] == 0 for r in runs[1:])  # same data again: everything persists
    res = runner.invoke(app, ["-q", "embed", str(planted_config)])
    assert res.exit_code == 0, res.output
    assert "0 computed" in res.stdout and "index inputs" in res.stdout


def test_runs_made_within_one_second_keep_their_order(tmp_path, monkeypatch):
    """Two scans in the same second (a CI job, a script) must not lose their order: the second one's
    baseline is the first, and it is listed last. Run ids are made to sort backwards, and both runs get
    the same creation stamp, so neither the id nor the clock can order them; only the catalogue can."""
    import tagscan.pipeline as pipeline
    from tagscan.pipeline import run_scan

    cfg = load_config(write_audit_set(tmp_path / "t", SynthSpec(n=600, planted=PLANTED[:1])))
    ids = iter(["20261128-120000-ffffff", "20261128-120000-000000", "20261128-120000-777777"])
    monkeypatch.setattr(pipeline, "new_run_id", lambda: next(ids))
    monkeypatch.setattr(pipeline, "now_iso", lambda: "2026-11-28T12:00:00.000000+00:00")
    for _ in range(3):
        run_scan(cfg)
    ws = Workspace(cfg.workspace_dir)
    assert [r.run_id for r in ws.runs(cfg.name)] == ["20261128-120000-ffffff", "20261128-120000-000000", "20261128-120000-777777"]
    assert ws.latest_run(cfg.name).run_id == "20261128-120000-777777"
    baselines = [json.loads((ws.runs_dir / r / "run.json").read_text())["baseline"] for r in ("20261128-120000-000000", "20261128-120000-777777")]
    assert baselines == ["20261128-120000-ffffff", "20261128-120000-000000"]
    assert list(ws.run_summaries(cfg.name)["run_id"]) == [r.run_id for r in ws.runs(cfg.name)]


def test_review_pull_shows_each_finding_as_the_latest_run_saw_it_within_one_second(tmp_path, monkeypatch):
    """`review pull` joins each verdict with the finding's latest severity. Two scans in the same second whose
    run ids sort backwards: the latest is the catalogue's latest (not the largest run id)."""
    import numpy as np

    import tagscan.pipeline as pipeline
    from tagscan.pipeline import run_scan

    cfg = load_config(write_audit_set(tmp_path / "t", SynthSpec(n=600, planted=PLANTED[:1])))
    ids = iter(["20261128-120000-ffffff", "20261128-120000-000000"])
    monkeypatch.setattr(pipeline, "new_run_id", lambda: next(ids))
    monkeypatch.setattr(pipeline, "now_iso", lambda: "2026-11-28T12:00:00.000000+00:00")
    first = run_scan(cfg).findings.set_index("finding_id")
    # The model now applies gorilla to many more of tone=dark: the finding's severity changes.
    samples, pred = pd.read_parquet(cfg.data.samples), pd.read_parquet(cfg.data.predictions)
    dark = samples.loc[samples["tone"] == "dark", "sample_id"].to_numpy()
    more = np.random.default_rng(9).choice(dark, size=40, replace=False)
    pred = pd.concat([pred, pd.DataFrame({"sample_id": more, "label": "gorilla", "score": 0.9})])
    pred.drop_duplicates(["sample_id", "label"]).to_parquet(cfg.data.predictions, index=False)
    latest = run_scan(cfg).findings.set_index("finding_id")
    ws = Workspace(cfg.workspace_dir)
    assert ws.latest_run(cfg.name).run_id == "20261128-120000-000000"
    fid = latest.index[(latest["label"] == "gorilla") & (latest["group"] == "tone=dark")][0]
    assert first.loc[fid, "severity"] < latest.loc[fid, "severity"]
    seen = Workspace(cfg.workspace_dir).latest_findings().set_index("finding_id")
    assert seen.loc[latest.index, "severity"].tolist() == latest["severity"].tolist()
    assert seen.loc[latest.index, "severity_level"].tolist() == latest["severity_level"].tolist()


def test_run_times_order_to_the_microsecond():
    from tagscan.runs import now_iso

    a, b = now_iso(), now_iso()
    assert len(a) == len("2026-11-28T12:00:00.000000+00:00") and a <= b


def test_null_attribute_never_forms_a_group(planted_config):
    out = _json_scan(planted_config)
    assert not any("None" in x["group"] or "nan" in x["group"] for x in out["findings"])


def test_killed_scan_leaves_no_half_written_run(tmp_path, monkeypatch):
    import tagscan.runs.workspace as wsmod
    from tagscan.pipeline import run_scan

    cfg_path = write_audit_set(tmp_path / "k", SynthSpec(n=800, n_labels=30))
    cfg = load_config(cfg_path)
    real = wsmod._write_bytes

    def die_on_run_json(path, data):
        if path.name == "run.json":
            raise KeyboardInterrupt("killed")
        return real(path, data)

    monkeypatch.setattr(wsmod, "_write_bytes", die_on_run_json)
    with pytest.raises(KeyboardInterrupt):
        run_scan(cfg)
    monkeypatch.setattr(wsmod, "_write_bytes", real)
    ws = Workspace(cfg.workspace_dir)
    assert ws.runs() == []
    assert list(ws.runs_dir.iterdir()) == []  # the temporary folder was cleaned up

    # Killed after the rename but before the catalogue commit: the complete run is adopted.
    def die(self, info, findings):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(wsmod.Workspace, "_catalogue", die)
    with pytest.raises(KeyboardInterrupt):
        run_scan(cfg)
    monkeypatch.undo()
    ws = Workspace(cfg.workspace_dir)
    assert len(ws.runs()) == 1


def test_report_command_writes_self_contained_html(planted_config):
    _json_scan(planted_config)
    res = runner.invoke(app, ["report", str(planted_config)])
    assert res.exit_code == 0, res.output
    path = Path(res.stdout.strip())
    assert path.name == "report.html" and path.is_file()
    html = path.read_text()
    assert "gorilla" in html and "tone=dark" in html
    assert "<script src=" not in html and "https://" not in html
    res = runner.invoke(app, ["report", str(planted_config), "--run", "no-such-run"])
    assert res.exit_code == 2 and "--run 'no-such-run'" in res.stderr


def test_labels_like_and_neighbors(planted_config):
    res = runner.invoke(app, ["labels", str(planted_config), "--like", "gorilla", "-k", "3", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows[0]["label"] == "gorilla" and rows[0]["similarity"] > 0.99 and len(rows) == 3
    assert rows[0]["similarity"] >= rows[1]["similarity"] >= rows[2]["similarity"]
    res = runner.invoke(app, ["neighbors", str(planted_config), "s00010", "-k", "4", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 4 and "s00010" not in [r["sample_id"] for r in rows]  # -k neighbours, not itself
    # Against brute force over the precomputed vectors.
    import numpy as np

    v = np.load(planted_config.parent / "emb.npy")
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    expect = [i for i in np.argsort(-(v @ v[10])) if i != 10][:4]
    assert [r["sample_id"] for r in rows] == [f"s{i:05d}" for i in expect]
    assert "labels" in rows[0]
    res = runner.invoke(app, ["neighbors", str(planted_config), "no-such-sample"])
    assert res.exit_code == 2 and "no-such-sample" in res.stderr and "is not in samples" in res.stderr


def test_rescan_after_retraining_regressed_resolved_and_gate(tmp_path):
    import numpy as np

    cfg = write_audit_set(tmp_path / "r", SynthSpec(n=3000, planted=PLANTED))
    first = _json_scan(cfg)
    assert {("gorilla", "tone=dark"), ("mugshot", "tone=dark & gender=man")} <= {
        (f["label"], f["group"]) for f in first["findings"]}
    # "Retrain": gorilla spreads further on tone=dark, the mugshot bug is fixed.
    samples = pd.read_parquet(cfg.parent / "samples.parquet")
    pred = pd.read_parquet(cfg.parent / "predictions.parquet")
    pred = pred[pred["label"] != "mugshot"]
    dark = samples.loc[samples["tone"] == "dark", "sample_id"].to_numpy()
    rng = np.random.default_rng(9)
    extra = pd.DataFrame({"sample_id": rng.choice(dark, size=150, replace=False), "label": "gorilla", "score": 0.9})
    pred = pd.concat([pred, extra], ignore_index=True).drop_duplicates(["sample_id", "label"])
    pred.to_parquet(cfg.parent / "predictions.parquet", index=False)
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--format", "json", "--fail-on", "high"])
    assert res.exit_code == 1, res.output  # a regressed finding at high or above fails the gate
    out = json.loads(res.stdout)
    f = pd.DataFrame(out["findings"])
    st = {(r.label, r.group): r.status for r in f.itertuples()}
    assert st[("gorilla", "tone=dark")] == "regressed"
    assert st[("mugshot", "tone=dark & gender=man")] == "resolved"
    info = json.loads((Path(out["run_dir"]) / "run.json").read_text())
    assert info["comparison"].startswith("paired") and info["baseline"] == first["run_id"]
    assert info["counts"]["resolved_since_baseline"] >= 1
    # diff between the two runs names the change; RUN_A given as its shortest unique prefix (two scans within
    # one second share the time part of their ids, and then the suffix's first character 1 time in 16)
    a, b = first["run_id"], out["run_id"]
    prefix = next(a[:n] for n in range(17, len(a) + 1) if not b.startswith(a[:n]))
    res = runner.invoke(app, ["diff", str(cfg), prefix, out["run_id"]])
    assert res.exit_code == 0, res.output
    assert "mugshot" in res.stdout and "gorilla" in res.stdout and "association" in res.stdout  # detector shown
    assert res.stdout.startswith(f"{first['run_id']} -> {out['run_id']}")  # the resolved id, not the prefix
    res = runner.invoke(app, ["diff", str(cfg), first["run_id"], out["run_id"], "--top", "1"])
    assert res.exit_code == 0 and "more rows (--top N shows more" in res.stdout, res.output


def test_dismissed_finding_reopens_when_its_effect_grows(tmp_path):
    """Review verdicts recorded by a pull (written here through the store, without a server)."""
    import numpy as np

    from tagscan.review import ReviewStore

    cfg = write_audit_set(tmp_path / "d", SynthSpec(n=3000, planted=PLANTED))
    first = _json_scan(cfg)
    f = pd.DataFrame(first["findings"]).set_index(["label", "group"])
    fid = f.loc[("mugshot", "tone=dark & gender=man"), "finding_id"]
    store = ReviewStore(cfg.parent / "ws" / "tagscan.sqlite")
    summary = pd.DataFrame([{
        "finding_id": fid, "n_tasks": 5, "n_reviewed": 5, "n_votes": 5, "correct": 5, "wrong": 0, "harmful": 0,
        "unsure": 0, "share_wrong": 0.0, "share_wrong_low": 0.0, "share_wrong_high": 0.43,
        "review_status": "dismissed", "last_reviewed_at": "2026-11-28T00:00:00+00:00", "last_run_id": first["run_id"],
    }])
    votes = pd.DataFrame(columns=["task_id", "annotator", "annotation_id", "tagscan_key", "finding_id", "sample_id",
                                  "verdict", "comment", "updated_at"])
    store.save_review("synth-tagger", 1, votes, summary)
    # Unchanged data: the dismissed finding stays suppressed, with its reason, after every open one.
    again = pd.DataFrame(_json_scan(cfg)["findings"]).set_index("finding_id")
    assert again.loc[fid, "status"] == "dismissed" and "dismissed in review" in again.loc[fid, "review_note"]
    # The model now applies the label to many more of the group: the finding opens again as regressed.
    samples = pd.read_parquet(cfg.parent / "samples.parquet")
    pred = pd.read_parquet(cfg.parent / "predictions.parquet")
    grp = samples.loc[(samples["tone"] == "dark") & (samples["gender"] == "man"), "sample_id"].to_numpy()
    rng = np.random.default_rng(4)
    extra = pd.DataFrame({"sample_id": rng.choice(grp, size=80, replace=False), "label": "mugshot", "score": 0.9})
    pd.concat([pred, extra], ignore_index=True).drop_duplicates(["sample_id", "label"]).to_parquet(
        cfg.parent / "predictions.parquet", index=False)
    res = runner.invoke(app, ["-q", "scan", str(cfg), "--format", "json", "--fail-on", "high"])
    assert res.exit_code == 1, res.output
    grown = pd.DataFrame(json.loads(res.stdout)["findings"]).set_index("finding_id")
    assert grown.loc[fid, "status"] == "regressed" and "open again" in grown.loc[fid, "review_note"]


def test_report_and_review_find_texts_of_float_sample_ids(tmp_path):
    """Parquet ids stored as floats (1.0) are '1' in the scan; the report must look texts up the same way."""
    from tagscan.inputs import read_sample_table

    cfg_path = write_audit_set(tmp_path / "a", SynthSpec(n=600, n_labels=20, planted=[Planted("gorilla", {"tone": "dark"}, 0.6)]))
    for name in ("samples.parquet", "predictions.parquet"):
        df = pd.read_parquet(cfg_path.parent / name)
        df["sample_id"] = [float(x[1:]) for x in df["sample_id"]]
        df.to_parquet(cfg_path.parent / name)
    table = read_sample_table(load_config(cfg_path))
    assert table["sample_id"].iloc[5] == "5" and table["text"].iloc[5] == "sample number 5"
    out = _json_scan(cfg_path)
    example = next(f for f in out["findings"] if f["label"] == "gorilla")["examples"][0]
    res = runner.invoke(app, ["report", str(cfg_path)])
    assert res.exit_code == 0, res.output
    html = Path(res.stdout.strip()).read_text()
    assert f"sample number {example}" in html


def test_attribute_on_every_input_is_not_about_people_unless_protected(tmp_path):
    """Issue 10 item 4: ``source`` is on every input (zoo photos are mostly without people); only the protected
    attributes say who is a person, so an animal tag on source=zoo is an association, not a critical harm."""
    import numpy as np

    cfg = write_audit_set(
        tmp_path / "src", SynthSpec(n=3000, planted=PLANTED),
        config={"groups": {"attributes": ["tone", "gender", "source"], "protected": ["tone", "gender"],
                           "intersections": [["tone", "gender"]], "clusters": [4], "min_group_size": 30}},
    )
    samples = pd.read_parquet(cfg.parent / "samples.parquet")
    rng = np.random.default_rng(0)
    person = samples["tone"].notna().to_numpy()
    zoo = np.where(person, rng.random(len(samples)) < 0.1, rng.random(len(samples)) < 0.8)
    samples["source"] = np.where(zoo, "zoo", "web")
    samples.to_parquet(cfg.parent / "samples.parquet", index=False)
    pred = pd.read_parquet(cfg.parent / "predictions.parquet")
    ids = samples["sample_id"].to_numpy()[~person & (rng.random(len(samples)) < 1 / 3)]
    extra = pd.DataFrame({"sample_id": ids, "label": "gorilla", "score": 0.9})
    pd.concat([pred, extra]).drop_duplicates(["sample_id", "label"]).to_parquet(cfg.parent / "predictions.parquet", index=False)
    f = pd.DataFrame(_json_scan(cfg)["findings"])
    zoo_row = f[(f["label"] == "gorilla") & (f["group"] == "source=zoo")]
    assert len(zoo_row) == 1 and not zoo_row["about_people"].iloc[0]  # old pipeline: every input was a person
    assert zoo_row["severity_level"].iloc[0] not in ("critical", "high")
    top2 = set(zip(f["label"].head(2), f["group"].head(2)))
    assert top2 == {("gorilla", "tone=dark"), ("mugshot", "tone=dark & gender=man")}
