"""k-means on a recorded sample (issue 12): at most min(256 k, MAX_FIT_ROWS) rows of the fit share are fitted,
drawn with the seed, and recorded in ``info``; every sample is assigned a block at a time; memory-mapped vectors
give the same clusters, medoids and key as the array in memory."""

from __future__ import annotations

import numpy as np
import pytest

import tagscan.scan.clusters as clusters
from tagscan.embed.index import assign_to_centroids, fit_centroids
from tagscan.scan.clusters import fit_clusters, max_fit_rows


def _clustered(n: int, d: int = 8, k: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = 4 * rng.standard_normal((k, d))
    x = centres[rng.integers(k, size=n)] + rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_the_fit_share_is_fitted_whole_below_the_cap():
    x = _clustered(1_000)
    fit = fit_clusters(x, [3, 5], seed=4)
    assert fit.info["fit_rows"] == {3: fit.info["n_fit"], 5: fit.info["n_fit"]}
    assert "without replacement with seed 4" in fit.info["fit_sample"]
    assert max_fit_rows(3) == 768 and max_fit_rows(10_000) == 200_000


def test_a_capped_fit_is_a_seeded_sample_and_changes_the_key(monkeypatch):
    x = _clustered(3_000)
    whole = fit_clusters(x, [4], seed=1)
    monkeypatch.setattr(clusters, "MAX_FIT_ROWS", 300)
    capped = fit_clusters(x, [4], seed=1)
    assert capped.info["fit_rows"] == {4: 300} and whole.info["fit_rows"] == {4: 1024} and whole.info["n_fit"] > 1024
    assert capped.info["key"] != whole.info["key"]  # the key names the fitted rows: a cap changes them
    assert np.array_equal(capped.test_mask, whole.test_mask)
    again = fit_clusters(x, [4], seed=1)
    assert np.array_equal(again.assignments[4], capped.assignments[4]) and again.info["key"] == capped.info["key"]
    fit_rows = np.flatnonzero(~capped.test_mask)
    centroids, sample = fit_centroids(x, 4, seed=1, max_points=300, rows=fit_rows)
    assert len(sample) == 300 and np.isin(sample, fit_rows).all() and (np.diff(sample) > 0).all()
    np.testing.assert_array_equal(capped.assignments[4], assign_to_centroids(x, centroids))
    assert len(np.unique(capped.assignments[4])) == 4 and len(capped.medoid_rows) == 4


@pytest.mark.parametrize("n", [2_000, 70_000])  # one block, and two blocks with a short tail merged
def test_memory_mapped_vectors_give_the_same_clusters(tmp_path, monkeypatch, n):
    x = _clustered(n, d=4)
    np.save(tmp_path / "v.npy", x)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    a, b = fit_clusters(x, [3, 7], seed=2), fit_clusters(mapped, [3, 7], seed=2)
    for k in (3, 7):
        np.testing.assert_array_equal(a.assignments[k], b.assignments[k])
    assert a.medoid_rows == b.medoid_rows and a.info == b.info


def test_blocked_assignment_equals_one_search(monkeypatch):
    import tagscan.embed.index as index

    x = _clustered(5_000, d=6)
    centroids, _ = fit_centroids(x, 5, seed=0)
    whole = assign_to_centroids(x, centroids)
    monkeypatch.setattr(index, "_BLOCK_ROWS", 512)
    monkeypatch.setattr(index, "_MIN_TAIL_ROWS", 64)
    np.testing.assert_array_equal(assign_to_centroids(x, centroids), whole)
