"""Vector search and clustering over FAISS: the one module of tagscan that imports faiss.

Conventions (as in ``faiss/contrib``): every array is converted to C-contiguous float32 at the
boundary, ids are int64 row numbers, and inputs are validated with :class:`DataError` (never a bare
``assert``). Similarity is the inner product of L2-normalised rows, i.e. cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

from tagscan.errors import DataError
from tagscan.fsutil import release_pages

__all__ = [
    "EXACT_THRESHOLD",
    "MEMORY_BUDGET_BYTES",
    "SavedIndex",
    "VectorIndex",
    "assign_to_centroids",
    "fit_centroids",
    "index_bytes",
    "ivf_nlist",
    "ivf_nprobe",
    "kmeans",
    "l2_normalize",
    "medoids",
    "plan_index",
    "save_index",
]

logger = logging.getLogger(__name__)

_NORM_TOLERANCE = 1e-3
_BLOCK_ROWS = 65_536
_SEED_SAMPLE_BASE = 10_000
_SEED_SAMPLE_PER_K = 40
_MIN_TAIL_ROWS = 4_096


def _checked(matrix: np.ndarray, what: str, dim: int | None) -> np.ndarray:
    """``matrix`` when it is a 2-D real array (of ``dim`` columns when given), else DataError. Reads no rows."""
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
    return matrix


def _as_matrix(array: object, what: str, *, dim: int | None = None, row_ids: np.ndarray | int = 0) -> np.ndarray:
    """Return ``array`` as a C-contiguous float32 2-D matrix of finite values, or raise DataError.

    A float32 C-contiguous array (a memory map too) is returned without a copy; finiteness is checked
    in row blocks. ``row_ids``: what the rows are called in errors (an offset, or the row numbers of a
    gathered block).
    """
    matrix = _checked(np.asarray(array), what, dim)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    for start in range(0, len(matrix), _BLOCK_ROWS):
        finite = np.isfinite(matrix[start : start + _BLOCK_ROWS]).all(axis=1)
        if len(matrix) > _BLOCK_ROWS:  # a pass over many blocks; one block is left for the caller to use
            release_pages(matrix)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite)[0])
            name = int(row_ids[row]) if isinstance(row_ids, np.ndarray) else row_ids + row
            raise DataError(f"{what}: row {name} holds NaN or infinite values; drop or re-embed that row")
    return matrix


def _row_blocks(n: int) -> list[tuple[int, int]]:
    """``[start, stop)`` bounds of row blocks of ``_BLOCK_ROWS``; a short tail joins the block before it.

    FAISS searches a query block of fewer than 20 rows without BLAS, so a short tail would be computed
    another way than in one call over every row; with the tail merged (and blocks starting at
    multiples of FAISS's own 4,096-row query blocks) blocked results equal one call's bit for bit.
    """
    starts = list(range(0, n, _BLOCK_ROWS)) or [0]
    if len(starts) > 1 and n - starts[-1] < _MIN_TAIL_ROWS:
        starts.pop()
    return [(a, b) for a, b in zip(starts, [*starts[1:], n])]


def _check_unit_norm(matrix: np.ndarray, what: str) -> None:
    norms = np.empty(len(matrix))
    for start in range(0, len(matrix), _BLOCK_ROWS):  # in row blocks: the rows may be memory-mapped
        block = matrix[start : start + _BLOCK_ROWS]
        norms[start : start + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        release_pages(matrix)
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


#: Below this many rows an index is exact (``IndexFlatIP``); from it on, ``IndexIVFFlat``.
EXACT_THRESHOLD = 100_000
#: Rows drawn (seeded, without replacement) per inverted list to train the IVF coarse quantizer.
_IVF_TRAIN_PER_LIST = 64
#: FAISS warns below 39 training points per centroid; fewer lists are used than that would need.
_IVF_MIN_PER_LIST = 39


#: Above this many bytes for the index the row count asks for (exact or IVFFlat), a compressed IVF index is built.
MEMORY_BUDGET_BYTES = 2 << 30
#: Product quantization trains 256 centroids per sub-vector: below 39 rows each it is not used (SQ8 instead).
_PQ_MIN_ROWS = 256 * _IVF_MIN_PER_LIST
_KINDS = ("exact", "ivf", "ivfsq", "ivfpq")


def index_bytes(kind: str, n: int, d: int, *, nlist: int = 0, m: int = 0) -> int:
    """Estimated memory of an index of ``n`` x ``d`` vectors: ``exact`` (4 d bytes a row), ``ivf`` (IVFFlat:
    4 d + 8 a row), ``ivfsq`` (8-bit scalar quantizer: d + 8 a row) or ``ivfpq`` (``m`` bytes + 8 a row),
    plus the IVF lists' centroids and the quantizers' tables."""
    lists = 4 * nlist * d if kind != "exact" else 0
    per_row = {"exact": 4 * d, "ivf": 4 * d + 8, "ivfsq": d + 8, "ivfpq": m + 8}[kind]
    extra = {"exact": 0, "ivf": 0, "ivfsq": 8 * d, "ivfpq": 4 * 256 * d}[kind]
    return n * per_row + lists + extra


def plan_index(
    n: int, d: int, *, exact_threshold: int = EXACT_THRESHOLD, memory_budget_bytes: int = MEMORY_BUDGET_BYTES,
    nlist: int | None = None,
) -> tuple[str, int]:
    """The index :meth:`VectorIndex.build` makes for ``n`` x ``d`` vectors: ``(kind, m)``.

    ``exact`` below ``exact_threshold`` rows, else ``ivf`` (IVFFlat); when that would take more than
    ``memory_budget_bytes`` (:func:`index_bytes`), ``ivfsq`` (IVF with an 8-bit scalar quantizer, a
    quarter of the memory), or, when even that is over the budget and there are enough rows to train it,
    ``ivfpq`` (IVF with product quantization, ``m`` bytes a row: the largest divisor of ``d`` that fits).
    ``m`` is 0 but for ``ivfpq``.
    """
    kind = "exact" if n < exact_threshold or n == 0 else "ivf"
    lists = (nlist or ivf_nlist(n)) if n else 0
    if n == 0 or index_bytes(kind, n, d, nlist=lists if kind == "ivf" else 0) <= memory_budget_bytes:
        return kind, 0
    if index_bytes("ivfsq", n, d, nlist=lists) <= memory_budget_bytes or n < _PQ_MIN_ROWS:
        return "ivfsq", 0
    divisors = [m for m in range(d, 0, -1) if d % m == 0 and m < d]
    fits = [m for m in divisors if index_bytes("ivfpq", n, d, nlist=lists, m=m) <= memory_budget_bytes]
    m = fits[0] if fits else divisors[-1] if divisors else 1
    if not fits:
        logger.warning(
            "an index of %d x %d vectors exceeds the memory budget of %d bytes even as IVF-PQ with %d byte(s) a row",
            n, d, memory_budget_bytes, m,
        )
    return "ivfpq", m


def ivf_nlist(n: int) -> int:
    """The default number of inverted lists for ``n`` rows: ``4 * sqrt(n)``, at most ``n // 39``."""
    return max(1, min(int(round(4.0 * np.sqrt(n))), n // _IVF_MIN_PER_LIST))


def ivf_nprobe(nlist: int) -> int:
    """The default number of lists probed per query: ``max(32, nlist // 16)``, at most ``nlist``.

    Chosen for recall rather than speed (tagscan asks few queries): on clustered data
    (``scripts/bench/bench_index.py``: 200k x 64, 1,789 lists, nprobe 111) recall@10 against exact
    search is 0.9999 at 1/8 of the exact query time; nprobe 32 would give 0.989 at 1/27.
    """
    return max(1, min(nlist, max(32, nlist // 16)))


class VectorIndex:
    """Cosine-similarity search over unit-norm float32 vectors, sized to the data.

    Below ``exact_threshold`` rows the index is exact (``faiss.IndexFlatIP``); from it on it is an
    inverted-file index (``faiss.IndexIVFFlat``, inner product, ``nlist`` lists trained by spherical
    k-means on a seeded sample, ``nprobe`` lists searched per query), which is approximate but far
    faster at scale. Ids are row numbers (int64) of the ``vectors`` given to :meth:`build`. Build
    with :meth:`build`, or read a saved one with :meth:`load` (``nprobe`` is saved with the index).
    """

    def __init__(self, index: faiss.Index) -> None:
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise DataError(
                f"index: expected an inner-product FAISS index, got metric {index.metric_type}; "
                "build it with VectorIndex.build"
            )
        self._index = index

    def __repr__(self) -> str:
        extra = f", nlist={self.nlist}, nprobe={self.nprobe}" if self.kind != "exact" else ""
        return f"VectorIndex({type(self._index).__name__}, ntotal={self.ntotal}, dim={self.dim}{extra})"

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        exact_threshold: int = EXACT_THRESHOLD,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
        memory_budget_bytes: int = MEMORY_BUDGET_BYTES,
    ) -> VectorIndex:
        """Index the rows of ``vectors`` (n x d, L2-normalised; n may be 0; a memory map is read in blocks).

        Args:
            vectors: the rows to index.
            exact_threshold: with fewer rows than this the index is exact; else IVF.
            nlist: IVF lists (default :func:`ivf_nlist`: ``4 * sqrt(n)``); must be in ``1..n``.
            nprobe: lists searched per query (default :func:`ivf_nprobe`); must be in ``1..nlist``.
            seed: fixes the training sample and the k-means of the IVF quantizer.
            memory_budget_bytes: when the exact or IVFFlat index would take more (:func:`index_bytes`),
                a compressed IVF index is built instead (:func:`plan_index`: ``ivfsq``, else ``ivfpq``).

        Raises:
            DataError: not a 2-D finite numeric array, rows that are not unit norm, or a bad
                ``exact_threshold``, ``nlist``, ``nprobe`` or ``memory_budget_bytes``.
        """
        matrix = _as_matrix(vectors, "vectors")
        _check_unit_norm(matrix, "vectors")
        n, d = matrix.shape
        if isinstance(exact_threshold, bool) or not isinstance(exact_threshold, (int, np.integer)):
            raise DataError(
                f"exact_threshold: must be an integer row count, got {exact_threshold!r}; use e.g. 100000"
            )
        if (
            isinstance(memory_budget_bytes, bool)
            or not isinstance(memory_budget_bytes, (int, np.integer))
            or memory_budget_bytes < 1
        ):
            raise DataError(
                f"memory_budget_bytes: must be a positive integer byte count, got {memory_budget_bytes!r}; "
                f"leave it unset for {MEMORY_BUDGET_BYTES} (2 GiB)"
            )
        good_nlist = nlist is None or (
            not isinstance(nlist, bool) and isinstance(nlist, (int, np.integer)) and 1 <= nlist <= n
        )
        kind, m = plan_index(
            n,
            d,
            exact_threshold=int(exact_threshold),
            memory_budget_bytes=int(memory_budget_bytes),
            nlist=int(nlist) if nlist is not None and good_nlist else None,
        )
        if kind == "exact":
            index = faiss.IndexFlatIP(d)
            for start in range(0, n, _BLOCK_ROWS):
                index.add(matrix[start : start + _BLOCK_ROWS])
                release_pages(matrix)
            logger.debug("built exact inner-product index over %d x %d vectors", n, d)
            return cls(index)
        if not good_nlist:
            raise DataError(
                f"nlist: the number of IVF lists must be an integer in 1..{n} (the number of rows), "
                f"got {nlist!r}; leave it unset for 4 * sqrt(n)"
            )
        nlist = ivf_nlist(n) if nlist is None else int(nlist)
        if nprobe is None:
            nprobe = ivf_nprobe(nlist)
        if isinstance(nprobe, bool) or not isinstance(nprobe, (int, np.integer)) or not 1 <= nprobe <= nlist:
            raise DataError(
                f"nprobe: the number of lists searched must be an integer in 1..{nlist} (nlist), got {nprobe!r}; "
                "leave it unset for the default"
            )
        rng = np.random.default_rng(seed)
        train_size = min(n, _IVF_TRAIN_PER_LIST * nlist)
        if kind == "ivfpq":
            train_size = min(n, max(train_size, _PQ_MIN_ROWS))
        rows = np.sort(rng.choice(n, size=train_size, replace=False)) if train_size < n else np.arange(n)
        quantizer = faiss.IndexFlatIP(d)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        elif kind == "ivfsq":
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        else:
            index = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
            index.pq.cp.seed = int(rng.integers(2**31 - 1))
        index.own_fields = True
        quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
        index.cp.seed = int(rng.integers(2**31 - 1))
        index.cp.spherical = True
        index.cp.min_points_per_centroid = 1  # no stderr warning; nlist was sized to the data
        index.cp.max_points_per_centroid = max(1, -(-train_size // nlist))  # no silent re-sampling
        train = np.ascontiguousarray(matrix[rows])
        release_pages(matrix)
        index.train(train)
        del train
        for start in range(0, n, _BLOCK_ROWS):
            index.add(matrix[start : start + _BLOCK_ROWS])
            release_pages(matrix)
        index.nprobe = int(nprobe)
        why = "" if kind == "ivf" else f"; over the memory budget of {memory_budget_bytes} bytes uncompressed"
        logger.info(
            "built %s inner-product index over %d x %d vectors (nlist=%d, nprobe=%d, trained on %d rows%s%s)",
            {"ivf": "IVF", "ivfsq": "IVF-SQ8", "ivfpq": "IVF-PQ"}[kind],
            n,
            d,
            nlist,
            nprobe,
            train_size,
            f", {m} bytes a row" if m else "",
            why,
        )
        return cls(index)

    @property
    def kind(self) -> str:
        """``"exact"`` (flat), ``"ivf"`` (inverted file of full vectors, approximate), or a compressed
        inverted file: ``"ivfsq"`` (8-bit scalar quantizer) or ``"ivfpq"`` (product quantization)."""
        if isinstance(self._index, faiss.IndexIVFScalarQuantizer):
            return "ivfsq"
        if isinstance(self._index, faiss.IndexIVFPQ):
            return "ivfpq"
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "exact"

    @property
    def nlist(self) -> int | None:
        """Number of IVF lists; ``None`` for an exact index."""
        return int(self._index.nlist) if self.kind != "exact" else None

    @property
    def nprobe(self) -> int | None:
        """Lists searched per query; ``None`` for an exact index. Settable on an IVF index."""
        return int(self._index.nprobe) if self.kind != "exact" else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind == "exact":
            raise DataError("nprobe: only an IVF index has lists to probe; this index is exact")
        nlist = int(self._index.nlist)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= nlist:
            raise DataError(f"nprobe: must be an integer in 1..{nlist} (nlist), got {value!r}")
        self._index.nprobe = int(value)

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
            When ``k > ntotal`` (or an IVF index finds fewer than ``k`` rows in the lists it probes)
            the missing slots hold id ``-1`` and score ``-inf``.

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
            # An IVF index may find fewer than k rows in the lists it probes: FAISS marks them -1.
            distances[labels < 0] = -np.inf
            scores[:, :found] = distances
            ids[:, :found] = labels
        return scores, ids

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (temporary file in the same folder, fsync, rename).

        FAISS's own format: an IVF index keeps its trained lists and its ``nprobe``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            # Straight to the file: serialize_index would hold two more copies of the index in memory.
            faiss.write_index(self._index, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read an index written by :meth:`save`.

        Raises:
            DataError: the file is missing or is not a FAISS inner-product index.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: index file not found; run `tagscan embed` to build it")
        try:
            index = faiss.read_index(str(path))  # from the file: no copy of its bytes in memory first
        except RuntimeError as error:
            raise DataError(
                f"{path}: not a readable FAISS index ({str(error).strip().splitlines()[-1][:200]}); delete it "
                "and run `tagscan embed` again"
            ) from error
        return cls(index)


class SavedIndex:
    """A :class:`VectorIndex` saved at ``path`` by :func:`save_index`.

    :attr:`index` is the live index: the one built in this process, or, when the file already held an
    index of the same vectors, read from the file on first use (a scan that never searches it never
    reads it).
    """

    def __init__(self, path: Path, index: VectorIndex | None = None) -> None:
        self.path = Path(path)
        self._index = index

    def __repr__(self) -> str:
        return f"SavedIndex(path='{self.path}', loaded={self.loaded})"

    @property
    def loaded(self) -> bool:
        """Whether the index is in memory (built here, or read already)."""
        return self._index is not None

    @property
    def index(self) -> VectorIndex:
        """The live index (read from :attr:`path` on first use when it was not built here).

        Raises:
            DataError: the file is missing or is not a FAISS index.
        """
        if self._index is None:
            self._index = VectorIndex.load(self.path)
        return self._index


def save_index(
    vectors: np.ndarray, folder: Path, name: str, *, memory_budget_bytes: int = MEMORY_BUDGET_BYTES
) -> SavedIndex:
    """Build and save an index of ``vectors`` as ``<folder>/<name>.faiss``, unless one of the same content is there.

    Next to it, ``<name>.json`` records ``content`` (16 hex digits of a sha256 over the vectors'
    bytes, read a block of rows at a time), ``ntotal``, ``dim`` and ``kind``; when both files exist, the
    recorded content matches and the kind is the one :func:`plan_index` gives now (for
    ``memory_budget_bytes``), nothing is built or written and the saved index is kept (read only when used).
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for start in range(0, len(vectors), _BLOCK_ROWS):
        digest.update(np.ascontiguousarray(vectors[start : start + _BLOCK_ROWS]).tobytes())
        release_pages(vectors)
    content = digest.hexdigest()[:16]
    n, d = (len(vectors), int(vectors.shape[1])) if np.ndim(vectors) == 2 else (len(vectors), 0)
    planned = plan_index(n, d, memory_budget_bytes=memory_budget_bytes)[0] if d else None
    path = folder / f"{name}.faiss"
    meta = folder / f"{name}.json"
    if path.is_file() and meta.is_file():
        try:
            saved = json.loads(meta.read_text())
            kind = saved.get("kind", planned if planned in ("exact", "ivf") else None)  # before kinds were recorded
            if saved.get("content") == content and kind == planned:
                return SavedIndex(path)
        except (OSError, ValueError, AttributeError):
            pass
    index = VectorIndex.build(vectors, memory_budget_bytes=memory_budget_bytes)
    index.save(path)
    tmp = meta.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"content": content, "ntotal": int(len(vectors)), "dim": int(vectors.shape[1]),
                               "kind": index.kind}))
    os.replace(tmp, meta)
    return SavedIndex(path, index)


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
    max_points = None if max_points_per_centroid is None else max_points_per_centroid * k
    centroids, _ = fit_centroids(matrix, k, seed=seed, niter=niter, max_points=max_points)
    return assign_to_centroids(matrix, centroids), centroids


def fit_centroids(
    vectors: np.ndarray,
    k: int,
    *,
    seed: int,
    niter: int = 20,
    max_points: int | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` centroids of :func:`kmeans` fitted on ``vectors[rows]`` (every row when ``rows`` is None).

    When there are more than ``max_points`` candidate rows, the iterations run on a seeded uniform
    sample of ``max_points`` of them, drawn without replacement. Only the fitted rows are read, so
    ``vectors`` may be a memory map larger than memory. Same seed, same rows: same centroids as
    :func:`kmeans`.

    Returns:
        ``(centroids, fitted)``: float32 ``(k, d)`` centroids and the int64 row numbers of ``vectors``
        the iterations ran on, in increasing order.

    Raises:
        DataError: ``k`` is not in ``1..n`` (``n`` the candidate rows), ``niter < 1``, or the fitted
            rows are not a finite 2-D array.
    """
    _checked(np.asarray(vectors), "vectors", None)
    pool = np.arange(len(vectors), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(pool)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise DataError(
            f"k: the number of clusters must be an integer in 1..{n} (the number of rows), got {k!r}; "
            "lower groups.clusters or embed more inputs"
        )
    if isinstance(niter, bool) or not isinstance(niter, (int, np.integer)) or niter < 1:
        raise DataError(f"niter: must be a positive integer, got {niter!r}; use e.g. 20")
    k = int(k)
    rng = np.random.default_rng(seed)
    fitted = pool
    if max_points is not None and n > max_points:
        fitted = pool[np.sort(rng.choice(n, size=max_points, replace=False))]
        logger.info("k-means k=%d: fitting on a seeded sample of %d of %d rows", k, len(fitted), n)
    whole = rows is None and fitted is pool
    train = _as_matrix(vectors if whole else vectors[fitted], "vectors", row_ids=0 if whole else fitted)
    release_pages(vectors)
    seeds = _kmeans_plus_plus(train, k, rng)
    n_train, d = train.shape
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
    logger.debug("k-means: %d rows into %d clusters, final objective %.6g", n_train, k, float(model.obj[-1]))
    return np.ascontiguousarray(model.centroids, dtype=np.float32), fitted


def assign_to_centroids(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid (L2) of every row: int64 (n,). Used to place held-out rows in clusters.

    Works in row blocks, so ``vectors`` may be a memory map larger than memory; the result equals
    one search over every row.
    """
    head = _checked(np.asarray(vectors), "vectors", None)
    centres = _as_matrix(centroids, "centroids", dim=head.shape[1])
    index = faiss.IndexFlatL2(centres.shape[1])
    index.add(centres)
    out = np.empty(len(head), dtype=np.int64)
    for start, stop in _row_blocks(len(head)):
        block = _as_matrix(vectors[start:stop], "vectors", row_ids=start)
        if len(block):
            out[start:stop] = index.search(block, 1)[1][:, 0]
        release_pages(vectors)
    return out


def medoids(
    vectors: np.ndarray, assignment: np.ndarray, centroids: np.ndarray, *, rows: np.ndarray | None = None
) -> np.ndarray:
    """For each cluster, the row of ``vectors`` assigned to it that is nearest (L2) to its centroid.

    Strictly a "representative" rather than a true medoid (which would minimise distance to the
    other members); ties go to the smallest row number. ``rows``: only these rows of ``vectors``
    are candidates (``assignment`` is then theirs, and the result indexes ``rows``). Reads the
    candidates in row blocks, so ``vectors`` may be a memory map larger than memory.

    Returns:
        int64 ``(k,)`` row ids (positions among the candidates), ``-1`` for a cluster no row is assigned to.

    Raises:
        DataError: shapes disagree or an assignment is outside ``0..k-1``.
    """
    head = _checked(np.asarray(vectors), "vectors", None)
    pool = None if rows is None else np.asarray(rows, dtype=np.int64)
    m = len(head) if pool is None else len(pool)
    centres = _as_matrix(centroids, "centroids", dim=head.shape[1])
    labels = np.asarray(assignment)
    if labels.shape != (m,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"assignment: expected one integer cluster per row, shape ({m},), got dtype "
            f"{labels.dtype} and shape {labels.shape}; pass the assignment returned by kmeans"
        )
    labels = labels.astype(np.int64, copy=False)
    k = len(centres)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise DataError(
            f"assignment: cluster ids must lie in 0..{k - 1} (one per centroid), found "
            f"{int(labels.min())}..{int(labels.max())}; pass the centroids that produced the assignment"
        )
    distances = np.empty(m, dtype=np.float64)
    for start in range(0, m, _BLOCK_ROWS):
        stop = min(m, start + _BLOCK_ROWS)
        if pool is None:
            block = _as_matrix(vectors[start:stop], "vectors", row_ids=start)
        else:
            block = _as_matrix(vectors[pool[start:stop]], "vectors", row_ids=pool[start:stop])
        diff = block - centres[labels[start:stop]]
        distances[start:stop] = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
        release_pages(vectors)
    order = np.lexsort((distances, labels))  # by cluster, then distance; stable, so ties keep row order
    sorted_labels = labels[order]
    first = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]) if order.size else order
    result = np.full(k, -1, dtype=np.int64)
    result[sorted_labels[first]] = order[first]
    return result
