"""Tests of tagscan.embed.cache: content addressing, resumability, corruption tolerance."""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagscan.embed.cache import EmbeddingCache, item_key, safe_namespace
from tagscan.errors import DataError

DIM = 8


def row_of(item: str) -> np.ndarray:
    """A deterministic pseudo-embedding: the same item always gives the same float32 unit vector."""
    seed = int.from_bytes(hashlib.sha256(item.encode("utf-8", "surrogatepass")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


class Recorder:
    """A compute callable that records every batch it is asked for (and can fail on demand)."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def __call__(self, items: list[str]) -> np.ndarray:
        self.calls.append(list(items))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("simulated kill")
        return np.stack([row_of(i) for i in items]) if items else np.empty((0, DIM), np.float32)

    @property
    def computed(self) -> list[str]:
        return [item for call in self.calls for item in call]


def uncached(items: list[str]) -> np.ndarray:
    return np.stack([row_of(i) for i in items])


def shards(cache: EmbeddingCache) -> list[Path]:
    return sorted(cache.directory.glob("shard-*.npz"))


ITEMS = [f"item {i}" for i in range(10)]


def test_second_call_computes_nothing_and_is_bit_identical(tmp_path):
    compute = Recorder()
    first, computed = EmbeddingCache(tmp_path, "ns").embed(ITEMS, compute)
    assert computed == len(ITEMS)
    assert first.dtype == np.float32 and first.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(first, uncached(ITEMS))

    again = Recorder()
    second, computed = EmbeddingCache(tmp_path, "ns").embed(ITEMS, again)  # a fresh process reads the shards
    assert computed == 0 and again.calls == []
    np.testing.assert_array_equal(second, first)


def test_partial_overlap_computes_only_new_items(tmp_path):
    cache = EmbeddingCache(tmp_path, "ns")
    cache.embed(ITEMS[:6], Recorder())
    compute = Recorder()
    vectors, computed = EmbeddingCache(tmp_path, "ns").embed(ITEMS[::-1], compute)
    assert computed == 4
    assert sorted(compute.computed) == sorted(ITEMS[6:])
    np.testing.assert_array_equal(vectors, uncached(ITEMS[::-1]))


def test_duplicates_are_computed_once(tmp_path):
    items = ["b", "a", "b", "b", "c", "a"]
    compute = Recorder()
    vectors, computed = EmbeddingCache(tmp_path, "ns").embed(items, compute)
    assert computed == 3
    assert compute.calls == [["b", "a", "c"]]
    np.testing.assert_array_equal(vectors, uncached(items))


def test_shards_are_written_every_shard_size_items(tmp_path):
    compute = Recorder()
    cache = EmbeddingCache(tmp_path, "ns")
    progress: list[int] = []
    cache.embed(ITEMS, compute, shard_size=3, progress=progress.append)
    assert [len(call) for call in compute.calls] == [3, 3, 3, 1]
    assert progress == [3, 3, 3, 1]
    assert len(shards(cache)) == 4
    assert len(cache) == 10 and cache.dim == DIM
    assert not list(cache.directory.glob(".*"))  # no temporary files left behind


def test_shard_holds_sha256_keys_and_float32_vectors(tmp_path):
    cache = EmbeddingCache(tmp_path, "ns")
    cache.embed(["hello", "wörld"], Recorder())
    (path,) = shards(cache)
    with np.load(path) as data:
        assert data["keys"].dtype == np.uint8 and data["keys"].shape == (2, 32)
        assert data["keys"][0].tobytes() == item_key("hello") == hashlib.sha256(b"hello").digest()
        assert data["keys"][1].tobytes() == hashlib.sha256("wörld".encode()).digest()
        np.testing.assert_array_equal(data["vectors"], uncached(["hello", "wörld"]))


def test_killed_run_keeps_finished_shards_and_resumes(tmp_path):
    compute = Recorder(fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path, "ns").embed(ITEMS, compute, shard_size=4)
    cache = EmbeddingCache(tmp_path, "ns")
    assert len(shards(cache)) == 1 and len(cache) == 4
    assert not list(cache.directory.glob(".*"))

    resume = Recorder()
    vectors, computed = cache.embed(ITEMS, resume, shard_size=4)
    assert computed == 6
    assert sorted(resume.computed) == sorted(ITEMS[4:])
    np.testing.assert_array_equal(vectors, uncached(ITEMS))


def test_corrupt_and_truncated_shards_are_ignored_with_a_warning(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path, "ns")
    cache.embed(ITEMS, Recorder(), shard_size=5)
    first, second = shards(cache)
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])  # truncated
    (cache.directory / "shard-garbage.npz").write_bytes(b"not a zip file")
    np.savez(
        cache.directory / "shard-wrongwidth.npz",
        keys=np.zeros((1, 32), np.uint8),
        vectors=np.zeros((1, 3), np.float32),
    )
    np.savez(
        cache.directory / "shard-wrongkeys.npz",
        keys=np.zeros((1, 8), np.uint8),
        vectors=np.zeros((1, DIM), np.float32),
    )

    compute = Recorder()
    with caplog.at_level(logging.WARNING, logger="tagscan.embed.cache"):
        vectors, computed = EmbeddingCache(tmp_path, "ns").embed(ITEMS, compute)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "ignoring" in messages and first.name in messages and "shard-garbage.npz" in messages
    assert len(caplog.records) == 4
    with np.load(second) as kept:
        assert computed == len(ITEMS) - len(kept["keys"])
    np.testing.assert_array_equal(vectors, uncached(ITEMS))


def test_namespaces_are_separate_and_filesystem_safe(tmp_path):
    nasty = "hf-text:../../etc/passwd:abc 123/ü"
    a = EmbeddingCache(tmp_path, nasty)
    assert a.directory.parent == tmp_path
    assert re.fullmatch(r"[A-Za-z0-9._-]+", a.directory.name)
    assert safe_namespace("a:b") != safe_namespace("a_b")
    assert safe_namespace("hf-text:all-MiniLM-L6-v2:0123456789ab").startswith(
        "hf-text_all-MiniLM-L6-v2_0123456789ab-"
    )
    a.embed(["x"], Recorder())
    compute = Recorder()
    _, computed = EmbeddingCache(tmp_path, "other").embed(["x"], compute)
    assert computed == 1


def test_empty_items(tmp_path):
    cache = EmbeddingCache(tmp_path, "ns")
    vectors, computed = cache.embed([], Recorder())
    assert vectors.shape == (0, DIM) and computed == 0
    cache.embed(["a"], Recorder())
    vectors, computed = cache.embed([], Recorder())
    assert vectors.shape == (0, DIM) and computed == 0


def test_compute_with_wrong_row_count_is_a_data_error(tmp_path):
    with pytest.raises(
        DataError,
        match=r"compute returned an array of shape \(1, 8\) for 2 items; it must return one row per item",
    ):
        EmbeddingCache(tmp_path, "ns").embed(["a", "b"], lambda items: uncached(items[:1]))


def test_compute_with_another_width_is_a_data_error(tmp_path):
    EmbeddingCache(tmp_path, "ns").embed(["a"], Recorder())
    with pytest.raises(
        DataError,
        match=r"compute returned 3-wide vectors but .* holds 8-wide ones; use a namespace per model",
    ):
        EmbeddingCache(tmp_path, "ns").embed(["b"], lambda items: np.zeros((len(items), 3), np.float32))


def test_compute_with_nan_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"compute returned NaN or infinite values"):
        EmbeddingCache(tmp_path, "ns").embed(["a"], lambda items: np.full((1, DIM), np.nan, np.float32))
    assert not list((tmp_path).rglob("shard-*.npz"))


def test_non_string_item_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"^items\[2\]: the embedding cache keys strings, got int"):
        EmbeddingCache(tmp_path, "ns").embed(["a", "b", 3], Recorder())


@pytest.mark.parametrize("shard_size", [0, -5])
def test_bad_shard_size_is_a_data_error(tmp_path, shard_size):
    with pytest.raises(DataError, match=r"^shard_size: must be a positive integer"):
        EmbeddingCache(tmp_path, "ns").embed(["a"], Recorder(), shard_size=shard_size)


def test_empty_namespace_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"namespace: must be a non-empty string"):
        EmbeddingCache(tmp_path, "")


def test_real_embedder_through_the_cache(tmp_path, text_embedder, sentences):
    cache = EmbeddingCache(tmp_path, text_embedder.name)
    first, computed = cache.embed(sentences, text_embedder.embed_texts, shard_size=5)
    assert computed == len(sentences)
    np.testing.assert_allclose(first, text_embedder.embed_texts(sentences), atol=1e-5)
    second, computed = EmbeddingCache(tmp_path, text_embedder.name).embed(
        sentences, text_embedder.embed_texts
    )
    assert computed == 0
    np.testing.assert_array_equal(second, first)


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(st.lists(st.text(max_size=6), max_size=12), min_size=1, max_size=4),
    shard_size=st.integers(1, 5),
)
def test_property_cached_equals_uncached_and_counts_new_items(batches, shard_size):
    with tempfile.TemporaryDirectory() as root:
        seen: set[str] = set()
        for items in batches:
            compute = Recorder()
            vectors, computed = EmbeddingCache(Path(root), "ns").embed(items, compute, shard_size=shard_size)
            new = set(items) - seen
            assert computed == len(new)
            assert sorted(compute.computed) == sorted(new)
            assert vectors.shape == (len(items), DIM)
            if items:
                np.testing.assert_array_equal(vectors, uncached(items))
            seen |= set(items)


def test_failed_write_leaves_no_temporary_file_and_no_shard(tmp_path, monkeypatch):
    import tagscan.embed.cache as cache_module

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.os, "replace", fail)
    cache = EmbeddingCache(tmp_path, "ns")
    from tagscan.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^embedding cache: cannot write \d+ vectors .* \(disk full\); free space "
                                          r"there, or set embed.cache_dir"):
        cache.embed(ITEMS, Recorder())
    assert list(cache.directory.iterdir()) == []


def test_a_cache_folder_that_cannot_be_made_is_one_line(tmp_path):
    from tagscan.errors import ConfigError

    (tmp_path / "file").write_text("in the way")
    cache = EmbeddingCache(tmp_path / "file", "ns")
    with pytest.raises(ConfigError, match=r"cannot write 3 vectors .*TAGSCAN_CACHE_DIR"):
        cache.append(["a", "b", "c"], np.ones((3, DIM), np.float32))


def test_lone_surrogates_still_get_a_key(tmp_path):
    items = ["\ud800", "ok"]
    vectors, computed = EmbeddingCache(tmp_path, "ns").embed(items, Recorder())
    assert computed == 2
    np.testing.assert_array_equal(vectors, uncached(items))


# -- out of core: vectors stay in their shards, gathered shard by shard, spilled beyond a budget ----------


def expected(items: list[str]) -> np.ndarray:
    return np.stack([row_of(i) for i in items])


def test_spilled_result_is_a_read_only_memory_map_equal_to_the_in_memory_one(tmp_path):
    items = [f"item {i}" for i in range(500)]
    EmbeddingCache(tmp_path, "ns").embed(items, Recorder(), shard_size=37)
    rng = np.random.default_rng(0)
    order = [items[i] for i in rng.permutation(len(items))] + items[:50]  # shuffled, with repeats
    in_memory, _ = EmbeddingCache(tmp_path, "ns").embed(order, Recorder())
    target = tmp_path / "out" / "inputs.npy"
    spilled, computed = EmbeddingCache(tmp_path, "ns").embed(order, Recorder(), spill_to=target, budget_bytes=0)
    assert computed == 0
    assert isinstance(spilled, np.memmap) and not spilled.flags.writeable
    assert Path(spilled.filename) == target
    assert np.array_equal(np.asarray(spilled), in_memory)
    assert np.array_equal(in_memory, expected(order))
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_under_the_budget_the_result_stays_in_memory(tmp_path):
    items = [f"item {i}" for i in range(20)]
    target = tmp_path / "inputs.npy"
    vectors, _ = EmbeddingCache(tmp_path, "ns").embed(items, Recorder(), spill_to=target, budget_bytes=20 * DIM * 4)
    assert not isinstance(vectors, np.memmap) and not target.exists()
    assert np.array_equal(vectors, expected(items))


def test_spilling_gathers_in_row_blocks_across_more_shards_than_stay_mapped(tmp_path, monkeypatch):
    import tagscan.embed.cache as cache_module

    monkeypatch.setattr(cache_module, "_GATHER_ROWS", 7)
    monkeypatch.setattr(cache_module, "_OPEN_MAPS", 3)
    items = [f"t{i}" for i in range(300)]
    EmbeddingCache(tmp_path, "ns").embed(items, Recorder(), shard_size=11)  # 28 shards
    order = [items[i] for i in np.random.default_rng(1).permutation(len(items))]
    fresh = EmbeddingCache(tmp_path, "ns")
    spilled, _ = fresh.embed(order, Recorder(), spill_to=tmp_path / "v.npy", budget_bytes=0)
    assert np.array_equal(np.asarray(spilled), expected(order))
    assert len(fresh._maps) == 0  # every mapping released after the gather


def test_loading_reads_keys_and_maps_vectors_without_reading_them(tmp_path, monkeypatch):
    items = [f"item {i}" for i in range(64)]
    EmbeddingCache(tmp_path, "ns").embed(items, Recorder(), shard_size=16)
    reads: list[str] = []
    real_getitem = np.lib.npyio.NpzFile.__getitem__

    def spy(self, key):
        reads.append(key)
        return real_getitem(self, key)

    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", spy)
    cache = EmbeddingCache(tmp_path, "ns")
    assert len(cache) == 64 and cache.count_missing(items + ["new"]) == 1
    assert reads == ["keys"] * 4  # the vectors of the four shards were never loaded
    vectors, _ = cache.embed(items[::-1], Recorder())
    assert np.array_equal(vectors, expected(items[::-1]))
    assert reads == ["keys"] * 4  # gathered through memory maps


def test_compressed_shard_is_read_whole_and_still_serves_its_vectors(tmp_path):
    items = ["a", "b", "c"]
    folder = tmp_path / safe_namespace("ns")
    folder.mkdir()
    keys = np.frombuffer(b"".join(item_key(i) for i in items), dtype=np.uint8).reshape(-1, 32)
    np.savez_compressed(folder / "shard-packed.npz", keys=keys, vectors=expected(items))
    recorder = Recorder()
    vectors, computed = EmbeddingCache(tmp_path, "ns").embed(["c", "a", "d"], recorder)
    assert computed == 1 and recorder.calls == [["d"]]
    assert np.array_equal(vectors, expected(["c", "a", "d"]))


def test_key_in_two_shards_keeps_the_vector_read_first_also_after_more_are_written(tmp_path):
    folder = tmp_path / safe_namespace("ns")
    folder.mkdir()
    key = np.frombuffer(item_key("x"), dtype=np.uint8).reshape(1, 32)
    np.savez(folder / "shard-0.npz", keys=key, vectors=np.full((1, DIM), 1.0, np.float32))
    np.savez(folder / "shard-1.npz", keys=key, vectors=np.full((1, DIM), 2.0, np.float32))
    cache = EmbeddingCache(tmp_path, "ns")
    first, _ = cache.embed(["x"], Recorder())
    cache.append(["x", "y"], np.full((2, DIM), 3.0, np.float32))  # a worker writes "x" once more
    again, _ = cache.embed(["x", "y"], Recorder())
    assert first[0, 0] == 1.0 and again[0, 0] == 1.0 and again[1, 0] == 3.0


def test_shard_removed_after_loading_is_a_data_error_naming_it(tmp_path):
    items = [f"item {i}" for i in range(10)]
    EmbeddingCache(tmp_path, "ns").embed(items, Recorder())
    cache = EmbeddingCache(tmp_path, "ns")
    assert len(cache) == 10
    (shard,) = (tmp_path / safe_namespace("ns")).glob("shard-*.npz")
    shard.unlink()
    with pytest.raises(DataError, match=re.escape(shard.name)):
        cache.embed(items, Recorder())


def test_a_spill_that_cannot_be_written_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from tagscan.errors import UsageError

    items = [f"item {i}" for i in range(30)]
    EmbeddingCache(tmp_path, "ns").embed(items, Recorder())
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way")
    with pytest.raises(UsageError, match=r"cannot write the 30 input vectors of this scan .*point 'workspace'"):
        EmbeddingCache(tmp_path, "ns").embed(items, Recorder(), spill_to=blocked / "inputs.npy", budget_bytes=0)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array_header_2_0", full)
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=r"No space left on device\); they need 0\.00 GB there"):
        EmbeddingCache(tmp_path, "ns").embed(items, Recorder(), spill_to=out / "inputs.npy", budget_bytes=0)
    assert list(out.iterdir()) == []
