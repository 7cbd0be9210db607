"""Groups found in the embedding space: k-means clusters fitted on one share of the samples, tested on the rest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from tagscan.fsutil import release_pages

__all__ = ["FIT_ROWS_PER_CLUSTER", "MAX_FIT_ROWS", "ClusterFit", "fit_clusters", "max_fit_rows"]


@dataclass
class ClusterFit:
    assignments: dict[int, np.ndarray]
    medoid_rows: dict[str, int]
    test_mask: np.ndarray
    info: dict


#: k-means for k clusters is fitted on at most ``FIT_ROWS_PER_CLUSTER * k`` rows of the fit share ...
FIT_ROWS_PER_CLUSTER = 256
#: ... and never on more than this many: a seeded uniform sample, drawn without replacement.
MAX_FIT_ROWS = 200_000
_KEY_BLOCK = 1 << 16


def max_fit_rows(k: int) -> int:
    """The most rows k-means for ``k`` clusters is fitted on: ``min(256 k, 200,000)``."""
    return min(FIT_ROWS_PER_CLUSTER * int(k), MAX_FIT_ROWS)


def fit_clusters(vectors: np.ndarray, ks: list[int], *, seed: int = 0, fit_share: float = 0.5) -> ClusterFit:
    """k-means per k, fitted on a recorded sample of one random share of the samples, assigned everywhere.

    Groups found in the data are tested only on the held-out samples (``test_mask``), so the data
    that shaped a cluster never tests it. The split is fixed by ``seed`` and recorded in ``info``.
    For each k the iterations run on at most :func:`max_fit_rows` rows of the fit share (a uniform
    sample drawn with ``seed``, without replacement; ``info["fit_rows"]`` and ``info["fit_sample"]``
    say how many and how), then every sample is assigned to its nearest centroid in row blocks.
    ``vectors`` may be a read-only memory map: only the fitted rows and one block at a time are read.
    Raises ValueError when a k exceeds the fitting samples.
    """
    from tagscan.embed.index import assign_to_centroids, fit_centroids, medoids

    n = len(vectors)
    rng = np.random.default_rng(seed)
    fit = rng.random(n) < fit_share
    out, med, fitted = {}, {}, {}
    fit_rows = np.flatnonzero(fit)
    for k in ks:
        if k > len(fit_rows):
            raise ValueError(f"k={k} is more than the {len(fit_rows)} samples of the fitting share ({n} samples in all)")
        centroids, sample = fit_centroids(vectors, k, seed=seed, max_points=max_fit_rows(k), rows=fit_rows)
        fitted[k] = len(sample)
        assign = assign_to_centroids(vectors, centroids)
        out[k] = assign
        for i, row in enumerate(medoids(vectors, assign[fit_rows], centroids, rows=fit_rows)):
            if row >= 0:
                med[f"cluster:k{k}/{i}"] = int(fit_rows[row])
    # What defines the clusters: the fitting rows' vectors and the seed (k is in each cluster's name); the
    # sample each k is fitted on follows from them, and from the cap when one k is capped below 256 k.
    capped = any(MAX_FIT_ROWS < min(FIT_ROWS_PER_CLUSTER * k, len(fit_rows)) for k in ks)
    cap = f"/cap{MAX_FIT_ROWS}" if capped else ""
    key = hashlib.blake2b(f"{n}/{seed}/{fit_share}/{vectors.shape[1]}{cap}".encode(), digest_size=8)
    for i in range(0, len(fit_rows), _KEY_BLOCK):
        key.update(np.ascontiguousarray(vectors[fit_rows[i : i + _KEY_BLOCK]], dtype=np.float32).tobytes())
        release_pages(vectors)
    info = {
        "k": list(ks),
        "seed": seed,
        "fit_share": fit_share,
        "key": key.hexdigest(),
        "n_fit": int(fit.sum()),
        "n_test": int(n - fit.sum()),
        "split": "clusters fitted on the fit share, tested on the held-out samples",
        "fit_rows": {int(k): int(v) for k, v in fitted.items()},
        "fit_sample": (
            f"k-means for k clusters fitted on the whole fit share, or on a uniform sample of min(256 k, {MAX_FIT_ROWS:,}) "
            f"of its rows drawn without replacement with seed {seed}; every sample assigned to its nearest centroid"
        ),
    }
    return ClusterFit(out, med, ~fit, info)
