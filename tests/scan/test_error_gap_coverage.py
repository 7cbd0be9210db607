"""error_gap counts only annotated samples: truth on part of the samples is not a source of findings.

``data.truth`` lists the positive pairs of the samples it names; a sample it never names is unannotated;
a row with an empty label marks "annotated, no positive label"; ``data.truth_exhaustive: true`` declares
every sample annotated. These tests go through the files (:func:`load_audit_set`) and the engine
(:func:`analyse`), the path a scan takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tagscan.config import load_config
from tagscan.demo.planted import write_table
from tagscan.inputs import load_audit_set
from tagscan.scan.detectors import resolve
from tagscan.scan.engine import analyse, person_rows
from tagscan.scan.watchlist import WatchAssignment

N, L = 4000, 20
PLANT = "l19"  # over-applied (false positives) to a=x: 15% vs 2% of its negatives


def _world(seed: int = 0):
    """Samples (a people attribute ``a`` and a non-people ``region`` on every input), true labels, a
    perfect tagger except for the planted FPR gap, and truth coverage 50% in a=x and 90% in a=y."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(N) < 0.5, "x", "y").astype(object)
    region = np.where(rng.random(N) < 0.5, "north", "south").astype(object)
    samples = pd.DataFrame(
        {"sample_id": [f"s{i:05d}" for i in range(N)], "text": [f"input {i}" for i in range(N)], "a": a, "region": region}
    )
    T = rng.random((N, L)) < rng.uniform(0.05, 0.3, L)
    Y = T.copy()
    x = a == "x"
    Y[:, -1] |= ~T[:, -1] & (rng.random(N) < np.where(x, 0.15, 0.02))
    annotated = rng.random(N) < np.where(x, 0.5, 0.9)
    return samples, T, Y, annotated


def _pairs(M: np.ndarray, ids: np.ndarray, rows: np.ndarray | None = None) -> pd.DataFrame:
    r, c = np.nonzero(M if rows is None else M & rows[:, None])
    return pd.DataFrame({"sample_id": ids[r], "label": [f"l{j}" for j in c]})


def _write(folder: Path, samples, Y, truth: pd.DataFrame, *, fmt: str = "parquet", data: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)

    def put(df: pd.DataFrame, name: str) -> str:
        return write_table(df, folder, name, fmt)

    ids = samples["sample_id"].to_numpy(dtype=object)
    cfg = {
        "name": "coverage",
        "data": {
            "samples": put(samples, "samples"),
            "predictions": put(_pairs(Y, ids), "predictions"),
            "truth": put(truth, "truth"),
            **(data or {}),
        },
        "groups": {"attributes": ["a", "region"], "min_group_size": 30},
        "scan": {"watchlist": None, "detectors": ["error_gap"]},
    }
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _truth_with_empty_rows(T: np.ndarray, ids: np.ndarray, annotated: np.ndarray) -> pd.DataFrame:
    """Positive pairs of the annotated samples, and one empty-label row for each annotated sample that
    has no positive label (so that every annotated sample is named)."""
    pos = _pairs(T, ids, annotated)
    none = annotated & ~T.any(axis=1)
    return pd.concat([pos, pd.DataFrame({"sample_id": ids[none], "label": None})], ignore_index=True)


def _scan(cfg_path: Path):
    cfg = load_config(cfg_path)
    audit = load_audit_set(cfg)
    watch = WatchAssignment(
        category=np.full(audit.n_labels, None, dtype=object), weight=np.zeros(audit.n_labels),
        matched_term=np.full(audit.n_labels, None, dtype=object), similarity=np.zeros(audit.n_labels),
    )
    vectors = np.random.default_rng(1).normal(size=(audit.n_samples, 8)).astype(np.float32)
    res = analyse(
        audit, vectors=vectors, label_vectors=None, watch=watch,
        person_rows=person_rows(audit, list(cfg.groups.attributes), []),
        groups_cfg=cfg.groups, scan_cfg=cfg.scan, detectors=resolve(cfg.scan, config_path=cfg.path),
    )
    return audit, res.outcome


def test_uneven_truth_coverage_raises_no_finding_on_a_perfect_tagger(tmp_path):
    """Truth on 50% of a=x and 90% of a=y, a tagger that is perfect on every sample: no error_gap finding
    (before: unannotated samples' labels counted as false positives, an FPR excess on a=x on every label
    at q <= 1e-10); the planted FPR gap on the annotated samples is still found."""
    samples, T, Y, annotated = _world()
    ids = samples["sample_id"].to_numpy(dtype=object)
    audit, out = _scan(_write(tmp_path, samples, Y, _truth_with_empty_rows(T, ids, annotated)))
    np.testing.assert_array_equal(audit.annotated, annotated)
    assert out.detectors["error_gap"] == "ran"
    f = out.findings
    assert sorted(zip(f["label"], f["group"])) == [(PLANT, "a=x")], f[["label", "group", "q_value", "detail"]]
    assert f["detail"].iat[0].startswith("FPR excess")
    # Counted on the annotated samples only: the group's negatives are its annotated members without the label.
    x = (samples["a"] == "x").to_numpy()
    assert f["group_size"].iat[0] == int((x & annotated & ~T[:, -1]).sum())
    assert out.extra["error_gap.annotated_samples"] == int(annotated.sum()) and out.extra["error_gap.samples"] == N
    # The same truth without its empty-label rows: the annotated samples with no positive label drop out
    # too (unannotated now), and still only the planted gap is found. Before: 20 findings on a=x, q down to 3e-59.
    audit, out = _scan(_write(tmp_path / "no-empty-rows", samples, Y, _pairs(T, ids, annotated)))
    np.testing.assert_array_equal(audit.annotated, annotated & T.any(axis=1))
    assert sorted(zip(out.findings["label"], out.findings["group"])) == [(PLANT, "a=x")]


def test_truth_exhaustive_declares_every_sample_annotated(tmp_path):
    """With data.truth_exhaustive: true, a sample the truth never names is an annotated sample with no
    positive label: the positives alone describe the whole set (no empty-label rows needed)."""
    samples, T, Y, _ = _world()
    ids = samples["sample_id"].to_numpy(dtype=object)
    positives = _pairs(T, ids)
    audit, out = _scan(_write(tmp_path / "ex", samples, Y, positives, data={"truth_exhaustive": True}))
    assert audit.annotated.all() and out.extra["error_gap.annotated_samples"] == N
    assert sorted(zip(out.findings["label"], out.findings["group"])) == [(PLANT, "a=x")]
    # The same file without the flag: only the samples it names (those with a positive label) are annotated.
    audit, out = _scan(_write(tmp_path / "part", samples, Y, positives))
    np.testing.assert_array_equal(audit.annotated, T.any(axis=1))


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_an_empty_label_marks_an_annotated_sample_with_no_positive_label(tmp_path, fmt):
    """Null in Parquet and JSON Lines, an empty or blank cell in CSV: annotated, no positive label."""
    samples = pd.DataFrame({"sample_id": ["a", "b", "c", "d"], "text": list("abcd"), "a": ["x", "x", "y", "y"], "region": ["n"] * 4})
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    truth = pd.DataFrame({"sample_id": ["a", "b", "b", "c"], "label": ["l0", None, "l1", " " if fmt == "csv" else None]})
    audit = load_audit_set(load_config(_write(tmp_path, samples, Y, truth, fmt=fmt)))
    assert audit.annotated.tolist() == [True, True, True, False]
    assert audit.truth.toarray().tolist() == [[1, 0], [0, 1], [0, 0], [0, 0]]
    assert list(audit.labels) == ["l0", "l1"]  # an empty label is not a label
    sub = audit.subset(np.array([3, 0]))
    assert sub.annotated.tolist() == [False, True]


def test_integer_labels_with_empty_rows(tmp_path):
    """Integer label ids stay '7' (not '7.0') when a null in the same Parquet column makes it float."""
    samples = pd.DataFrame({"sample_id": ["a", "b", "c"], "text": list("abc"), "a": ["x", "x", "y"], "region": ["n"] * 3})
    folder = tmp_path / "ints"
    path = _write(folder, samples, np.zeros((3, 1), dtype=bool), pd.DataFrame({"sample_id": ["a", "b"], "label": [7.0, np.nan]}))
    pd.DataFrame({"sample_id": ["a", "c"], "label": [7, 12]}).to_parquet(folder / "predictions.parquet", index=False)
    audit = load_audit_set(load_config(path))
    assert list(audit.labels) == ["12", "7"] and audit.annotated.tolist() == [True, True, False]
    assert audit.truth.toarray().tolist() == [[0, 1], [0, 0], [0, 0]]
