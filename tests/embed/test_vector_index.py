"""Tests of tagscan.embed.index.VectorIndex against exhaustive numpy kNN."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagscan.embed.index import VectorIndex, l2_normalize
from tagscan.errors import DataError


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """``n`` random float32 unit vectors of width ``d``."""
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN by inner product in float64: the oracle."""
    scores = queries.astype(np.float64) @ base.astype(np.float64).T
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


def test_search_matches_exhaustive_numpy_knn():
    rng = np.random.default_rng(0)
    base, queries = unit_rows(rng, 3000, 48), unit_rows(rng, 200, 48)
    index = VectorIndex.build(base)
    assert (index.ntotal, index.dim) == (3000, 48)
    scores, ids = index.search(queries, 10)
    expected_scores, expected_ids = brute_force(base, queries, 10)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert scores.shape == ids.shape == (200, 10)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_every_indexed_row_finds_itself_first():
    rng = np.random.default_rng(1)
    base = unit_rows(rng, 500, 16)
    scores, ids = VectorIndex.build(base).search(base, 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(500))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    base, queries = unit_rows(rng, 400, 32), unit_rows(rng, 20, 32)
    index = VectorIndex.build(base)
    path = tmp_path / "sub" / "inputs.faiss"
    index.save(path)
    index.save(path)  # overwriting is atomic too
    assert sorted(p.name for p in path.parent.iterdir()) == ["inputs.faiss"]
    loaded = VectorIndex.load(path)
    assert (loaded.ntotal, loaded.dim) == (400, 32)
    for got, want in zip(loaded.search(queries, 7), index.search(queries, 7), strict=True):
        np.testing.assert_array_equal(got, want)


def test_k_larger_than_ntotal_pads_with_minus_one():
    rng = np.random.default_rng(3)
    base = unit_rows(rng, 3, 8)
    scores, ids = VectorIndex.build(base).search(base[:2], 5)
    assert ids.shape == (2, 5)
    assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert sorted(ids[0, :3].tolist()) == [0, 1, 2]


def test_empty_index_and_empty_queries():
    empty = VectorIndex.build(np.empty((0, 8), np.float32))
    scores, ids = empty.search(unit_rows(np.random.default_rng(4), 2, 8), 3)
    assert (ids == -1).all() and np.isneginf(scores).all()
    scores, ids = empty.search(np.empty((0, 8), np.float32), 3)
    assert scores.shape == ids.shape == (0, 3)


def test_accepts_float64_and_non_contiguous_input():
    rng = np.random.default_rng(5)
    base = unit_rows(rng, 50, 8).astype(np.float64)
    index = VectorIndex.build(np.asfortranarray(base))
    _, ids = index.search(base[::2], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(0, 50, 2))


def test_wrong_query_dim_is_a_data_error():
    index = VectorIndex.build(unit_rows(np.random.default_rng(6), 10, 8))
    with pytest.raises(DataError, match=r"^queries: vectors are 16-wide but the index holds 8-wide vectors"):
        index.search(unit_rows(np.random.default_rng(7), 2, 16), 1)


def test_one_dimensional_queries_is_a_data_error():
    index = VectorIndex.build(unit_rows(np.random.default_rng(6), 10, 8))
    with pytest.raises(
        DataError, match=r"^queries: expected a 2-D array \(rows x dim\), got 1-D .*x\[None, :\]"
    ):
        index.search(np.ones(8, np.float32) / np.sqrt(8), 1)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_is_a_data_error(k):
    index = VectorIndex.build(unit_rows(np.random.default_rng(6), 10, 8))
    with pytest.raises(DataError, match=r"^k: must be a positive integer"):
        index.search(unit_rows(np.random.default_rng(8), 1, 8), k)


def test_unnormalised_rows_are_a_data_error():
    with pytest.raises(
        DataError, match=r"^vectors: rows must be L2-normalised .* row 1 has norm 2 .*l2_normalize"
    ):
        VectorIndex.build(np.array([[1.0, 0.0], [2.0, 0.0]], np.float32))


def test_nan_rows_are_a_data_error():
    with pytest.raises(DataError, match=r"^vectors: row 1 holds NaN or infinite values"):
        VectorIndex.build(np.array([[1.0, 0.0], [np.nan, 0.0]], np.float32))


def test_missing_and_corrupt_index_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"index file not found; run `tagscan embed`"):
        VectorIndex.load(tmp_path / "missing.faiss")
    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"definitely not faiss")
    with pytest.raises(DataError, match=r"not a readable FAISS index .*delete it") as info:
        VectorIndex.load(bad)
    assert info.value.__cause__ is not None


def test_l2_normalize():
    rng = np.random.default_rng(9)
    out = l2_normalize(rng.standard_normal((20, 5)) * 7)
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    with pytest.raises(DataError, match=r"^vectors: row 1 is all zeros"):
        l2_normalize(np.array([[1.0, 1.0], [0.0, 0.0]]))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), d=st.integers(1, 12), k=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_property_scores_sorted_ids_valid_and_exact(n, d, k, seed):
    rng = np.random.default_rng(seed)
    base, queries = unit_rows(rng, n, d), unit_rows(rng, 5, d)
    scores, ids = VectorIndex.build(base).search(queries, k)
    found = min(k, n)
    assert ((ids[:, :found] >= 0) & (ids[:, :found] < n)).all() and (ids[:, found:] == -1).all()
    assert (np.diff(scores[:, :found], axis=1) <= 1e-6).all()
    expected_scores, _ = brute_force(base, queries, found)
    np.testing.assert_allclose(scores[:, :found], expected_scores, atol=1e-5)
    for row in range(5):  # every returned id really has the returned score (ties may swap ids)
        np.testing.assert_allclose(queries[row] @ base[ids[row, :found]].T, scores[row, :found], atol=1e-5)
