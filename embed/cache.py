"""A content-addressed, append-only, crash-safe cache of embedding vectors (numpy only).

Layout::

    <root>/<safe namespace>/shard-<uuid4 hex>.npz     keys: uint8 (n, 32) sha256 digests of the items
                                                     vectors: float32 (n, dim), row i belongs to keys[i]

The key of an item is ``sha256(item.encode("utf-8"))``; the namespace (an embedder's ``name``)
separates models. Shards are immutable: each is written to a temporary file in the same folder,
fsync'ed, then renamed over its final name with ``os.replace``, so a reader never sees half a shard.
New vectors are flushed every ``shard_size`` computed items, so a run killed half-way keeps every
finished shard and a rerun computes only the rest. A shard that cannot be read (truncated, corrupt,
wrong shapes) is logged and ignored: its items are simply computed again. Several processes may
append to the same namespace at once (shard names are unique); a key found in two shards keeps the
first vector read.

Where it lives: one cache per machine, shared by every workspace (:func:`embedding_cache_root`), so
the same texts, images and label names under the same model are embedded once. Its namespaces are
model identities (fingerprints of the model files and the embedding recipe) and its keys are contents,
so a vector is reused only for the same bytes through the same model, whichever scan wrote it.

In memory the cache is a dict ``digest -> row`` over a list of vector blocks (all shards on disk are
concatenated into one block when the cache is first used; each shard written later is one more block).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tagscan.errors import ConfigError, DataError
from tagscan.fsutil import _CACHE_FIX, CACHE_ENV, tagscan_cache_dir
from tagscan.fsutil import fsync_dir as _fsync_dir

__all__ = ["CACHE_ENV", "EmbeddingCache", "embedding_cache_root", "item_key", "safe_namespace", "tagscan_cache_dir"]

logger = logging.getLogger(__name__)

_KEY_BYTES = 32
_SHARD_GLOB = "shard-*.npz"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def embedding_cache_root(configured: str | os.PathLike[str] | None = None) -> Path:
    """The embedding cache folder shared by every workspace: ``embeddings/`` in :func:`tagscan_cache_dir`,
    created when missing.

    Raises:
        ConfigError: the folder cannot be created (read-only, or a file is in the way), naming it and the fix.
    """
    root = tagscan_cache_dir(configured) / "embeddings"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"embedding cache: cannot create '{root}' ({type(error).__name__}: {error.strerror or error}); {_CACHE_FIX}"
        ) from error
    return root


def item_key(item: str) -> bytes:
    """The cache key of one item: the 32-byte sha256 digest of its UTF-8 encoding."""
    return hashlib.sha256(item.encode("utf-8", "surrogatepass")).digest()


def safe_namespace(namespace: str) -> str:
    """Turn a namespace into a portable folder name that is unique to it.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``, the result is capped at 80 characters, and
    8 hex digits of the namespace's sha256 are appended so that ``"a:b"`` and ``"a_b"`` never share
    a folder. Example: ``"hf-text:all-MiniLM-L6-v2:0123456789ab"`` gives
    ``"hf-text_all-MiniLM-L6-v2_0123456789ab-<8 hex>"``.
    """
    readable = _UNSAFE.sub("_", namespace).strip("._")[:80] or "namespace"
    return f"{readable}-{hashlib.sha256(namespace.encode('utf-8')).hexdigest()[:8]}"


class EmbeddingCache:
    """Content-addressed store of float32 vectors for one embedder (``namespace``) under ``root``.

    Args:
        root: the cache folder (the machine's: :func:`embedding_cache_root`); created when needed.
        namespace: the embedder's fingerprint (``Embedder.name``); sanitised with :func:`safe_namespace`.
    """

    def __init__(self, root: Path, namespace: str) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise DataError(
                f"embedding cache namespace: must be a non-empty string, got {namespace!r}; "
                "pass the embedder's name"
            )
        self.root = Path(root)
        self.namespace = namespace
        self.directory = self.root / safe_namespace(namespace)
        self._rows: dict[bytes, int] = {}
        self._blocks: list[np.ndarray] = []
        self._size = 0  # rows over all blocks (may exceed len(self._rows) when shards overlap)
        self._dim: int | None = None
        self._loaded = False

    def __repr__(self) -> str:
        return f"EmbeddingCache(directory='{self.directory}', items={len(self)}, dim={self._dim})"

    def __len__(self) -> int:
        """Number of distinct items cached."""
        self._load()
        return len(self._rows)

    def count_missing(self, items: Sequence[str]) -> int:
        """How many distinct items of ``items`` are not cached yet (what :meth:`embed` would compute)."""
        self._load()
        keys = {hashlib.sha256(str(item).encode("utf-8")).digest() for item in items}
        return sum(1 for key in keys if key not in self._rows)

    def missing(self, items: Sequence[str]) -> list[str]:
        """The distinct items of ``items`` not cached yet, in their first order (what :meth:`embed` would compute)."""
        self._load()
        seen: set[bytes] = set()
        out: list[str] = []
        for item in items:
            key = hashlib.sha256(str(item).encode("utf-8", "surrogatepass")).digest()
            if key not in self._rows and key not in seen:
                seen.add(key)
                out.append(str(item))
        return out

    def append(self, items: Sequence[str], vectors: np.ndarray) -> Path:
        """Write the vectors of ``items`` (row i for ``items[i]``) as one new shard, without reading the
        shards already there: what a worker of a cluster does with the batch it embedded.

        Raises:
            DataError: ``vectors`` has the wrong shape or values.
        """
        items = [str(item) for item in items]
        vectors = self._check_computed(vectors, len(items))
        keys = np.frombuffer(
            b"".join(hashlib.sha256(item.encode("utf-8", "surrogatepass")).digest() for item in items), dtype=np.uint8
        ).reshape(-1, _KEY_BYTES)
        path = self._write_shard(keys, vectors)
        if self._loaded:
            self._register(keys, vectors)
        return path

    @property
    def dim(self) -> int | None:
        """Width of the cached vectors; ``None`` while the cache is empty."""
        self._load()
        return self._dim

    # -- reading ---------------------------------------------------------------------------------

    def _read_shard(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = data["keys"]
                vectors = data["vectors"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            logger.warning(
                "ignoring unreadable embedding cache shard %s (%s: %s)", path, type(error).__name__, error
            )
            return None
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != _KEY_BYTES:
            logger.warning(
                "ignoring embedding cache shard %s: keys have shape %s, dtype %s",
                path,
                keys.shape,
                keys.dtype,
            )
            return None
        if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != len(keys):
            logger.warning(
                "ignoring embedding cache shard %s: vectors have shape %s, dtype %s for %d keys",
                path,
                vectors.shape,
                vectors.dtype,
                len(keys),
            )
            return None
        if self._dim is not None and vectors.shape[1] != self._dim:
            logger.warning(
                "ignoring embedding cache shard %s: vectors are %d wide, the cache holds %d-wide vectors",
                path,
                vectors.shape[1],
                self._dim,
            )
            return None
        return keys, vectors

    def _register(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Append a block; keys already present keep their first vector."""
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        buffer = np.ascontiguousarray(keys).tobytes()
        start = self._size
        rows = self._rows
        for offset in range(len(keys)):
            rows.setdefault(buffer[offset * _KEY_BYTES : (offset + 1) * _KEY_BYTES], start + offset)
        self._blocks.append(vectors)
        self._size += len(vectors)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.directory.is_dir():
            return
        key_parts: list[np.ndarray] = []
        vector_parts: list[np.ndarray] = []
        for path in sorted(self.directory.glob(_SHARD_GLOB)):
            shard = self._read_shard(path)
            if shard is None:
                continue
            if self._dim is None:
                self._dim = int(shard[1].shape[1])
            key_parts.append(shard[0])
            vector_parts.append(shard[1])
        if key_parts:
            self._register(np.concatenate(key_parts), np.concatenate(vector_parts))
        logger.debug(
            "embedding cache %s: %d items in %d shards", self.directory, len(self._rows), len(key_parts)
        )

    def _gather(self, rows: np.ndarray, dim: int) -> np.ndarray:
        """Rows of the virtual concatenation of all blocks, grouped by block (no full concatenation)."""
        out = np.empty((len(rows), dim), dtype=np.float32)
        if len(self._blocks) == 1:
            np.take(self._blocks[0], rows, axis=0, out=out)
            return out
        offsets = np.cumsum([0] + [len(block) for block in self._blocks])
        which = np.searchsorted(offsets, rows, side="right") - 1
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(self._blocks) + 1))
        for block_id, block in enumerate(self._blocks):
            selected = order[bounds[block_id] : bounds[block_id + 1]]
            if selected.size:
                out[selected] = block[rows[selected] - offsets[block_id]]
        return out

    # -- writing ---------------------------------------------------------------------------------

    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"shard-{uuid.uuid4().hex}.npz"
        handle = tempfile.NamedTemporaryFile(
            dir=self.directory, prefix=".shard-", suffix=".tmp", delete=False
        )
        try:
            with handle:
                np.savez(handle, keys=keys, vectors=vectors)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, final)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        _fsync_dir(self.directory)
        return final

    def _check_computed(self, result: object, expected_rows: int) -> np.ndarray:
        vectors = np.asarray(result)
        if vectors.ndim != 2 or vectors.shape[0] != expected_rows:
            raise DataError(
                f"embedding cache '{self.namespace}': compute returned an array of shape {vectors.shape} "
                f"for {expected_rows} items; it must return one row per item, shape ({expected_rows}, dim)"
            )
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise DataError(
                f"embedding cache '{self.namespace}': compute returned {vectors.shape[1]}-wide vectors but "
                f"{self.directory} holds {self._dim}-wide ones; use a namespace per model (Embedder.name) "
                "or delete that folder"
            )
        if not np.issubdtype(vectors.dtype, np.number):
            raise DataError(
                f"embedding cache '{self.namespace}': compute returned dtype {vectors.dtype}; "
                "it must return a numeric (float32) array"
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise DataError(
                f"embedding cache '{self.namespace}': compute returned NaN or infinite values; "
                "fix the embedder before caching its output"
            )
        return vectors

    def embed(
        self,
        items: Sequence[str],
        compute: Callable[[list[str]], np.ndarray],
        *,
        shard_size: int = 4096,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Return the vectors of ``items`` (in their order), computing only those not cached yet.

        Args:
            items: strings to embed (texts, or image paths/URLs); duplicates are computed once.
            compute: maps a list of at most ``shard_size`` distinct items to an ``(len, dim)`` array,
                for example ``embedder.embed_texts``.
            shard_size: computed items per shard; each shard is on disk before the next is computed.
            progress: called with the number of items just computed after each shard is written.

        Returns:
            ``(vectors, computed)``: a float32 C-contiguous ``(len(items), dim)`` array and how many
            distinct items were computed by this call.

        Raises:
            DataError: an item is not a string, or ``compute`` returned the wrong shape, width or values.
        """
        if not isinstance(shard_size, int) or shard_size < 1:
            raise DataError(f"shard_size: must be a positive integer, got {shard_size!r}; use e.g. 4096")
        self._load()
        items = list(items)  # positional access even for pandas Series and other sequences
        keys: list[bytes] = []
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise DataError(
                    f"items[{position}]: the embedding cache keys strings, got {type(item).__name__} "
                    f"({item!r:.60}); convert the column to text first"
                )
            keys.append(hashlib.sha256(item.encode("utf-8", "surrogatepass")).digest())
        if not keys:
            if self._dim is None:
                return self._check_computed(compute([]), 0), 0
            return np.empty((0, self._dim), dtype=np.float32), 0

        missing: dict[bytes, int] = {}  # key -> position of its first occurrence, in input order
        for position, key in enumerate(keys):
            if key not in self._rows and key not in missing:
                missing[key] = position
        pending = list(missing.items())
        for start in range(0, len(pending), shard_size):
            chunk = pending[start : start + shard_size]
            vectors = self._check_computed(compute([items[position] for _, position in chunk]), len(chunk))
            chunk_keys = np.frombuffer(b"".join(key for key, _ in chunk), dtype=np.uint8).reshape(
                -1, _KEY_BYTES
            )
            path = self._write_shard(chunk_keys, vectors)
            self._register(chunk_keys, vectors)
            logger.debug("embedding cache: wrote %d vectors to %s", len(chunk), path)
            if progress is not None:
                progress(len(chunk))

        rows = np.fromiter((self._rows[key] for key in keys), dtype=np.int64, count=len(keys))
        return self._gather(rows, self._dim or 0), len(pending)
