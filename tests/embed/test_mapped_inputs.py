"""Precomputed input vectors stay memory-mapped through the embed stage (issue 12): a mapped .npy is normalised a
block at a time into a mapped float32 file, reused by a rescan, with the same bits as normalising in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tagscan.embed.stage as stage
from tagscan.embed.index import l2_normalize


def test_mapped_vectors_are_normalised_into_a_mapped_file(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "_BLOCK_ROWS", 16)  # several blocks for 100 rows
    x = np.random.default_rng(0).standard_normal((100, 12)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    cache = tmp_path / "cache"
    unit = stage._unit_rows(mapped, cache)
    assert isinstance(unit, np.memmap) and not unit.flags.writeable
    assert Path(unit.filename).parent == cache / "precomputed"
    np.testing.assert_array_equal(unit, l2_normalize(x))  # bit for bit the in-memory result
    written = Path(unit.filename)
    mtime = written.stat().st_mtime_ns
    again = stage._unit_rows(np.load(tmp_path / "v.npy", mmap_mode="r"), cache)
    assert Path(again.filename) == written and written.stat().st_mtime_ns == mtime  # reused, not rewritten
    in_memory = stage._unit_rows(x, cache)
    assert not isinstance(in_memory, np.memmap)
    np.testing.assert_array_equal(in_memory, unit)
    np.save(tmp_path / "v.npy", 2 * x[:50])  # another file at the same path: another conversion
    other = stage._unit_rows(np.load(tmp_path / "v.npy", mmap_mode="r"), cache)
    assert other.shape == (50, 12) and Path(other.filename) != written
