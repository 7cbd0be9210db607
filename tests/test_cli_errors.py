"""Every bad input gets one line on stderr naming the file/row/key and the fix, and exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.demo.planted import SynthSpec, write_audit_set

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
    c["groups"]["protected"] = ["tone"]
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
    _one_line_error(res, "--baseline 'nope' is not a run", "tagscan runs")
    res = runner.invoke(app, ["diff", str(synth_config), "nope", "nope2"])
    _one_line_error(res, "RUN_A 'nope' is not a run", "tagscan runs")


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
    from tagscan.outputs.terminal import untested_note
    from tagscan.runs import Counts
    from tagscan.scan.groups import untested_by_reason

    untested = (
        ("gender=x", "below min_group_size (3 < 30)"),
        ("tone=y", "below min_group_size (12 < 30)"),
        ("cluster:k2/0", "covers its whole universe: nothing to compare with"),
    )
    reasons = untested_by_reason(untested, 30)
    assert reasons == {"below min_group_size 30": 2, "covers its whole universe": 1}
    note = untested_note(Counts(groups_untested=3, groups_untested_by_reason=reasons))
    assert note == " (3 not tested: 2 below min_group_size 30, 1 covers its whole universe)"
    assert untested_note(Counts(groups_untested=0)) == ""
    assert untested_note(Counts.from_json({"groups_untested": 4})) == " (4 not tested)"  # runs before the reasons


# -- found in QA: malformed inputs that crashed, passed silently, or gave an unclear message -------------


def _set(cfg: Path, section: str | None, key: str, value) -> None:
    c = yaml.safe_load(cfg.read_text())
    (c[section] if section else c)[key] = value
    cfg.write_text(yaml.safe_dump(c))


def test_csv_ids_are_text_so_zero_padding_is_kept(audit):
    """'007' in a CSV is the id '007', not the number 7: ids of two files never match by accident."""
    s = pd.read_csv(audit.parent / "samples.csv", dtype=str)
    s["sample_id"] = [str(i + 1) for i in range(len(s))]
    s.to_csv(audit.parent / "samples.csv", index=False)
    p = pd.read_csv(audit.parent / "predictions.csv", dtype={"sample_id": str})
    p["sample_id"] = [f"{int(x[1:]) + 1:03d}" for x in p["sample_id"]]
    p.to_csv(audit.parent / "predictions.csv", index=False)
    first = p["sample_id"].iloc[0]
    _one_line_error(_scan(audit), "predictions.csv", "row 1", f"sample_id '{first}' is not in samples")


def test_csv_zero_padded_ids_survive_loading(audit):
    from tagscan.config import load_config
    from tagscan.inputs import load_audit_set

    s = pd.read_csv(audit.parent / "samples.csv", dtype=str)
    s["sample_id"] = [f"{i:03d}" for i in range(len(s))]
    s.to_csv(audit.parent / "samples.csv", index=False)
    p = pd.read_csv(audit.parent / "predictions.csv", dtype={"sample_id": str})
    p["sample_id"] = [f"{int(x[1:]):03d}" for x in p["sample_id"]]
    p.to_csv(audit.parent / "predictions.csv", index=False)
    a = load_audit_set(load_config(audit))
    assert a.sample_ids[7] == "007"


def test_csv_ids_named_like_missing_values_are_kept(audit):
    """A label or sample literally called 'NA' or 'None' is that id; in attribute columns the usual
    missing-value spellings (R's NA) still mean 'not applicable'."""
    from tagscan.config import load_config
    from tagscan.inputs import load_audit_set

    s = pd.read_csv(audit.parent / "samples.csv", dtype=str, keep_default_na=False)
    s.loc[0, "sample_id"] = "None"
    s.loc[1, "tone"] = "NA"
    s.to_csv(audit.parent / "samples.csv", index=False)
    p = pd.read_csv(audit.parent / "predictions.csv", dtype=str, keep_default_na=False)
    p.loc[0, "sample_id"] = "None"
    p.loc[1, "label"] = "NA"
    p.to_csv(audit.parent / "predictions.csv", index=False)
    v = pd.read_csv(audit.parent / "vocabulary.csv", dtype=str, keep_default_na=False)
    pd.concat([v, pd.DataFrame({"label": ["NA"], "name": ["north america"]})]).to_csv(
        audit.parent / "vocabulary.csv", index=False
    )
    a = load_audit_set(load_config(audit))
    assert a.sample_ids[0] == "None"
    assert "NA" in list(a.labels)
    assert pd.isna(a.samples["tone"].iloc[1])


def test_duplicate_csv_header_column(audit):
    """pandas would rename the second 'label' to 'label.1' and silently drop the score column."""
    path = audit.parent / "predictions.csv"
    lines = path.read_text().splitlines()
    lines[0] = "sample_id,label,label"
    path.write_text("\n".join(lines) + "\n")
    _one_line_error(_scan(audit), "predictions.csv", "column 'label' appears twice", "columns 2 and 3", "rename")


@pytest.mark.parametrize("bad", ["", "   "])
def test_blank_sample_id_in_jsonl(audit, bad):
    s = pd.read_csv(audit.parent / "samples.csv")
    s.loc[4, "sample_id"] = bad
    s.to_json(audit.parent / "s.jsonl", orient="records", lines=True)
    _set(audit, "data", "samples", "s.jsonl")
    _one_line_error(_scan(audit), "s.jsonl", "row 5", "'sample_id' is empty")


def test_list_valued_id_and_attribute_columns(audit):
    s = pd.read_csv(audit.parent / "samples.csv")
    s["tone"] = [["a", "b"] if i % 2 else ["c"] for i in range(len(s))]
    s.to_parquet(audit.parent / "s.parquet")
    _set(audit, "data", "samples", "s.parquet")
    _one_line_error(_scan(audit), "s.parquet", "row 1", "attribute 'tone' holds a list", "one value per sample")
    s["tone"] = "x"
    s["sample_id"] = [[i] for i in range(len(s))]
    s.to_parquet(audit.parent / "s.parquet")
    _one_line_error(_scan(audit), "s.parquet", "row 1", "'sample_id' holds a list")


def test_jsonl_broken_line_is_named_by_number(audit):
    p = pd.read_csv(audit.parent / "predictions.csv")
    p.to_json(audit.parent / "p.jsonl", orient="records", lines=True)
    lines = (audit.parent / "p.jsonl").read_text().splitlines()
    lines[41] = lines[41][:-5]
    (audit.parent / "p.jsonl").write_text("\n".join(lines) + "\n")
    _set(audit, "data", "predictions", "p.jsonl")
    _one_line_error(_scan(audit), "p.jsonl", "line 42", "not valid JSON")
    p.to_json(audit.parent / "p.jsonl", orient="records")  # one JSON array, not JSON Lines
    _one_line_error(_scan(audit), "p.jsonl", "line 1", "is an array", "one {...} object per line")


def test_csv_parser_error_is_one_line(audit):
    path = audit.parent / "predictions.csv"
    lines = path.read_text().splitlines()
    lines[20] += ",extra,more"
    path.write_text("\n".join(lines) + "\n")
    _one_line_error(_scan(audit), "predictions.csv", "Expected 3 fields in line 21, saw 5", "check the file")


def test_non_utf8_csv_names_line_and_fix(audit):
    path = audit.parent / "samples.csv"
    path.write_bytes(path.read_text().replace("sample number 7", "caf\u00e9 number 7").encode("latin-1"))
    _one_line_error(_scan(audit), "samples.csv", "line 9", "byte 0xe9 is not UTF-8", "save the file as UTF-8")


def test_boolean_score_is_not_a_probability(audit):
    p = pd.read_csv(audit.parent / "predictions.csv")
    p["score"] = p["score"].astype(object)
    p.loc[2, "score"] = True
    p.to_json(audit.parent / "p.jsonl", orient="records", lines=True)
    _set(audit, "data", "predictions", "p.jsonl")
    _one_line_error(_scan(audit), "p.jsonl", "row 3", "score True is not a number in [0, 1]")


def test_no_prediction_reaching_threshold_warns(audit, caplog):
    from tagscan.config import load_config
    from tagscan.inputs import load_audit_set

    _edit(audit.parent / "predictions.csv", lambda d: d.assign(score=0.1))
    with caplog.at_level("WARNING", logger="tagscan"):
        a = load_audit_set(load_config(audit))
    assert a.Y.nnz == 0
    assert "reaches scan.threshold 0.5" in caplog.text and "lower scan.threshold" in caplog.text


@pytest.mark.parametrize(
    ("array", "needles"),
    [
        (np.full((300, 4), "ab"), ("must be real numbers", "dtype <U2")),
        (np.ones((300, 4), dtype=np.complex64), ("must be real numbers", "complex64")),
        (np.zeros((300, 2), dtype=[("a", "f4"), ("b", "f4")]), ("must be real numbers",)),
        (np.ones((300, 0), dtype=np.float32), ("0 dimensions",)),
    ],
)
def test_npy_embeddings_of_the_wrong_kind(audit, array, needles):
    np.save(audit.parent / "emb.npy", array)
    res = _scan(audit)
    _one_line_error(res, "emb.npy", *needles)
    assert "np." not in res.output


def test_npy_embedding_zero_row_and_float32_overflow(audit):
    a = np.random.default_rng(0).normal(size=(300, 8))
    a[17] = 0
    np.save(audit.parent / "emb.npy", a.astype(np.float32))
    _one_line_error(_scan(audit), "emb.npy", "embedding row 18 is all zeros")
    a[17] = 1
    a[5, 0] = 1e300
    np.save(audit.parent / "emb.npy", a)
    res = _scan(audit)
    _one_line_error(res, "emb.npy", "row 6", "float32 range")
    assert "RuntimeWarning" not in res.output


def test_npy_that_is_not_npy(audit):
    (audit.parent / "emb.npy").write_text("hello")
    _one_line_error(_scan(audit), "emb.npy", "is not a .npy file")


def _emb_table(audit: Path, name: str, ids, values) -> None:
    df = pd.DataFrame({"sample_id": ids, "embedding": values})
    path = audit.parent / name
    if name.endswith(".parquet"):
        df.to_parquet(path)
    elif name.endswith(".csv"):
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True)
    _set(audit, "data", "embeddings", name)


def test_embedding_table_bad_rows(audit):
    ids = pd.read_csv(audit.parent / "samples.csv")["sample_id"].tolist()
    dup = list(ids)
    dup[5] = dup[4]
    _emb_table(audit, "e.parquet", dup, [[0.1, 0.2]] * 300)
    _one_line_error(_scan(audit), "e.parquet", "row 6", f"sample_id '{ids[4]}' has a second embedding")
    _emb_table(audit, "e.parquet", ids, [["a", "b"]] * 300)
    _one_line_error(_scan(audit), "e.parquet", "row 1", "holds text 'a', not a number")
    _emb_table(audit, "e.csv", ids, ["[0.1, 0.2]"] * 300)
    _one_line_error(_scan(audit), "e.csv", "row 1", "a CSV cell cannot hold a list")
    _emb_table(audit, "e.jsonl", ids, [[[0.1, 0.2]]] * 300)
    _one_line_error(_scan(audit), "e.jsonl", "row 1", "list of lists")


def test_list_valued_text_column(audit):
    s = pd.read_csv(audit.parent / "samples.csv")
    s["text"] = [["a", "b"]] * len(s)
    s.to_parquet(audit.parent / "s.parquet")
    c = yaml.safe_load(audit.read_text())
    c["data"]["samples"] = "s.parquet"
    c["data"]["embeddings"] = None
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "s.parquet", "row 1", "'text' holds a list")


def test_under_representation_names_an_unknown_label(audit):
    c = yaml.safe_load(audit.read_text())
    c["scan"]["under_representation"] = ["tag_0001", "no_such_tag"]
    audit.write_text(yaml.safe_dump(c))
    _one_line_error(_scan(audit), "tagscan.yaml", "scan.under_representation", "'no_such_tag'", "not a label")


def test_duplicate_yaml_key_is_refused(audit):
    audit.write_text(audit.read_text() + "scan:\n  fdr: 0.1\n")
    _one_line_error(_scan(audit), "tagscan.yaml", "key 'scan' appears twice", "keep one")


def test_watchlist_not_utf8_and_tabs(audit, tmp_path):
    wl = tmp_path / "wl.yaml"
    wl.write_bytes("categories:\n  x:\n    weight: 1\n    terms: [caf\u00e9]\n".encode("latin-1"))
    _set(audit, "scan", "watchlist", str(wl))
    _one_line_error(_scan(audit), "wl.yaml", "not UTF-8", "save the watchlist as UTF-8")
    wl.write_text("categories:\n\tx:\n\t\tweight: 1\n")
    _one_line_error(_scan(audit), "wl.yaml", "line 2", "not valid YAML", "spaces, not tabs")


def test_corrupt_or_unusable_catalogue(audit):
    ws = audit.parent / "ws"
    ws.mkdir()
    (ws / "tagscan.sqlite").write_text("garbage" * 100)
    _one_line_error(_scan(audit), "tagscan.sqlite", "cannot be opened as the workspace catalogue", "move the damaged file")
    _one_line_error(runner.invoke(app, ["runs", str(audit)]), "tagscan.sqlite", "workspace catalogue")
    (ws / "tagscan.sqlite").unlink()
    (ws / "tagscan.sqlite").mkdir()
    _one_line_error(_scan(audit), "tagscan.sqlite", "is not a file")


def test_read_only_workspace(audit, monkeypatch):
    import os

    ws = audit.parent / "ws"
    ws.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == ws and mode == os.W_OK else real(p, mode))
    _one_line_error(_scan(audit), "ws", "is read-only", "writable folder")


def test_damaged_run_folder(synth_config):
    assert runner.invoke(app, ["-q", "scan", str(synth_config)]).exit_code == 0
    run_dir = next((synth_config.parent / "ws" / "runs").iterdir())
    (run_dir / "run.json").write_text("{")
    _one_line_error(runner.invoke(app, ["report", str(synth_config)]), "run.json", "cannot be read", "is damaged")
    (run_dir / "findings.parquet").unlink()
    res = runner.invoke(app, ["diff", str(synth_config), run_dir.name, run_dir.name])
    _one_line_error(res, "findings.parquet", "is missing", "is damaged")


def test_labels_like_empty(audit):
    _one_line_error(runner.invoke(app, ["labels", str(audit), "--like", "  "]), "--like is empty")


def test_review_without_api_key_or_with_a_bad_url(audit, monkeypatch):
    """No server is contacted: a missing token or a malformed URL is the user's setup (exit 2), not a service failure."""
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    res = runner.invoke(app, ["review", "pull", str(audit)])
    _one_line_error(res, "no Label Studio API key", "LABEL_STUDIO_API_KEY", "review.api_key_env")
    _set(audit, "review", "url", "localhost:8080")
    res = runner.invoke(app, ["review", "push", str(audit)])
    _one_line_error(res, "tagscan.yaml", "key 'review.url'", "http(s) URL", "localhost:8080")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["scan", "a.yaml", "b.yaml"], ("unexpected extra argument(s) (b.yaml)", "tagscan scan --help")),
        (["scan", "x.yaml", "--format", "xml"], ("'--format'", "'xml' is not one of")),
        (["labels", "x.yaml", "--like", "a", "-k", "0"], ("'-k'",)),
        (["scna", "x.yaml"], ("No such command 'scna'",)),
    ],
)
def test_command_line_mistakes_are_one_line(args, needles):
    _one_line_error(runner.invoke(app, args), *needles)


def test_demo_out_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "f"), "--samples", "500"])
    _one_line_error(res, "is a file, not a folder", "--out")


def test_jsonl_with_a_byte_order_mark_loads(audit):
    from tagscan.config import load_config
    from tagscan.inputs import load_audit_set

    p = pd.read_csv(audit.parent / "predictions.csv")
    p.to_json(audit.parent / "p.jsonl", orient="records", lines=True)
    (audit.parent / "p.jsonl").write_bytes(b"\xef\xbb\xbf" + (audit.parent / "p.jsonl").read_bytes())
    _set(audit, "data", "predictions", "p.jsonl")
    assert load_audit_set(load_config(audit)).n_prediction_rows == len(p)


@pytest.mark.parametrize(
    "args, line",
    [
        (["scna", "x.yaml"], "tagscan: error: No such command 'scna'. Did you mean 'scan'? see 'tagscan --help'"),
        (["scan", "--bogus-flag", "x.yaml"], "tagscan: error: No such option: --bogus-flag; see 'tagscan scan --help'"),
        (["scan"], "tagscan: error: no CONFIG given and no ./tagscan.yaml in "),
        (["scan", "x.yaml", "--fail-on", "severe"], "tagscan: error: Invalid value for '--fail-on'"),
    ],
)
def test_command_line_mistakes_are_one_line_through_the_real_entry_point(args, line, tmp_path):
    """The installed `tagscan` script (not CliRunner): click's usage block and box become one line, exit 2."""
    import subprocess
    import sys

    res = subprocess.run([str(Path(sys.executable).parent / "tagscan"), *args], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2, res
    assert res.stdout == "" and res.stderr.count("\n") == 1 and res.stderr.startswith(line), res.stderr


def test_tagscan_alone_prints_the_help():
    import subprocess
    import sys

    res = subprocess.run([str(Path(sys.executable).parent / "tagscan")], capture_output=True, text=True)
    assert "Usage: tagscan" in res.stdout + res.stderr and "scan" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_logging_follows_stderr_across_cli_calls_in_one_process(tmp_path, capsys):
    """CliRunner swaps stderr for each call and closes it after; the CLI's log handler must not keep
    writing to a closed stream (which prints '--- Logging error ---' for every later record)."""
    import logging

    cfg = write_audit_set(tmp_path / "s", SynthSpec(n=200))
    res = runner.invoke(app, ["runs", str(cfg)])
    assert res.exit_code == 0, res.output
    logging.getLogger("tagscan").warning("after the call")
    err = capsys.readouterr().err
    assert "tagscan: after the call" in err and "Logging error" not in err


# -- truth (data.truth): empty labels mark annotated samples, and bad rows are named by their file row --
def _truth(audit: Path, rows: list[dict], name: str = "truth.csv") -> None:
    pd.DataFrame(rows, columns=["sample_id", "label"]).to_csv(audit.parent / name, index=False)
    _set(audit, "data", "truth", name)


def test_truth_exhaustive_without_truth(audit):
    _set(audit, "data", "truth_exhaustive", True)
    _one_line_error(_scan(audit), "tagscan.yaml", "'data.truth_exhaustive' is true but data.truth is not set", "give the ground truth")


def test_truth_label_outside_vocabulary_is_named_by_its_file_row(audit):
    """Empty-label rows ("annotated, no positive label") before the bad one do not shift its row number."""
    _truth(audit, [{"sample_id": "s00000", "label": None}, {"sample_id": "s00001", "label": None},
                   {"sample_id": "s00002", "label": "not_a_tag"}])
    _one_line_error(_scan(audit), "truth.csv", "row 3", "'not_a_tag' is not in the vocabulary", "vocabulary.csv")


def test_truth_for_unknown_sample_with_an_empty_label(audit):
    _truth(audit, [{"sample_id": "s00000", "label": None}, {"sample_id": "ghost", "label": None}])
    _one_line_error(_scan(audit), "truth.csv", "row 2", "'ghost' is not in samples", "remove the row or add the sample")


def test_truth_row_without_a_sample_id(audit):
    _truth(audit, [{"sample_id": "s00000", "label": None}, {"sample_id": None, "label": None}])
    _one_line_error(_scan(audit), "truth.csv", "row 2", "'sample_id' is empty", "every row needs a sample_id")


def test_truth_label_holding_a_list(audit):
    (audit.parent / "truth.jsonl").write_text('{"sample_id": "s00000", "label": null}\n{"sample_id": "s00001", "label": ["a", "b"]}\n')
    _set(audit, "data", "truth", "truth.jsonl")
    _one_line_error(_scan(audit), "truth.jsonl", "row 2", "'label' holds a list", "a single label")


def test_truth_without_a_label_column(audit):
    pd.DataFrame({"sample_id": ["s00000"]}).to_csv(audit.parent / "truth.csv", index=False)
    _set(audit, "data", "truth", "truth.csv")
    _one_line_error(_scan(audit), "truth.csv", "missing required column 'label'")
