"""Groups found in the embedding space: k-means clusters fitted on one share of the samples, tested on the rest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["ClusterFit", "fit_clusters"]


@dataclass
class ClusterFit:
    assignments: dict[int, np.ndarray]
    medoid_rows: dict[str, int]
    test_mask: np.ndarray
    info: dict


def fit_clusters(vectors: np.ndarray, ks: list[int], *, seed: int = 0, fit_share: float = 0.5) -> ClusterFit:
    """k-means per k, fitted on one random share of the samples, assigned everywhere.

    Groups found in the data are tested only on the held-out samples (``test_mask``), so the data
    that shaped a cluster never tests it. The split is fixed by ``seed`` and recorded in ``info``.
    Raises ValueError when a k exceeds the fitting samples.
    """
    from tagscan.embed.index import assign_to_centroids, kmeans, medoids

    n = len(vectors)
    rng = np.random.default_rng(seed)
    fit = rng.random(n) < fit_share
    out, med = {}, {}
    fit_rows = np.flatnonzero(fit)
    for k in ks:
        if k > len(fit_rows):
            raise ValueError(f"k={k} is more than the {len(fit_rows)} samples of the fitting share ({n} samples in all)")
        _, centroids = kmeans(vectors[fit_rows], k, seed=seed)
        assign = assign_to_centroids(vectors, centroids)
        out[k] = assign
        for i, row in enumerate(medoids(vectors[fit_rows], assign[fit_rows], centroids)):
            if row >= 0:
                med[f"cluster:k{k}/{i}"] = int(fit_rows[row])
    # What defines the clusters: the fitting rows' vectors and the seed (k is in each cluster's name).
    key = hashlib.blake2b(f"{n}/{seed}/{fit_share}/{vectors.shape[1]}".encode(), digest_size=8)
    for i in range(0, len(fit_rows), 1 << 16):
        key.update(np.ascontiguousarray(vectors[fit_rows[i : i + (1 << 16)]], dtype=np.float32).tobytes())
    info = {
        "k": list(ks),
        "seed": seed,
        "fit_share": fit_share,
        "key": key.hexdigest(),
        "n_fit": int(fit.sum()),
        "n_test": int(n - fit.sum()),
        "split": "clusters fitted on the fit share, tested on the held-out samples",
    }
    return ClusterFit(out, med, ~fit, info)
