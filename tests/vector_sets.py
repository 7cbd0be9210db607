"""Seeded vector sets with the shape of real embeddings, and recall, for the index tests."""

from __future__ import annotations

import numpy as np


def clustered(n: int, d: int, n_clusters: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """Unit rows around ``n_clusters`` random centres (the shape of real embedding sets)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    rows = centres[rng.integers(n_clusters, size=n)] + spread * rng.standard_normal((n, d))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def recall_at(k: int, found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true ``k`` nearest rows that were found."""
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))
