"""Every bad input gets one line on stderr naming the file/row/key and the fix, and exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from synth import SynthSpec, write_audit_set
from typer.testing import CliRunner

from tagscan.cli import app

runner = CliRunner()


def _scan(cfg: Path):
    return runner.invoke(app, ["scan", str(cfg)])


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    lines = err.splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return write_audit_set(tmp_path / "a", SynthSpec(n=300, n_labels=20), fmt="csv")


def _edit(path: Path, fn) -> None:
    df = pd.read_csv(path)
    fn(df).to_csv(path, index=False)


def test_missing_file(audit):
    (audit.parent / "predictions.csv").unlink()
    _one_line_error(_scan(audit), "predictions.csv", "file not found", "data.predictions", "fix the path")


def test_missing_column(audit):
    _edit(audit.parent / "predictions.csv", lambda d: d.drop(columns=["label"]))
    _one_line_error(_scan(audit), "predictions.csv", "missing required column 'label'", "add a 'label' column")


def test_duplicate_sample_ids(audit):
    def dup(d):
        d.loc[7, "sample_id"] = d.loc[2, "sample_id"]
        return d

    _edit(audit.parent / "samples.csv", dup)
    _one_line_error(_scan(audit), "samples.csv", "row 8", "'s00002' is duplicated", "first seen at row 3", "unique")


def test_prediction_for_unknown_sample(audit):
    def unknown(d):
        d.loc[4, "sample_id"] = "ghost"
        return d

    _edit(audit.parent / "predictions.csv", unknown)
    _one_line_error(_scan(audit), "predictions.csv", "row 5", "'ghost' is not in samples", "samples.csv")


def test_label_outside_vocabulary(audit):
    def bad(d):
        d.loc[0, "label"] = "not_a_tag"
        return d

    _edit(audit.parent / "predictions.csv", bad)
    _one_line_error(_scan(audit), "predictions.csv", "row 1", "'not_a_tag' is not in the vocabulary", "vocabulary.csv")


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan")])
def test_score_out_of_range_or_nan(audit, value):
    def bad(d):
        d["score"] = d["score"].astype(float)
        d.loc[3, "score"] = value
        return d

    _edit(audit.parent / "predictions.csv", bad)
    result = _scan(audit)
    _one_line_error(result, "predictions.csv", "row 4", f"score {value!r} is not a number in [0, 1]")
    assert "np." not in result.output  # the value as the user wrote it, not a numpy repr


def test_embedding_rows_do_not_match(audit):
    np.save(audit.parent / "emb.npy", np.zeros((299, 16), dtype=np.float32))
    _one_line_error(_scan(audit), "emb.npy", "299 embedding rows but samples has 300", "one row per sample")


def test_embedding_not_2d(audit):
    np.save(audit.parent / "emb.npy", np.zeros(300, dtype=np.float32))
    _one_line_error(_scan(audit), "emb.npy", "2-D")


def test_embedding_table_missing_sample(tmp_path):
    cfg = write_audit_set(tmp_path / "a", SynthSpec(n=100, n_labels=10))
    ids = pd.read_parquet(cfg.parent / "samples.parquet")["sample_id"].tolist()
    pd.DataFrame({"sample_id": ids[:-1], "embedding": [[0.1, 0.2]] * 99}).to_parquet(cfg.parent / "emb.parquet")
    c = yaml.safe_load(cfg.read_text())
    c["data"]["embeddings"] = "emb.parquet"
    cfg.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(cfg), "emb.parquet", f"no embedding for sample_id '{ids[-1]}'")


def test_unknown_config_key(audit):
    c = yaml.safe_load(audit.read_text())
    c["groups"]["min_groupsize"] = 10
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "tagscan.yaml", "unknown key 'groups.min_groupsize'")


def test_empty_table(audit):
    (audit.parent / "predictions.csv").write_text("sample_id,label,score\n")
    _one_line_error(_scan(audit), "predictions.csv", "empty (0 rows)")


def test_attribute_not_a_column(audit):
    c = yaml.safe_load(audit.read_text())
    c["groups"]["attributes"] = ["tone", "skin"]
    c["groups"]["intersections"] = []
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "samples.csv", "attribute 'skin'", "not a column")


def test_unsupported_format(audit):
    c = yaml.safe_load(audit.read_text())
    c["data"]["samples"] = "samples.xlsx"
    (audit.parent / "samples.xlsx").write_text("x")
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "samples.xlsx", "unsupported table format")


def test_corrupt_parquet(tmp_path):
    cfg = write_audit_set(tmp_path / "a", SynthSpec(n=100, n_labels=10))
    (cfg.parent / "predictions.parquet").write_bytes(b"PAR1 this is not parquet")
    _one_line_error(_scan(cfg), "predictions.parquet", "cannot be read as parquet")


def test_missing_text_without_embeddings(audit):
    c = yaml.safe_load(audit.read_text())
    c["data"]["embeddings"] = None
    audit.write_text(yaml.safe_dump(c))
    _edit(audit.parent / "samples.csv", lambda d: d.drop(columns=["text"]))
    _one_line_error(_scan(audit), "samples.csv", "no 'text' column")


def test_bad_model_folder(audit, tmp_path):
    c = yaml.safe_load(audit.read_text())
    c["data"]["embeddings"] = None
    c["embed"]["model"] = str(tmp_path / "no-model")
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "embed.model", "no-model")


def test_too_many_clusters(tmp_path):
    cfg = write_audit_set(tmp_path / "a", SynthSpec(n=50, n_labels=5), config={"scan": {"watchlist": None}})
    c = yaml.safe_load(cfg.read_text())
    c["groups"]["clusters"] = [80]
    cfg.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(cfg), "tagscan.yaml", "groups.clusters", "k=80")


def test_bad_watchlist(audit, tmp_path):
    wl = tmp_path / "wl.yaml"
    wl.write_text(yaml.safe_dump({"categories": {"x": {"weight": 2.0, "terms": ["a"]}}}))
    c = yaml.safe_load(audit.read_text())
    c["scan"]["watchlist"] = str(wl)
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "wl.yaml", "categories.x.weight")


def test_missing_config_file(tmp_path):
    _one_line_error(_scan(tmp_path / "missing.yaml"), "missing.yaml", "config file not found")


def test_unknown_run_for_baseline(synth_config):
    res = runner.invoke(app, ["scan", str(synth_config), "--baseline", "nope"])
    _one_line_error(res, "no runs yet")
    assert runner.invoke(app, ["-q", "scan", str(synth_config)]).exit_code == 0
    res = runner.invoke(app, ["scan", str(synth_config), "--baseline", "nope"])
    _one_line_error(res, "--run 'nope' is not a run", "tagscan runs")


def test_no_groups_configured(audit):
    c = yaml.safe_load(audit.read_text())
    c["groups"] = {"attributes": [], "intersections": [], "clusters": []}
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "tagscan.yaml", "no groups to test", "groups.attributes")


def test_unknown_detector_name(audit):
    c = yaml.safe_load(audit.read_text())
    c["scan"]["detectors"] = ["association", "nope"]
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "scan.detectors", "unknown detector 'nope'", "valid detectors")


def test_every_group_too_small_warns_and_says_why(audit):
    """A scan that could test no group must say so (a CI gate would otherwise pass on nothing)."""
    c = yaml.safe_load(audit.read_text())
    c["groups"]["min_group_size"] = 100_000
    audit.write_text(yaml.safe_dump(c))
    res = _scan(audit)
    assert res.exit_code == 0, res.output
    assert "no group was tested" in res.stderr and "groups.min_group_size" in res.stderr
    assert "0 groups tested (" in res.stdout and "below min_group_size 100000" in res.stdout


def test_untested_groups_are_counted_by_reason():
    from tagscan.pipeline import _untested_by_reason
    from tagscan.render import _untested_note

    untested = (
        ("gender=x", "below min_group_size (3 < 30)"),
        ("tone=y", "below min_group_size (12 < 30)"),
        ("cluster:k2/0", "covers its whole universe: nothing to compare with"),
    )
    reasons = _untested_by_reason(untested, 30)
    assert reasons == {"below min_group_size 30": 2, "covers its whole universe": 1}
    note = _untested_note({"groups_untested": 3, "groups_untested_by_reason": reasons})
    assert note == " (3 not tested: 2 below min_group_size 30, 1 covers its whole universe)"
    assert _untested_note({"groups_untested": 0}) == ""
    assert _untested_note({"groups_untested": 4}) == " (4 not tested)"  # runs written before the reasons
