"""tagscan.fsutil.release_pages: a block pass over a memory map keeps one block resident, never loses data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tagscan.fsutil import release_pages


def _resident_kb(path: Path) -> int:
    """Resident kB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if len(head) >= 5 and "-" in head[0] and len(head[1]) == 4:  # a mapping: "start-end perms offset dev inode [path]"
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_block_pass_keeps_little_of_the_file_resident(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.random.default_rng(0).standard_normal((64 * 1024, 64)).astype(np.float32))  # 16 MB
    mapped = np.load(path, mmap_mode="r")
    total = 0.0
    for start in range(0, len(mapped), 4096):
        total += float(np.asarray(mapped[start : start + 4096]).sum())
    touched = _resident_kb(path)
    assert touched > 12_000  # without releasing, the whole file is resident
    release_pages(mapped[:10])  # a view finds its map
    assert _resident_kb(path) < 1_000
    assert float(np.asarray(mapped, dtype=np.float64).sum()) == pytest.approx(total, rel=1e-6)  # still readable


def test_written_rows_of_a_shared_map_reach_the_file(tmp_path):
    path = tmp_path / "w.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1000, 8))
    for start in range(0, 1000, 100):
        out[start : start + 100] = start
        release_pages(out)
    del out
    back = np.load(path)
    assert np.array_equal(back[:, 0], np.repeat(np.arange(0, 1000, 100), 100).astype(np.float32))


def test_a_copy_on_write_map_keeps_its_changes_and_arrays_in_memory_are_left_alone(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((100, 4), np.float32))
    private = np.load(path, mmap_mode="c")
    private[:] = 7.0
    release_pages(private)
    assert (private == 7.0).all() and (np.load(path) == 0).all()
    plain = np.ones(3)
    release_pages(plain)
    assert (plain == 1).all()
