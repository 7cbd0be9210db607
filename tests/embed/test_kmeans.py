"""Tests of tagscan.embed.index.kmeans and medoids on planted clusters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagscan.embed.index import kmeans, medoids
from tagscan.errors import DataError


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """``n`` random float32 unit vectors of width ``d``."""
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def planted(seed: int, k: int = 8, per: int = 150, d: int = 24, noise: float = 0.05):
    """``k`` clusters around orthogonal unit centres (pairwise distance sqrt 2), rows shuffled."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0][:k]
    truth = rng.permutation(np.repeat(np.arange(k), per))
    x = basis[truth] + noise * rng.standard_normal((len(truth), d))
    return x.astype(np.float32), truth


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    table = np.zeros((a.max() + 1, b.max() + 1), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    return table


@pytest.mark.parametrize("seed", range(5))
def test_recovers_planted_clusters(seed):
    x, truth = planted(seed)
    assignment, centroids = kmeans(x, 8, seed=seed)
    assert assignment.dtype == np.int64 and assignment.shape == (len(x),)
    assert centroids.dtype == np.float32 and centroids.shape == (8, x.shape[1])
    table = contingency(truth, assignment)
    # a bijection: every planted cluster maps to exactly one found cluster and vice versa
    assert ((table > 0).sum(axis=1) == 1).all()
    assert ((table > 0).sum(axis=0) == 1).all()


def test_deterministic_for_a_seed():
    x, _ = planted(11, noise=0.4)  # overlapping clusters: the answer depends on the seeding
    a1, c1 = kmeans(x, 12, seed=3)
    a2, c2 = kmeans(x, 12, seed=3)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(c1, c2)


def test_uses_every_row_and_assigns_to_the_nearest_centroid():
    rng = np.random.default_rng(5)
    x = unit_rows(rng, 3000, 8)  # 3000 > 256 * 4: FAISS would subsample by default
    assignment, centroids = kmeans(x, 4, seed=0)
    d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(d2[np.arange(len(x)), assignment], d2.min(axis=1))


def test_k_equal_to_n_and_k_one():
    x, _ = planted(2, k=3, per=2)
    assignment, _ = kmeans(x, len(x), seed=0)
    assert sorted(assignment.tolist()) == list(range(len(x)))
    assignment, centroids = kmeans(x, 1, seed=0)
    assert (assignment == 0).all()
    np.testing.assert_allclose(centroids[0], x.mean(axis=0), atol=1e-5)


@pytest.mark.parametrize("k", [0, 7, 2.0])
def test_bad_k_is_a_data_error(k):
    x = unit_rows(np.random.default_rng(0), 6, 4)
    with pytest.raises(DataError, match=r"^k: the number of clusters must be an integer in 1\.\.6"):
        kmeans(x, k, seed=0)


def test_bad_niter_is_a_data_error():
    with pytest.raises(DataError, match=r"^niter: must be a positive integer"):
        kmeans(unit_rows(np.random.default_rng(0), 6, 4), 2, seed=0, niter=0)


def test_medoids_are_members_nearest_to_their_centroid():
    x, _ = planted(4)
    assignment, centroids = kmeans(x, 8, seed=0)
    rows = medoids(x, assignment, centroids)
    assert rows.dtype == np.int64 and rows.shape == (8,)
    for cluster, row in enumerate(rows):
        members = np.flatnonzero(assignment == cluster)
        assert assignment[row] == cluster
        d2 = ((x[members] - centroids[cluster]) ** 2).sum(axis=1)
        assert row == members[np.argmin(d2)]  # brute force, first of ties


def test_medoids_of_an_empty_cluster_is_minus_one():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]], np.float32)
    centroids = np.array([[0.9, 0.0], [9.0, 9.0], [5.0, 5.0]], np.float32)
    rows = medoids(x, np.array([0, 0, 2]), centroids)
    np.testing.assert_array_equal(rows, [1, -1, 2])


def test_medoids_shape_errors():
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(DataError, match=r"^assignment: expected one integer cluster per row, shape \(3,\)"):
        medoids(x, np.array([0, 1]), np.zeros((2, 2), np.float32))
    with pytest.raises(DataError, match=r"^assignment: cluster ids must lie in 0\.\.1"):
        medoids(x, np.array([0, 1, 2]), np.zeros((2, 2), np.float32))
    with pytest.raises(DataError, match=r"^centroids: vectors are 3-wide"):
        medoids(x, np.array([0, 1, 1]), np.zeros((2, 3), np.float32))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 80), k=st.integers(1, 10), seed=st.integers(0, 2**31 - 1))
def test_property_kmeans_and_medoids_are_consistent(n, k, seed):
    k = min(k, n)
    x = np.random.default_rng(seed).standard_normal((n, 3)).astype(np.float32)
    assignment, centroids = kmeans(x, k, seed=seed, niter=5)
    assert ((assignment >= 0) & (assignment < k)).all()
    rows = medoids(x, assignment, centroids)
    used = np.unique(assignment)
    assert (rows[used] >= 0).all() and (assignment[rows[used]] == used).all()
    assert (rows[np.setdiff1d(np.arange(k), used)] == -1).all()


def test_kmeans_on_a_sample_still_recovers_planted_clusters_and_is_deterministic():
    import numpy as np

    from tagscan.embed.index import kmeans

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(5, 16)) * 10
    truth = rng.integers(0, 5, size=5000)
    x = (centres[truth] + rng.normal(size=(5000, 16))).astype(np.float32)
    a1, c1 = kmeans(x, 5, seed=3, max_points_per_centroid=50)  # fits on 250 of 5000 rows
    a2, c2 = kmeans(x, 5, seed=3, max_points_per_centroid=50)
    assert (a1 == a2).all() and np.allclose(c1, c2)
    # every planted cluster maps to exactly one found cluster, for every row (all rows assigned)
    for t in range(5):
        assert len(set(a1[truth == t].tolist())) == 1
    assert len(set(a1.tolist())) == 5
