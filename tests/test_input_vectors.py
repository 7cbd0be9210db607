"""Precomputed input embeddings out of core (issue 12): a float32 .npy is mapped, not copied; a Parquet file or
folder of Parquet files is read in record batches into a float32 .npy under the cache folder, in samples order,
mapped read-only and reused by a rescan; every error still names the file, the row and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import tagscan.inputs.vectors as vectors_module
from tagscan.config import Config, load_config
from tagscan.errors import DataError
from tagscan.inputs.vectors import load_vectors


def _cfg(tmp_path: Path, embeddings: str, cache: Path | None = None) -> Config:
    raw = {"name": "v", "data": {"samples": "s.csv", "predictions": "p.csv", "embeddings": embeddings}}
    if cache is not None:
        raw["embed"] = {"cache_dir": str(cache)}
    path = tmp_path / "scan.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def _data(n: int = 50, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:03d}" for i in range(n)], dtype=object)
    return ids, rng.standard_normal((n, d)).astype(np.float32)


@pytest.fixture
def small_batches(monkeypatch):
    """Record batches and check blocks of 7 rows, so a 50-row table spans several of each."""
    monkeypatch.setattr(vectors_module, "_BATCH_ROWS", 7)
    monkeypatch.setattr(vectors_module, "_BLOCK_ROWS", 7)


def _precomputed(cache: Path) -> list[Path]:
    return sorted((cache / "embeddings" / "precomputed").glob("*.npy"))


def test_float32_npy_is_the_file_mapped_read_only(tmp_path, small_batches):
    ids, x = _data()
    np.save(tmp_path / "e.npy", x)
    cache = tmp_path / "cache"
    got = load_vectors(_cfg(tmp_path, "e.npy", cache), ids)
    assert isinstance(got, np.memmap) and Path(got.filename) == tmp_path / "e.npy"
    assert not got.flags.writeable and got.dtype == np.float32
    np.testing.assert_array_equal(got, x)
    assert not _precomputed(cache)  # nothing converted


def test_float64_npy_is_converted_once_into_the_cache(tmp_path, small_batches):
    ids, x = _data()
    np.save(tmp_path / "e.npy", x.astype(np.float64))
    cache = tmp_path / "cache"
    got = load_vectors(_cfg(tmp_path, "e.npy", cache), ids)
    assert isinstance(got, np.memmap) and got.dtype == np.float32 and not got.flags.writeable
    np.testing.assert_array_equal(got, x)
    (written,) = _precomputed(cache)
    assert Path(got.filename) == written
    again = load_vectors(_cfg(tmp_path, "e.npy", cache), ids)
    assert Path(again.filename) == written and _precomputed(cache) == [written]


def _parquet(path: Path, ids, rows, *, fixed: bool = False, row_group_size: int | None = None) -> None:
    values = [list(map(float, r)) if isinstance(r, np.ndarray) else r for r in rows]
    if fixed:
        emb = pa.array(values, type=pa.list_(pa.float32(), len(values[0])))
        table = pa.table({"sample_id": list(ids), "embedding": emb})
    else:
        table = pa.Table.from_pandas(pd.DataFrame({"sample_id": list(ids), "embedding": values}), preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size)


@pytest.mark.parametrize("fixed", [False, True])
def test_parquet_is_read_in_batches_into_samples_order(tmp_path, small_batches, fixed):
    ids, x = _data()
    order = np.random.default_rng(1).permutation(len(ids))  # the file's rows are not in samples order
    _parquet(tmp_path / "e.parquet", ids[order], x[order], fixed=fixed, row_group_size=10)
    cache = tmp_path / "cache"
    got = load_vectors(_cfg(tmp_path, "e.parquet", cache), ids)
    assert isinstance(got, np.memmap) and not got.flags.writeable
    np.testing.assert_array_equal(got, x)
    (written,) = _precomputed(cache)
    mtime = written.stat().st_mtime_ns
    again = load_vectors(_cfg(tmp_path, "e.parquet", cache), ids)  # a rescan maps the conversion again
    np.testing.assert_array_equal(again, x)
    assert _precomputed(cache) == [written] and written.stat().st_mtime_ns == mtime
    shuffled = load_vectors(_cfg(tmp_path, "e.parquet", cache), ids[::-1].copy())  # another samples order
    np.testing.assert_array_equal(shuffled, x[::-1])
    assert len(_precomputed(cache)) == 2


def test_a_folder_of_parquet_files(tmp_path, small_batches):
    ids, x = _data()
    folder = tmp_path / "emb"
    folder.mkdir()
    for i, (a, b) in enumerate([(0, 13), (13, 30), (30, 50)]):
        _parquet(folder / f"part-{i}.parquet", ids[a:b], x[a:b])
    (folder / "_SUCCESS").write_text("")
    got = load_vectors(_cfg(tmp_path, "emb", tmp_path / "cache"), ids)
    np.testing.assert_array_equal(got, x)


def test_folder_errors_name_the_part_and_its_row(tmp_path, small_batches):
    ids, x = _data()
    folder = tmp_path / "emb"
    folder.mkdir()
    _parquet(folder / "a.parquet", ids[:20], x[:20])
    bad = x[20:].copy()
    bad[9, 2] = np.nan  # row 10 of b.parquet, in its second batch of 7
    bad[12, 1] = np.inf
    _parquet(folder / "b.parquet", ids[20:], bad)
    cfg = _cfg(tmp_path, "emb", tmp_path / "cache")
    with pytest.raises(DataError, match=r"b\.parquet: embedding row 10 has NaN or infinite values \(2 rows affected\)"):
        load_vectors(cfg, ids)
    assert not _precomputed(tmp_path / "cache")  # nothing half-written is kept
    dup = ids.copy()
    dup[25] = ids[3]
    _parquet(folder / "b.parquet", dup[20:], x[20:])
    with pytest.raises(DataError, match=r"b\.parquet: row 6: sample_id 's003' has a second embedding \(first at .*a\.parquet row 4\)"):
        load_vectors(cfg, ids)
    _parquet(folder / "b.parquet", ids[20:], [list(r) for r in x[20:29]] + [[1.0, 2.0]] + [list(r) for r in x[30:]])
    with pytest.raises(DataError, match=r"b\.parquet: row 10: 'embedding' has 2 numbers but row 1 of .*a\.parquet has 6"):
        load_vectors(cfg, ids)
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(DataError, match=r"none: the folder holds no \.parquet files"):
        load_vectors(_cfg(tmp_path, "none"), ids)


def test_parquet_row_errors_count_from_the_files_first_row(tmp_path, small_batches):
    ids, x = _data()
    bad = x.copy()
    bad[30] = 0  # in the fifth batch
    bad[44] = 0
    _parquet(tmp_path / "e.parquet", ids, bad)
    cfg = _cfg(tmp_path, "e.parquet", tmp_path / "cache")
    with pytest.raises(DataError, match=r"e\.parquet: embedding row 31 is all zeros \(2 rows affected\)"):
        load_vectors(cfg, ids)
    rows = [[str(v) for v in r] for r in x]  # numbers as text are read as numbers, as pandas' reader did
    rows[22] = ["a"] * 6
    _parquet(tmp_path / "e.parquet", ids, rows)
    with pytest.raises(DataError, match=r"e\.parquet: row 23: 'embedding' holds text 'a', not a number"):
        load_vectors(cfg, ids)
    rows = [list(map(float, r)) for r in x]
    rows[22] = None
    _parquet(tmp_path / "e.parquet", ids, rows)
    with pytest.raises(DataError, match=r"e\.parquet: row 23: 'embedding' must be a non-empty list of numbers, found an empty cell"):
        load_vectors(cfg, ids)
    pq.write_table(pa.table({"sample_id": list(ids), "vec": [list(r) for r in x]}), tmp_path / "e.parquet")
    with pytest.raises(DataError, match=r"e\.parquet: missing required column 'embedding'"):
        load_vectors(cfg, ids)
    _parquet(tmp_path / "e.parquet", ids[:-1], x[:-1])
    with pytest.raises(DataError, match=r"e\.parquet: no embedding for sample_id 's049' \(1 samples missing\)"):
        load_vectors(cfg, ids)


def test_npy_errors_are_found_in_any_block(tmp_path, small_batches):
    ids, x = _data()
    bad = x.astype(np.float64)
    bad[40] = 0
    bad[33, 0] = 1e300  # beyond float32, found before the zero row although it is in a later check
    np.save(tmp_path / "e.npy", bad)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"e\.npy: embedding row 34 has values beyond the float32 range"):
        load_vectors(_cfg(tmp_path, "e.npy", cache), ids)
    assert not _precomputed(cache)
    ok = x.copy()
    ok[47] = 0
    ok[20] = 0
    np.save(tmp_path / "e.npy", ok)
    with pytest.raises(DataError, match=r"e\.npy: embedding row 21 is all zeros \(2 rows affected\)"):
        load_vectors(_cfg(tmp_path, "e.npy", cache), ids)
