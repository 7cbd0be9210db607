"""Taggers' own output formats (issue 11, item 4): one row per sample with a ``labels`` list (and a ``scores``
list), in JSON Lines or Parquet, and the ``scan.top_k`` cut; every bad cell is exit 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_no_inputs import _one_line, fairtest_tables, write_fairtest
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.config import load_config
from tagscan.errors import ConfigError, DataError
from tagscan.inputs import load_audit_set
from tagscan.inputs.formats import long_table, top_k_mask

runner = CliRunner()


def _latest(cfg: Path) -> tuple[dict, pd.DataFrame]:
    runs = cfg.parent / ".tagscan" / "caffe-imagenet-fairtest" / "runs"
    d = max(runs.iterdir())
    return json.loads((d / "run.json").read_text()), pd.read_parquet(d / "findings.parquet")


def _scan_ok(cfg: Path) -> tuple[dict, pd.DataFrame]:
    res = runner.invoke(app, ["scan", str(cfg)])
    assert res.exit_code in (0, 1), (res.exit_code, res.output)
    return _latest(cfg)


_KEY = ["detector", "family", "label", "group", "count", "group_size", "p_value"]


def _same_findings(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a[_KEY].reset_index(drop=True), b[_KEY].reset_index(drop=True))


# -- end to end ---------------------------------------------------------------------------------------


def test_jsonl_lists_scan_like_the_long_table(tmp_path):
    """The same predictions as a JSON Lines 'labels'/'scores' export give the long table's findings."""
    run_long, f_long = _scan_ok(write_fairtest(tmp_path / "long"))
    cfg = write_fairtest(tmp_path / "lists", pred_fmt="jsonl")
    first = json.loads((cfg.parent / "predictions.jsonl").read_text().splitlines()[0])
    assert isinstance(first["labels"], list) and len(first["labels"]) == len(first["scores"]) == 5
    run_lists, f_lists = _scan_ok(cfg)
    assert ((f_lists["label"] == "monkey") & (f_lists["family"] == "watchlist")).any()
    _same_findings(f_long, f_lists)
    for key in ("samples", "labels", "prediction_rows", "positives"):
        assert run_long["counts"][key] == run_lists["counts"][key]


def test_parquet_lists_with_top_k(tmp_path):
    """A Parquet export scoring many labels per photo, cut to its top 5 by scan.top_k, scans like the top-5
    table written out by hand."""
    folder = tmp_path / "pq"
    cfg = write_fairtest(folder, top_k=5)
    samples, top5 = fairtest_tables(folder)
    # The tagger scored every photo on 10 labels: its top 5 and 5 more below them.
    rng = np.random.default_rng(3)
    tags = np.array(sorted(set(top5["label"]) - {"monkey"}), dtype=object)
    extra = []
    for sid, g in top5.groupby("sample_id", sort=False):
        low = rng.choice(np.setdiff1d(tags, g["label"].to_numpy()), 5, replace=False)
        extra += [(sid, lab, round(float(s), 4)) for lab, s in zip(low, rng.uniform(0.0, 0.049, 5))]
    wide = pd.concat([top5, pd.DataFrame(extra, columns=top5.columns)]).sample(frac=1.0, random_state=1)
    lists = wide.groupby("sample_id", sort=False).agg(labels=("label", list), scores=("score", list)).reset_index()
    lists.to_parquet(folder / "predictions.parquet", index=False)
    raw = yaml.safe_load(cfg.read_text())
    raw["data"]["predictions"] = "predictions.parquet"
    cfg.write_text(yaml.safe_dump(raw))
    run_cut, f_cut = _scan_ok(cfg)
    assert run_cut["config"]["scan"]["top_k"] == 5
    assert run_cut["counts"]["prediction_rows"] == 10 * len(samples)
    assert run_cut["counts"]["positives"] == 5 * len(samples)
    _, f_top5 = _scan_ok(write_fairtest(tmp_path / "top5"))
    _same_findings(f_top5, f_cut)


def test_top_k_without_scores_is_an_error(tmp_path):
    cfg = write_fairtest(tmp_path / "ft", top_k=3)
    pd.read_csv(cfg.parent / "predictions.csv").drop(columns="score").to_csv(cfg.parent / "predictions.csv", index=False)
    _one_line(runner.invoke(app, ["scan", str(cfg)]), "scan.top_k", "no scores", "'scores' list", "remove scan.top_k")


def test_top_k_must_be_positive(tmp_path):
    _one_line(runner.invoke(app, ["scan", str(write_fairtest(tmp_path / "ft", top_k=0))]), "scan.top_k")


# -- readers ------------------------------------------------------------------------------------------


def test_long_table_explodes_lists_and_keeps_file_rows(tmp_path):
    df = pd.DataFrame({"sample_id": ["a", "b", "c"], "labels": [["x", "y"], [], [3]], "scores": [[0.9, 0.1], [], [0.5]]})
    long, src = long_table(df, tmp_path / "p.jsonl")
    assert long.to_dict("list") == {"sample_id": ["a", "a", "c"], "label": ["x", "y", "3"], "score": [0.9, 0.1, 0.5]}
    assert src.tolist() == [0, 0, 2]
    # The truth table: an empty list is "annotated, no positive label" (a row with a null label).
    long, src = long_table(df.drop(columns="scores"), tmp_path / "t.jsonl", keep_empty=True)
    assert long["label"].tolist() == ["x", "y", "3", None] and src.tolist() == [0, 0, 2, 1]
    # The long layout passes through untouched.
    plain = pd.DataFrame({"sample_id": ["a"], "label": ["x"]})
    assert long_table(plain, tmp_path / "p.csv") == (plain, None)


def test_top_k_mask_ties_are_deterministic():
    rows = np.array([0, 0, 0, 0, 1, 1, 0])
    labels = np.array(["d", "b", "c", "a", "a", "b", "d"], dtype=object)
    scores = np.array([0.5, 0.5, 0.9, 0.5, 0.2, 0.2, 0.7])
    # Sample 0: c (0.9), then d at its highest (0.7); then b and a tie at 0.5 -> 'a' first. Sample 1: a, b tie.
    keep = top_k_mask(rows, labels, scores, 3)
    assert keep.tolist() == [False, False, True, True, True, True, True]
    # Any order of the rows gives the same cut.
    perm = np.random.default_rng(0).permutation(len(rows))
    assert top_k_mask(rows[perm], labels[perm], scores[perm], 3).tolist() == keep[perm].tolist()
    assert top_k_mask(rows, labels, scores, 1).tolist() == [False, False, True, False, True, False, False]


def _set(tmp_path: Path, pred_rows: list[dict] | pd.DataFrame, fmt: str = "jsonl", truth=None, vocabulary=None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"sample_id": ["s1", "s2", "s3"], "g": ["a", "b", "a"]}).to_csv(tmp_path / "samples.csv", index=False)
    df = pd.DataFrame(pred_rows)
    data = {"samples": "samples.csv", "predictions": f"predictions.{fmt}"}
    if fmt == "jsonl":
        (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pred_rows))
    elif fmt == "parquet":
        df.to_parquet(tmp_path / "predictions.parquet", index=False)
    else:
        df.to_csv(tmp_path / "predictions.csv", index=False)
    if truth is not None:
        (tmp_path / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in truth))
        data["truth"] = "truth.jsonl"
    if vocabulary is not None:
        pd.DataFrame({"label": vocabulary}).to_csv(tmp_path / "vocab.csv", index=False)
        data["vocabulary"] = "vocab.csv"
    cfg = {"name": "lists", "data": data, "embed": {"input": "none"}, "groups": {"attributes": ["g"]}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "c.yaml"


def test_lists_and_truth_lists_load(tmp_path):
    preds = [{"sample_id": "s1", "labels": ["cat", "dog"], "scores": [0.9, 0.4]},
             {"sample_id": "s2", "labels": [], "scores": []},
             {"sample_id": "s3", "labels": ["dog"], "scores": [0.8]}]
    truth = [{"sample_id": "s1", "labels": ["cat"]}, {"sample_id": "s2", "labels": []}]
    audit = load_audit_set(load_config(_set(tmp_path, preds, truth=truth)))
    assert audit.labels.tolist() == ["cat", "dog"]
    assert audit.Y.toarray().tolist() == [[1, 0], [0, 0], [0, 1]]  # dog at 0.4 is under scan.threshold 0.5
    assert audit.n_prediction_rows == 3
    assert audit.annotated.tolist() == [True, True, False]
    assert audit.truth.toarray().tolist() == [[1, 0], [0, 0], [0, 0]]


def test_parquet_list_columns_load(tmp_path):
    preds = pd.DataFrame({"sample_id": ["s1", "s3"], "labels": [["cat", "dog"], ["dog"]], "scores": [[0.9, 0.6], [0.8]]})
    audit = load_audit_set(load_config(_set(tmp_path, preds, fmt="parquet")))
    assert audit.Y.toarray().tolist() == [[1, 1], [0, 0], [0, 1]]


# -- each bad input: exit 2, one line naming the file, the row and the fix -------------------------------


def _bad(tmp_path, rows, *needles, fmt="jsonl", **kw):
    cfg = _set(tmp_path, rows, fmt=fmt, **kw)
    with pytest.raises((DataError, ConfigError)) as exc:
        load_audit_set(load_config(cfg))
    for n in needles:
        assert n in str(exc.value), (n, str(exc.value))
    assert "\n" not in str(exc.value)
    # and the CLI says it in one line with exit code 2
    _one_line(runner.invoke(app, ["scan", str(cfg)]), *needles)


_OK = {"sample_id": "s1", "labels": ["cat"], "scores": [0.9]}


def test_bad_unequal_lengths(tmp_path):
    _bad(tmp_path, [_OK, {"sample_id": "s2", "labels": ["cat", "dog"], "scores": [0.9]}],
         "predictions.jsonl: row 2", "'labels' has 2 items but 'scores' has 1", "one score per label")


def test_bad_unknown_label(tmp_path):
    _bad(tmp_path, [_OK, {"sample_id": "s3", "labels": ["cat", "cow"], "scores": [0.9, 0.8]}],
         "predictions.jsonl: row 2", "label 'cow' is not in the vocabulary", "add it to the vocabulary",
         vocabulary=["cat", "dog"])


def test_bad_score_outside_range(tmp_path):
    _bad(tmp_path, [_OK, {"sample_id": "s2", "labels": ["cat", "dog"], "scores": [0.9, 1.5]}],
         "predictions.jsonl: row 2: 'scores' item 2 is 1.5", "not a number in [0, 1]", "probabilities")


def test_bad_score_nan(tmp_path):
    rows = pd.DataFrame({"sample_id": ["s1", "s2"], "labels": [["cat"], ["dog"]], "scores": [[0.9], [float("nan")]]})
    _bad(tmp_path, rows, "predictions.parquet: row 2: 'scores' item 1 is nan", "not a number in [0, 1]", fmt="parquet")


def test_bad_score_text_and_bool(tmp_path):
    _bad(tmp_path, [{"sample_id": "s1", "labels": ["cat"], "scores": ["high"]}], "row 1: 'scores' item 1 is 'high'")
    _bad(tmp_path / "b", [{"sample_id": "s1", "labels": ["cat"], "scores": [True]}], "row 1: 'scores' item 1 is True")


def test_bad_labels_not_a_list(tmp_path):
    _bad(tmp_path, [_OK, {"sample_id": "s2", "labels": "cat,dog"}],
         "predictions.jsonl: row 2: 'labels' holds text 'cat,dog', not a list", 'e.g. ["cat", "dog"]')


def test_bad_scores_not_a_list(tmp_path):
    _bad(tmp_path, [{"sample_id": "s1", "labels": ["cat"], "scores": 0.9}], "row 1: 'scores' holds a float", "not a list")


def test_bad_labels_in_csv(tmp_path):
    _bad(tmp_path, [{"sample_id": "s1", "labels": "['cat']"}], "predictions.csv: row 1", "not a list",
         "a CSV cell cannot hold a list", fmt="csv")


def test_bad_label_item(tmp_path):
    _bad(tmp_path, [_OK, {"sample_id": "s2", "labels": ["cat", None], "scores": [0.9, 0.1]}],
         "row 2: 'labels' item 2 is an empty cell", "not a label id")
    _bad(tmp_path / "b", [{"sample_id": "s2", "labels": [["cat"]]}], "row 1: 'labels' item 1", "not a label id")


def test_bad_unknown_sample_names_the_file_row(tmp_path):
    _bad(tmp_path, [_OK, _OK | {"sample_id": "s2"}, {"sample_id": "zz", "labels": ["cat"], "scores": [0.2]}],
         "predictions.jsonl: row 3: sample_id 'zz' is not in samples")


def test_bad_layout_mixes(tmp_path):
    _bad(tmp_path, [{"sample_id": "s1", "label": "cat", "labels": ["cat"]}], "both a 'label' and a 'labels' column")
    _bad(tmp_path / "b", [{"sample_id": "s1", "labels": ["cat"], "score": 0.9}], "single 'score' column", "'scores' list")
    _bad(tmp_path / "c", [{"sample_id": "s1", "scores": [0.9]}], "'scores' column but no 'labels' list")
    _bad(tmp_path / "d", [{"sample_id": "s1", "labels": []}], "every 'labels' list is empty")


def test_bad_truth_list(tmp_path):
    _bad(tmp_path, [_OK], "truth.jsonl: row 2: 'labels' holds text 'cat'", truth=[{"sample_id": "s1", "labels": []},
                                                                                 {"sample_id": "s2", "labels": "cat"}])
