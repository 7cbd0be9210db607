"""Out of core (issue 12): predictions read in record batches into sample-range shards give the same findings.

The data is the demo's photos (attributes that describe people on part of the inputs, watchlist labels, families,
clusters the embedding encodes) with ground truth on part of the samples and repeated (sample, label) rows. The
streamed scan reads its predictions from a folder of Parquet files whose rows are shuffled across files, in
record batches of 97 rows, into shards of 211 samples: every sample's rows are spread over several files and
batches, so a sum over shards that missed or double-counted a row, or a per-sample rule (duplicates, top-k)
applied per batch, would change findings.parquet.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from tagscan.config import load_config
from tagscan.demo import build_demo
from tagscan.errors import DataError
from tagscan.inputs import load_audit_set
from tagscan.inputs.shards import InMemoryPositives, ShardedPositives
from tagscan.pipeline import run_scan


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo data with truth on 40% of the samples and 60 repeated prediction rows; returns its folder."""
    root = tmp_path_factory.mktemp("ooc")
    cfg_path = build_demo(root, n_samples=1500, seed=3)
    data = cfg_path.parent / "data"
    preds = pd.read_parquet(data / "predictions.parquet")
    rng = np.random.default_rng(5)
    rep = preds.sample(60, random_state=1).copy()
    rep["score"] = rep["score"] * rng.uniform(0.5, 1.0, len(rep))  # a lower score: the higher one is kept
    preds = pd.concat([preds, rep], ignore_index=True)
    preds.to_parquet(data / "predictions.parquet", index=False)
    samples = pd.read_parquet(data / "samples.parquet")
    annotated = samples["sample_id"].sample(frac=0.4, random_state=2)
    pos = preds[(preds["score"] >= 0.5) & preds["sample_id"].isin(annotated)].drop_duplicates(["sample_id", "label"])
    truth = pos.sample(frac=0.9, random_state=3)[["sample_id", "label"]]  # some misses, some false positives
    missing = annotated[~annotated.isin(truth["sample_id"])]
    truth = pd.concat([truth, pd.DataFrame({"sample_id": missing, "label": None})], ignore_index=True)
    truth.to_parquet(data / "truth.parquet", index=False)
    # The same rows, shuffled across three files.
    shuffled = preds.sample(frac=1.0, random_state=4).reset_index(drop=True)
    (data / "predictions_parts").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        shuffled.iloc[part].to_parquet(data / "predictions_parts" / f"part-{i}.parquet", index=False)
    return cfg_path.parent


def _config(folder: Path, name: str, *, stream: bool, workspace: str, **scan) -> Path:
    raw = yaml.safe_load((folder / "tagscan.yaml").read_text())
    raw["workspace"] = workspace
    raw["data"]["truth"] = "data/truth.parquet"
    if stream:
        raw["data"].update(predictions="data/predictions_parts", stream=True, batch_rows=97, shard_samples=211)
    else:
        raw["data"]["stream"] = False
    raw["scan"].update(scan)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _findings(result) -> pd.DataFrame:
    return pd.read_parquet(result.run_dir / "findings.parquet")


@pytest.mark.slow
def test_streamed_scan_writes_the_same_findings(demo):
    every = {"under_representation": True}  # every detector runs
    whole = run_scan(load_config(_config(demo, "whole", stream=False, workspace=".ws-whole", **every)))
    streamed = run_scan(load_config(_config(demo, "streamed", stream=True, workspace=".ws-streamed", **every)))
    a, b = _findings(whole), _findings(streamed)
    # The case holds what it must: findings of the detectors that read per-sample predictions.
    assert {"error_gap", "association", "alignment_gap", "label_family"} <= set(a["detector"])
    assert set(whole.record.to_json()["detectors"].values()) == {"ran"}
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # The run kept its shards for the next run's paired tests; the temporary folder is gone.
    assert (streamed.run_dir / "positives" / "meta.json").is_file()
    gc.collect()
    assert not list((demo / ".ws-streamed" / "tmp").glob("positives-*"))
    assert streamed.record.to_json()["counts"]["positives"] == whole.record.to_json()["counts"]["positives"]


@pytest.mark.slow
def test_computed_input_vectors_spilled_to_a_memory_map_give_the_same_findings(demo, monkeypatch):
    """Over the gather budget the embedded inputs are written to the index folder and memory-mapped: the
    index, the clusters and every detector then read them from the file, with the predictions streamed too."""
    every = {"under_representation": True}
    whole = run_scan(load_config(_config(demo, "in-memory", stream=False, workspace=".ws-in-memory", **every)))
    monkeypatch.setattr("tagscan.embed.cache.GATHER_BUDGET_BYTES", 0)
    spilled = run_scan(load_config(_config(demo, "spilled", stream=True, workspace=".ws-spilled", **every)))
    mapped = np.load(demo / ".ws-spilled" / "index" / "inputs.npy", mmap_mode="r")
    assert mapped.shape == (1500, 384)
    assert np.allclose(np.linalg.norm(mapped[:100], axis=1), 1.0, atol=1e-5)
    assert set(spilled.record.to_json()["detectors"].values()) == {"ran"}
    pd.testing.assert_frame_equal(_findings(whole), _findings(spilled), check_exact=True)


@pytest.mark.slow
def test_streamed_rescan_pairs_with_the_kept_shards(demo):
    cfg = load_config(_config(demo, "rescan", stream=True, workspace=".ws-rescan"))
    run_scan(cfg)
    again = run_scan(cfg)
    assert again.record.to_json()["comparison"].startswith("paired (McNemar")


def test_streamed_top_k_and_duplicates_match_in_memory(demo):
    """Per-sample rules (top-k, repeated rows keep their highest score) see every row of a sample."""
    a = load_audit_set(load_config(_config(demo, "k-whole", stream=False, workspace=".ws-k", top_k=3)))
    b = load_audit_set(load_config(_config(demo, "k-streamed", stream=True, workspace=".ws-k", top_k=3)))
    assert b.Y is None and isinstance(b.positives, ShardedPositives) and b.positives.n_shards == 8
    Y, S = b.positives.materialise()
    assert (a.labels == b.labels).all()
    assert (a.Y != Y).nnz == 0 and np.array_equal(a.scores.toarray(), S.toarray())
    assert a.n_prediction_rows == b.n_prediction_rows
    # The truth too was read in record batches of 97 rows: the same pairs and annotated samples.
    assert (a.truth != b.truth).nnz == 0 and np.array_equal(a.annotated, b.annotated)


def test_sums_over_shards_equal_one_shard(demo):
    """Counts, columns and rows read from blocks of samples equal the whole matrices."""
    from tagscan.scan.counts import count_cells
    from tagscan.scan.groups import build_groups

    audit = load_audit_set(load_config(_config(demo, "sums", stream=False, workspace=".ws-sums")))
    groups = build_groups(audit.samples, attributes=["skin_tone", "gender"], intersections=[], min_group_size=5)
    one = count_cells(groups, audit.Y)
    blocks = InMemoryPositives(audit.Y, audit.scores, block_rows=101)
    many = count_cells(groups, blocks)
    for f in ("group", "label", "count", "label_count", "total"):
        assert np.array_equal(getattr(one, f), getattr(many, f)), f
    cols = np.array([3, 17, 40])
    Yc, Sc = blocks.columns(cols)
    assert np.array_equal(Sc[:, cols].toarray(), audit.scores[:, cols].toarray())
    assert Sc[:, np.setdiff1d(np.arange(audit.n_labels), cols)].nnz == 0
    rows = np.array([700, 3, 1499, 3])
    assert np.array_equal(blocks.rows(rows)[1].toarray(), audit.scores[rows].toarray())
    mask = np.zeros(audit.n_samples, dtype=bool)
    mask[::7] = True
    _, Sm = blocks.rows_full(mask)
    assert np.array_equal(Sm.toarray(), sp.diags(mask.astype(np.float32)) @ audit.scores.toarray())
    assert np.array_equal(blocks.label_counts(), np.bincount(audit.Y.indices, minlength=audit.n_labels))


def test_a_bad_row_in_a_later_batch_names_its_file_and_row(demo, tmp_path):
    parts = demo / "data" / "predictions_parts"
    bad = pd.read_parquet(parts / "part-1.parquet")
    bad.loc[250, "sample_id"] = "nobody"
    folder = demo / "data" / "bad_parts"
    folder.mkdir(exist_ok=True)
    pd.read_parquet(parts / "part-0.parquet").to_parquet(folder / "part-0.parquet", index=False)
    bad.to_parquet(folder / "part-1.parquet", index=False)
    raw = yaml.safe_load(_config(demo, "bad", stream=True, workspace=".ws-bad").read_text())
    raw["data"]["predictions"] = "data/bad_parts"
    (demo / "bad.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError, match=r"part-1.parquet: row 251: sample_id 'nobody' is not in samples"):
        load_audit_set(load_config(demo / "bad.yaml"))
    assert not list((demo / ".ws-bad" / "tmp").glob("positives-*"))  # nothing left behind


def test_samples_and_truth_may_be_folders_of_parquet_files(demo):
    """Every table may be a folder of Parquet files: the same audit set as from single files."""
    data = demo / "data"
    for name in ("samples", "truth"):
        table = pd.read_parquet(data / f"{name}.parquet")
        (data / f"{name}_parts").mkdir(exist_ok=True)
        for i, part in enumerate(np.array_split(np.arange(len(table)), 2)):
            table.iloc[part].to_parquet(data / f"{name}_parts" / f"part-{i}.parquet", index=False)
    raw = yaml.safe_load(_config(demo, "folders", stream=False, workspace=".ws-folders").read_text())
    raw["data"].update(samples="data/samples_parts", truth="data/truth_parts")
    (demo / "folders.yaml").write_text(yaml.safe_dump(raw))
    a = load_audit_set(load_config(_config(demo, "files", stream=False, workspace=".ws-files")))
    b = load_audit_set(load_config(demo / "folders.yaml"))
    pd.testing.assert_frame_equal(a.samples, b.samples)
    assert (a.truth != b.truth).nnz == 0 and np.array_equal(a.annotated, b.annotated)
    assert b.input_hashes["samples"] != a.input_hashes["samples"]  # a folder's hash covers its parts


def test_a_folder_without_parquet_files_is_one_line(demo):
    (demo / "data" / "empty_parts").mkdir(exist_ok=True)
    raw = yaml.safe_load(_config(demo, "empty", stream=True, workspace=".ws-empty").read_text())
    raw["data"]["predictions"] = "data/empty_parts"
    (demo / "empty.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError, match=r"empty_parts: the folder holds no .parquet file \(config key data.predictions\)"):
        load_audit_set(load_config(demo / "empty.yaml"))


def test_a_bad_truth_row_in_a_later_batch_names_its_row(demo):
    truth = pd.read_parquet(demo / "data" / "truth.parquet")
    truth.loc[300, "sample_id"] = "nobody"
    truth.to_parquet(demo / "data" / "bad_truth.parquet", index=False)
    raw = yaml.safe_load(_config(demo, "bad-truth", stream=True, workspace=".ws-bad-truth").read_text())
    raw["data"]["truth"] = "data/bad_truth.parquet"
    (demo / "bad-truth.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError, match=r"bad_truth.parquet: row 301: sample_id 'nobody' is not in samples"):
        load_audit_set(load_config(demo / "bad-truth.yaml"))


def test_a_workspace_that_cannot_hold_the_shards_is_one_line(demo, tmp_path):
    """A read-only (or full) disk under the workspace: one line naming the folder and the fix, nothing left."""
    import os

    from tagscan.errors import UsageError

    if os.geteuid() == 0:  # root writes through permissions: a file where the folder must be does the same
        blocked = tmp_path / "ws"
        blocked.mkdir()
        (blocked / "tmp").write_text("not a folder")
    else:
        blocked = tmp_path / "ws"
        (blocked / "tmp").mkdir(parents=True)
        (blocked / "tmp").chmod(0o500)
    raw = yaml.safe_load(_config(demo, "blocked", stream=True, workspace=str(blocked)).read_text())
    (demo / "blocked.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UsageError) as caught:
        load_audit_set(load_config(demo / "blocked.yaml"))
    (line,) = str(caught.value).splitlines()
    assert line.startswith(f"{blocked / 'tmp'}: cannot write the prediction shards") and "larger disk" in line


@pytest.mark.slow
def test_a_scan_whose_vectors_fit_in_memory_removes_an_earlier_spilled_file(demo, monkeypatch):
    cfg = load_config(_config(demo, "respill", stream=False, workspace=".ws-respill"))
    monkeypatch.setattr("tagscan.embed.cache.GATHER_BUDGET_BYTES", 0)
    run_scan(cfg)
    spilled = demo / ".ws-respill" / "index" / "inputs.npy"
    assert spilled.is_file()
    monkeypatch.undo()
    run_scan(cfg)
    assert not spilled.exists()
