"""Vector search and clustering over FAISS: the one module of tagscan that imports faiss.

Conventions (as in ``faiss/contrib``): every array is converted to C-contiguous float32 at the
boundary, ids are int64 row numbers, and inputs are validated with :class:`DataError` (never a bare
``assert``). Similarity is the inner product of L2-normalised rows, i.e. cosine similarity.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

from tagscan.errors import DataError

__all__ = ["VectorIndex", "assign_to_centroids", "kmeans", "l2_normalize", "medoids"]

logger = logging.getLogger(__name__)

_NORM_TOLERANCE = 1e-3
_BLOCK_ROWS = 65_536
_SEED_SAMPLE_BASE = 10_000
_SEED_SAMPLE_PER_K = 40


def _as_matrix(array: object, what: str, *, dim: int | None = None) -> np.ndarray:
    """Return ``array`` as a C-contiguous float32 2-D matrix of finite values, or raise DataError."""
    matrix = np.asarray(array)
    if matrix.ndim != 2:
        raise DataError(
            f"{what}: expected a 2-D array (rows x dim), got {matrix.ndim}-D with shape {matrix.shape}; "
            "reshape single vectors with x[None, :]"
        )
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
        raise DataError(f"{what}: expected real numbers, got dtype {matrix.dtype}; convert to float32")
    if matrix.shape[1] < 1:
        raise DataError(f"{what}: vectors have 0 columns (shape {matrix.shape}); embed the inputs first")
    if dim is not None and matrix.shape[1] != dim:
        raise DataError(
            f"{what}: vectors are {matrix.shape[1]}-wide but the index holds {dim}-wide vectors; "
            "embed the queries with the model that built the index"
        )
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise DataError(f"{what}: row {row} holds NaN or infinite values; drop or re-embed that row")
    return matrix


def _check_unit_norm(matrix: np.ndarray, what: str) -> None:
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64))
    bad = np.flatnonzero(np.abs(norms - 1.0) > _NORM_TOLERANCE)
    if bad.size:
        raise DataError(
            f"{what}: rows must be L2-normalised (norm 1 within {_NORM_TOLERANCE}); row {int(bad[0])} has "
            f"norm {norms[bad[0]]:.6g} ({bad.size} rows off); normalise them with tagscan.embed.l2_normalize"
        )


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Return a float32 C-contiguous copy of ``vectors`` with unit-norm rows.

    Raises:
        DataError: not a 2-D finite numeric array, or a row is all zeros (it has no direction).
    """
    matrix = _as_matrix(vectors, "vectors")
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise DataError(
            f"vectors: row {int(zero[0])} is all zeros ({zero.size} such rows) and cannot be normalised; "
            "drop those rows or fix their embeddings"
        )
    return np.ascontiguousarray(matrix / norms[:, None], dtype=np.float32)


class VectorIndex:
    """Exact cosine-similarity search over unit-norm float32 vectors (``faiss.IndexFlatIP``).

    Ids are row numbers (int64) of the ``vectors`` given to :meth:`build`. Build with
    :meth:`build`, or read a saved one with :meth:`load`.
    """

    def __init__(self, index: faiss.Index) -> None:
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise DataError(
                f"index: expected an inner-product FAISS index, got metric {index.metric_type}; "
                "build it with VectorIndex.build"
            )
        self._index = index

    def __repr__(self) -> str:
        return f"VectorIndex({type(self._index).__name__}, ntotal={self.ntotal}, dim={self.dim})"

    @classmethod
    def build(cls, vectors: np.ndarray) -> VectorIndex:
        """Index the rows of ``vectors`` (n x d, L2-normalised; n may be 0).

        Raises:
            DataError: not a 2-D finite numeric array, or rows that are not unit norm.
        """
        matrix = _as_matrix(vectors, "vectors")
        _check_unit_norm(matrix, "vectors")
        index = faiss.IndexFlatIP(matrix.shape[1])
        index.add(matrix)
        logger.debug("built exact inner-product index over %d x %d vectors", *matrix.shape)
        return cls(index)

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        """Width of the indexed vectors."""
        return int(self._index.d)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` most similar indexed rows for each query row, best first.

        Returns:
            ``(scores, ids)``: float32 ``(q, k)`` cosine similarities and int64 ``(q, k)`` row ids.
            When ``k > ntotal`` the missing slots hold id ``-1`` and score ``-inf``.

        Raises:
            DataError: ``k`` is not a positive integer, or the queries are not unit-norm
                ``(q, dim)`` rows.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"k: must be a positive integer, got {k!r}; ask for at least 1 neighbour")
        k = int(k)
        matrix = _as_matrix(queries, "queries", dim=self.dim)
        _check_unit_norm(matrix, "queries")
        scores = np.full((len(matrix), k), -np.inf, dtype=np.float32)
        ids = np.full((len(matrix), k), -1, dtype=np.int64)
        found = min(k, self.ntotal)
        if found and len(matrix):
            distances, labels = self._index.search(matrix, found)
            scores[:, :found] = distances
            ids[:, :found] = labels
        return scores, ids

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = faiss.serialize_index(self._index)
        handle = tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        )
        try:
            with handle:
                handle.write(payload.tobytes())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, path)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index written by :meth:`save`.

        Raises:
            DataError: the file is missing or is not a FAISS inner-product index.
        """
        path = Path(path)
        try:
            payload = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        except FileNotFoundError as error:
            raise DataError(f"{path}: index file not found; run `tagscan embed` to build it") from error
        try:
            index = faiss.deserialize_index(payload)
        except RuntimeError as error:
            raise DataError(
                f"{path}: not a readable FAISS index ({error}); delete it and run `tagscan embed` again"
            ) from error
        return cls(index)


def _kmeans_plus_plus(matrix: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; the variant of scikit-learn's ``_kmeans_plusplus``).

    Each new seed is the best of ``2 + ln k`` candidates drawn with probability proportional to the
    squared distance to the nearest seed so far. Runs on at most ``_SEED_SAMPLE_BASE + _SEED_SAMPLE_PER_K * k``
    rows, drawn without replacement, so it stays cheap for millions of rows.
    """
    n = len(matrix)
    sample_size = min(n, _SEED_SAMPLE_BASE + _SEED_SAMPLE_PER_K * k)
    rows = np.sort(rng.choice(n, size=sample_size, replace=False)) if sample_size < n else np.arange(n)
    points = matrix[rows]
    squared = np.einsum("ij,ij->i", points, points)
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(len(points)))]
    nearest = np.maximum(squared - 2.0 * (points @ points[chosen[0]]) + squared[chosen[0]], 0.0)
    for _ in range(1, k):
        total = float(nearest.sum())
        if total > 0.0:
            candidates = np.searchsorted(np.cumsum(nearest), rng.random(trials) * total)
            candidates = np.minimum(candidates, len(points) - 1)
        else:  # every remaining point coincides with a seed: any choice is as good
            candidates = rng.integers(len(points), size=trials)
        distances = squared[None, :] - 2.0 * (points[candidates] @ points.T) + squared[candidates][:, None]
        distances = np.minimum(np.maximum(distances, 0.0), nearest[None, :])
        best = int(np.argmin(distances.sum(axis=1)))
        chosen.append(int(candidates[best]))
        nearest = distances[best]
    return np.ascontiguousarray(points[chosen], dtype=np.float32)


def kmeans(
    vectors: np.ndarray, k: int, *, seed: int, niter: int = 20, max_points_per_centroid: int | None = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of ``vectors`` into ``k`` groups with Lloyd's k-means (``faiss.Kmeans``, L2).

    Seeds come from greedy k-means++ (numpy, on a sample of the rows, see :func:`_kmeans_plus_plus`):
    FAISS's default random seeding, and in faiss 1.15 its own k-means++ too, often start two seeds in
    one well-separated cluster and never recover. The Lloyd iterations run on at most
    ``max_points_per_centroid * k`` rows, a seeded uniform sample (logged; None = every row), which
    bounds the cost at millions of rows without changing the centroids materially; every row is then
    assigned to its nearest centroid. FAISS's own silent subsampling and its stderr warning about
    fewer than 39 points per centroid are switched off. Deterministic for a ``seed``.

    Returns:
        ``(assignment, centroids)``: int64 ``(n,)`` cluster of each row (nearest centroid) and
        float32 ``(k, d)`` centroids. A cluster can end up empty when rows are duplicated.

    Raises:
        DataError: ``k`` is not in ``1..n``, ``niter < 1``, or the vectors are not a finite 2-D array.
    """
    matrix = _as_matrix(vectors, "vectors")
    n, d = matrix.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise DataError(
            f"k: the number of clusters must be an integer in 1..{n} (the number of rows), got {k!r}; "
            "lower groups.clusters or embed more inputs"
        )
    if isinstance(niter, bool) or not isinstance(niter, (int, np.integer)) or niter < 1:
        raise DataError(f"niter: must be a positive integer, got {niter!r}; use e.g. 20")
    k = int(k)
    rng = np.random.default_rng(seed)
    train = matrix
    if max_points_per_centroid is not None and n > max_points_per_centroid * k:
        rows = np.sort(rng.choice(n, size=max_points_per_centroid * k, replace=False))
        train = np.ascontiguousarray(matrix[rows])
        logger.info("k-means k=%d: fitting on a seeded sample of %d of %d rows", k, len(rows), n)
    seeds = _kmeans_plus_plus(train, k, rng)
    n_train = len(train)
    model = faiss.Kmeans(
        d,
        k,
        niter=int(niter),
        seed=int(rng.integers(2**31 - 1)),
        spherical=False,
        verbose=False,
        min_points_per_centroid=1,
        max_points_per_centroid=max(1, -(-n_train // k)),
    )
    model.train(train, init_centroids=seeds)
    _, assignment = model.assign(matrix)
    centroids = np.ascontiguousarray(model.centroids, dtype=np.float32)
    logger.debug("k-means: %d rows into %d clusters, final objective %.6g", n, k, float(model.obj[-1]))
    return assignment.astype(np.int64, copy=False), centroids


def assign_to_centroids(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid (L2) of every row: int64 (n,). Used to place held-out rows in clusters."""
    matrix = _as_matrix(vectors, "vectors")
    centres = _as_matrix(centroids, "centroids", dim=matrix.shape[1])
    index = faiss.IndexFlatL2(centres.shape[1])
    index.add(centres)
    _, ids = index.search(matrix, 1)
    return ids[:, 0].astype(np.int64, copy=False)


def medoids(vectors: np.ndarray, assignment: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """For each cluster, the row of ``vectors`` assigned to it that is nearest (L2) to its centroid.

    Strictly a "representative" rather than a true medoid (which would minimise distance to the
    other members); ties go to the smallest row number.

    Returns:
        int64 ``(k,)`` row ids, ``-1`` for a cluster no row is assigned to.

    Raises:
        DataError: shapes disagree or an assignment is outside ``0..k-1``.
    """
    matrix = _as_matrix(vectors, "vectors")
    centres = _as_matrix(centroids, "centroids", dim=matrix.shape[1])
    labels = np.asarray(assignment)
    if labels.shape != (len(matrix),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"assignment: expected one integer cluster per row, shape ({len(matrix)},), got dtype "
            f"{labels.dtype} and shape {labels.shape}; pass the assignment returned by kmeans"
        )
    labels = labels.astype(np.int64, copy=False)
    k = len(centres)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise DataError(
            f"assignment: cluster ids must lie in 0..{k - 1} (one per centroid), found "
            f"{int(labels.min())}..{int(labels.max())}; pass the centroids that produced the assignment"
        )
    distances = np.empty(len(matrix), dtype=np.float64)
    for start in range(0, len(matrix), _BLOCK_ROWS):
        block = matrix[start : start + _BLOCK_ROWS]
        diff = block - centres[labels[start : start + _BLOCK_ROWS]]
        distances[start : start + len(block)] = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
    order = np.lexsort((distances, labels))  # by cluster, then distance; stable, so ties keep row order
    sorted_labels = labels[order]
    first = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]) if order.size else order
    result = np.full(k, -1, dtype=np.int64)
    result[sorted_labels[first]] = order[first]
    return result
