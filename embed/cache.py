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

In memory the cache holds only its keys: one sorted array of the digests of every shard (32 bytes an
item) and the row of each. The vectors stay in their shards on disk: ``np.savez`` stores its members
uncompressed, so each shard's vectors are memory-mapped where they lie in the file (a shard that cannot
be mapped, compressed by hand say, is read whole). :meth:`EmbeddingCache.embed` gathers the rows it is
asked for shard by shard; beyond ``budget_bytes`` it writes them a block of rows at a time into a ``.npy``
file and returns that memory-mapped, so 10 M inputs x 384 dimensions never sit in memory at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import tempfile
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagscan.errors import ConfigError, DataError, UsageError
from tagscan.fsutil import _CACHE_FIX, CACHE_ENV, tagscan_cache_dir
from tagscan.fsutil import fsync_dir as _fsync_dir

__all__ = ["CACHE_ENV", "GATHER_BUDGET_BYTES", "EmbeddingCache", "embedding_cache_root", "item_key", "safe_namespace", "tagscan_cache_dir"]

logger = logging.getLogger(__name__)

_KEY_BYTES = 32
_SHARD_GLOB = "shard-*.npz"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Vectors :meth:`EmbeddingCache.embed` returns in memory; more go to a memory-mapped file (``spill_to``).
GATHER_BUDGET_BYTES = 2 << 30
#: Output rows gathered at a time into a spilled file (100 MB of 384-wide float32 rows).
_GATHER_ROWS = 65_536
#: Shards kept memory-mapped at once while gathering (each mapping holds a file descriptor).
_OPEN_MAPS = 8
_F32 = np.dtype("<f4")


@dataclass(frozen=True)
class _Block:
    """Where the vectors of one shard are: ``n`` rows, memory-mapped from ``path`` at byte ``offset``, or
    held in ``array`` (a shard that cannot be mapped, or vectors registered before their file exists)."""

    path: Path
    n: int
    dim: int
    offset: int = -1
    array: np.ndarray | None = None


def _mapped_member(path: Path, name: str) -> tuple[int, tuple[int, ...], np.dtype, bool] | None:
    """``(byte offset, shape, dtype, fortran_order)`` of the array member ``name`` of the ``.npz`` at ``path``
    when it is stored uncompressed (what ``np.savez`` writes), so it can be memory-mapped; ``None`` otherwise."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"no local file header for {name}.npy")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if offset - start + int(np.prod(shape)) * dtype.itemsize > info.file_size:
        raise ValueError(f"{name}.npy is shorter than its header says")
    return offset, tuple(shape), dtype, bool(fortran)


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
        self._blocks: list[_Block] = []
        self._key_parts: list[np.ndarray] = []  # S32 digests of the blocks not merged into _sorted yet
        self._offsets = np.zeros(1, dtype=np.int64)  # first global row of each block, then the total
        self._sorted: np.ndarray = np.empty(0, dtype="S32")  # distinct digests, sorted
        self._sorted_rows: np.ndarray = np.empty(0, dtype=np.int64)  # the first global row of each
        self._indexed = 0  # blocks merged into _sorted
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()
        self._dim: int | None = None
        self._loaded = False

    def __repr__(self) -> str:
        return f"EmbeddingCache(directory='{self.directory}', items={len(self)}, dim={self._dim})"

    def __len__(self) -> int:
        """Number of distinct items cached."""
        return len(self._index()[0])

    def count_missing(self, items: Sequence[str]) -> int:
        """How many distinct items of ``items`` are not cached yet (what :meth:`embed` would compute)."""
        keys = _digests(items)
        return len(np.unique(keys[~self._lookup(keys)[1]]))

    def missing(self, items: Sequence[str]) -> list[str]:
        """The distinct items of ``items`` not cached yet, in their first order (what :meth:`embed` would compute)."""
        items = list(items)
        keys = _digests(items)
        return [str(items[position]) for position in _first_missing(keys, self._lookup(keys)[1])]

    def append(self, items: Sequence[str], vectors: np.ndarray) -> Path:
        """Write the vectors of ``items`` (row i for ``items[i]``) as one new shard, without reading the
        shards already there: what a worker of a cluster does with the batch it embedded.

        Raises:
            DataError: ``vectors`` has the wrong shape or values.
        """
        items = [str(item) for item in items]
        vectors = self._check_computed(vectors, len(items))
        keys = _digests(items)
        path = self._write_shard(keys, vectors)
        if self._loaded:
            self._register(path, keys, vectors)
        return path

    @property
    def dim(self) -> int | None:
        """Width of the cached vectors; ``None`` while the cache is empty."""
        self._load()
        return self._dim

    # -- reading ---------------------------------------------------------------------------------

    def _read_shard(self, path: Path) -> tuple[np.ndarray, _Block] | None:
        """The keys of one shard and where its vectors are (mapped, not read); ``None`` (logged) when unusable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = data["keys"]
                mapped = _mapped_member(path, "vectors")
                if mapped is None:
                    array = data["vectors"]
                    shape, dtype, fortran, offset = array.shape, array.dtype, False, -1
                else:
                    array = None
                    offset, shape, dtype, fortran = mapped
        except (OSError, ValueError, KeyError, EOFError, struct.error, zipfile.BadZipFile) as error:
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
        if dtype != _F32 or len(shape) != 2 or shape[0] != len(keys) or fortran:
            logger.warning(
                "ignoring embedding cache shard %s: vectors have shape %s, dtype %s for %d keys",
                path,
                shape,
                dtype,
                len(keys),
            )
            return None
        if self._dim is not None and shape[1] != self._dim:
            logger.warning(
                "ignoring embedding cache shard %s: vectors are %d wide, the cache holds %d-wide vectors",
                path,
                shape[1],
                self._dim,
            )
            return None
        if self._dim is None:
            self._dim = int(shape[1])
        return keys, _Block(path, int(shape[0]), int(shape[1]), offset, array)

    def _register(self, path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add a shard just written: mapped from its file when it can be (not held in memory)."""
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        block = None
        try:
            mapped = _mapped_member(path, "vectors")
        except (OSError, ValueError, KeyError, struct.error, zipfile.BadZipFile):
            mapped = None
        if mapped is not None:
            block = _Block(path, len(vectors), int(vectors.shape[1]), mapped[0])
        self._add(keys, block or _Block(path, len(vectors), int(vectors.shape[1]), array=vectors))

    def _add(self, keys: np.ndarray, block: _Block) -> None:
        if keys.dtype != np.dtype("S32"):  # the (n, 32) uint8 digests of a shard file
            keys = np.ascontiguousarray(keys, dtype=np.uint8).view("S32").reshape(-1)
        self._key_parts.append(keys)
        self._blocks.append(block)
        self._offsets = np.append(self._offsets, self._offsets[-1] + block.n)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(_SHARD_GLOB)):
            shard = self._read_shard(path)
            if shard is not None:
                self._add(*shard)
        logger.debug("embedding cache %s: %d shards", self.directory, len(self._blocks))

    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        """The sorted distinct digests and the first global row of each, merging blocks added since last time."""
        self._load()
        if self._indexed < len(self._blocks):
            keys = np.concatenate([self._sorted, *self._key_parts])
            rows = np.concatenate(
                [self._sorted_rows, np.arange(self._offsets[self._indexed], self._offsets[-1], dtype=np.int64)]
            )
            # Merged: from here on _sorted holds them (dropped first, so that one copy at a time is alive).
            self._key_parts, self._sorted, self._sorted_rows = [], np.empty(0, "S32"), np.empty(0, np.int64)
            # A stable sort keeps, among equal digests, the earlier one first: the indexed (older) row wins.
            order = np.argsort(keys, kind="stable")
            keys, rows = keys[order], rows[order]
            del order
            first = np.ones(len(keys), dtype=bool)
            first[1:] = keys[1:] != keys[:-1]
            self._sorted, self._sorted_rows = keys[first], rows[first]
            self._indexed = len(self._blocks)
        return self._sorted, self._sorted_rows

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(global rows, found)`` of the digests ``keys``; rows of keys not found are -1."""
        ordered, rows = self._index()
        if not len(ordered):
            return np.full(len(keys), -1, dtype=np.int64), np.zeros(len(keys), dtype=bool)
        where = np.minimum(np.searchsorted(ordered, keys), len(ordered) - 1)
        found = ordered[where] == keys
        return np.where(found, rows[where], -1), found

    def _vectors(self, block_id: int) -> np.ndarray:
        """The vectors of one block: its array, or a read-only memory map of its shard (a few kept open)."""
        block = self._blocks[block_id]
        if block.array is not None:
            return block.array
        mapped = self._maps.get(block_id)
        if mapped is None:
            mapped = np.memmap(block.path, dtype=_F32, mode="r", offset=block.offset, shape=(block.n, block.dim))
            self._maps[block_id] = mapped
            if len(self._maps) > _OPEN_MAPS:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(block_id)
        return mapped

    def _gather_into(self, rows: np.ndarray, out: np.ndarray) -> None:
        """``out[i] = row rows[i]`` of the virtual concatenation of every block, one block at a time."""
        which = np.searchsorted(self._offsets, rows, side="right") - 1
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(self._blocks) + 1))
        for block_id in np.flatnonzero(np.diff(bounds)):
            selected = order[bounds[block_id] : bounds[block_id + 1]]
            local = rows[selected] - self._offsets[block_id]
            try:
                out[selected] = self._vectors(int(block_id))[local]
            except OSError as error:  # the shard was removed or truncated since it was listed
                raise DataError(
                    f"embedding cache: cannot read {self._blocks[block_id].path} ({error}); it changed during "
                    "the run: rerun (an unreadable shard is ignored and its items embedded again)"
                ) from error

    def _gather(self, rows: np.ndarray, dim: int, spill_to: Path | None) -> np.ndarray:
        """The rows as a float32 ``(len(rows), dim)`` array, or, with ``spill_to``, written there as a
        ``.npy`` a block of rows at a time and returned memory-mapped read-only."""
        if spill_to is None:
            out = np.empty((len(rows), dim), dtype=np.float32)
            self._gather_into(rows, out)
            self._maps.clear()
            return out
        spill_to = Path(spill_to)
        try:
            spill_to.parent.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(
                dir=spill_to.parent, prefix=f".{spill_to.name}.", suffix=".tmp", delete=False
            )
        except OSError as error:
            raise _spill_error(spill_to, len(rows), dim, error) from error
        try:
            with handle:
                header = {"descr": np.lib.format.dtype_to_descr(_F32), "fortran_order": False, "shape": (len(rows), dim)}
                np.lib.format.write_array_header_2_0(handle, header)
                buffer = np.empty((min(_GATHER_ROWS, len(rows)), dim), dtype=np.float32)
                for start in range(0, len(rows), _GATHER_ROWS):
                    part = buffer[: min(_GATHER_ROWS, len(rows) - start)]
                    self._gather_into(rows[start : start + _GATHER_ROWS], part)
                    handle.write(part.tobytes())
            os.replace(handle.name, spill_to)
        except OSError as error:  # a full or read-only disk under the workspace
            Path(handle.name).unlink(missing_ok=True)
            raise _spill_error(spill_to, len(rows), dim, error) from error
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        finally:
            self._maps.clear()
        return np.load(spill_to, mmap_mode="r")

    # -- writing ---------------------------------------------------------------------------------

    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> Path:
        """Write one shard atomically. A full or read-only disk is a ConfigError naming the folder and the fix
        (every shard written before stays; a rerun embeds only the rest)."""
        keys = np.ascontiguousarray(keys).view(np.uint8).reshape(-1, _KEY_BYTES)
        final = self.directory / f"shard-{uuid.uuid4().hex}.npz"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(
                dir=self.directory, prefix=".shard-", suffix=".tmp", delete=False
            )
        except OSError as error:
            raise self._write_error(len(keys), vectors, error) from error
        try:
            with handle:
                np.savez(handle, keys=keys, vectors=vectors)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, final)
        except OSError as error:
            Path(handle.name).unlink(missing_ok=True)
            raise self._write_error(len(keys), vectors, error) from error
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        _fsync_dir(self.directory)
        return final

    def _write_error(self, n: int, vectors: np.ndarray, error: OSError) -> ConfigError:
        return ConfigError(
            f"embedding cache: cannot write {n:,} vectors ({vectors.nbytes / 1e6:.1f} MB) to {self.directory} "
            f"({error.strerror or error}); free space there, or {_CACHE_FIX}"
        )

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
        spill_to: Path | None = None,
        budget_bytes: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """Return the vectors of ``items`` (in their order), computing only those not cached yet.

        Args:
            items: strings to embed (texts, or image paths/URLs); duplicates are computed once.
            compute: maps a list of at most ``shard_size`` distinct items to an ``(len, dim)`` array,
                for example ``embedder.embed_texts``.
            shard_size: computed items per shard; each shard is on disk before the next is computed.
            progress: called with the number of items just computed after each shard is written.
            spill_to: when the vectors take more than ``budget_bytes``, they are written to this ``.npy``
                (replaced atomically) and returned memory-mapped read-only; ``None``: always in memory.
            budget_bytes: see ``spill_to``; ``None``: :data:`GATHER_BUDGET_BYTES` (2 GiB).

        Returns:
            ``(vectors, computed)``: a float32 C-contiguous ``(len(items), dim)`` array (or memory map)
            and how many distinct items were computed by this call.

        Raises:
            DataError: an item is not a string, or ``compute`` returned the wrong shape, width or values.
        """
        if not isinstance(shard_size, int) or shard_size < 1:
            raise DataError(f"shard_size: must be a positive integer, got {shard_size!r}; use e.g. 4096")
        self._load()
        items = list(items)  # positional access even for pandas Series and other sequences
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise DataError(
                    f"items[{position}]: the embedding cache keys strings, got {type(item).__name__} "
                    f"({item!r:.60}); convert the column to text first"
                )
        keys = _digests(items)
        if not len(keys):
            if self._dim is None:
                return self._check_computed(compute([]), 0), 0
            return np.empty((0, self._dim), dtype=np.float32), 0

        rows, found = self._lookup(keys)
        pending = _first_missing(keys, found)  # positions of the distinct missing items, in input order
        for start in range(0, len(pending), shard_size):
            chunk = pending[start : start + shard_size]
            vectors = self._check_computed(compute([items[position] for position in chunk]), len(chunk))
            chunk_keys = keys[chunk]
            path = self._write_shard(chunk_keys, vectors)
            self._register(path, chunk_keys, vectors)
            del vectors
            logger.debug("embedding cache: wrote %d vectors to %s", len(chunk), path)
            if progress is not None:
                progress(len(chunk))
        if len(pending):
            rows, found = self._lookup(keys)
        if not found.all():  # pragma: no cover - every missing key was just registered
            raise RuntimeError(f"embedding cache {self.directory}: {int((~found).sum())} keys vanished from the index")
        dim = self._dim or 0
        budget = GATHER_BUDGET_BYTES if budget_bytes is None else budget_bytes
        spill = spill_to if spill_to is not None and len(keys) * dim * 4 > budget else None
        return self._gather(rows, dim, spill), len(pending)


def _spill_error(path: Path, n: int, dim: int, error: OSError) -> UsageError:
    return UsageError(
        f"{path}: cannot write the {n:,} input vectors of this scan ({error.strerror or error}); they need "
        f"{n * dim * 4 / 1e9:.2f} GB there: free space, or point 'workspace' in the config at a larger disk"
    )


def _digests(items: Sequence[object]) -> np.ndarray:
    """The cache keys of ``items`` (:func:`item_key` of each one's ``str``) as an ``S32`` array."""
    joined = b"".join(hashlib.sha256(str(item).encode("utf-8", "surrogatepass")).digest() for item in items)
    return np.frombuffer(joined, dtype="S32") if joined else np.empty(0, dtype="S32")


def _first_missing(keys: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct key not ``found``, in input order."""
    absent = np.flatnonzero(~found)
    if not len(absent):
        return absent
    _, first = np.unique(keys[absent], return_index=True)
    return absent[np.sort(first)]
