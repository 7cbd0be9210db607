"""Precomputed input embeddings (``data.embeddings``): a .npy array in samples order, or a table of
``sample_id`` and a list column ``embedding`` (a Parquet file, a folder of Parquet files, CSV or JSON
Lines); checked to be finite, non-zero rows of one width.

Out of core: a float32 .npy is memory-mapped and returned as it is (checked a block of rows at a time).
A Parquet table (or folder), and a .npy of another dtype or order, is read in record batches and written
once, in samples order, into a float32 .npy under tagscan's cache folder (``<cache>/embeddings/precomputed``,
keyed by the source files' paths, sizes and modification times and by the samples' order, so a rescan maps
it again without reading the source), which is returned memory-mapped read-only. Only CSV and JSON Lines
tables (small by nature: a CSV cell cannot even hold a list) are read whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.config import Config
from tagscan.errors import ConfigError, DataError
from tagscan.fsutil import release_pages, tagscan_cache_dir
from tagscan.inputs.tables import (
    check_file,
    describe_value,
    first_row,
    id_column,
    read_table,
    require_columns,
)

__all__ = ["load_vectors"]

log = logging.getLogger(__name__)

#: Rows checked, converted or written at a time.
_BLOCK_ROWS = 65_536
#: Bumped when the converted file's layout changes, so older conversions are not reused.
_FORMAT = "v1"
_PARQUET_SUFFIXES = (".parquet", ".pq")
#: Parquet rows decoded at a time (16,384 x 384 float32 is 24 MiB).
_BATCH_ROWS = 16_384


def _table_vectors(
    path: Path, col: pd.Series, *, offset: int = 0, width: int | None = None, first: str = "row 1"
) -> np.ndarray:
    """The 'embedding' list column as (rows x d) float32, in file order, every row checked.

    ``offset``: file rows before ``col`` (error rows count from the file's first row); ``width``: the
    length of the first row (``first`` says where it is) when it was read already.
    """
    csv_hint = (
        "; a CSV cell cannot hold a list: give the vectors as a .npy array, or a Parquet / JSON Lines table"
        if path.suffix.lower() == ".csv" else ""
    )
    rows = []
    with np.errstate(over="ignore", invalid="ignore"):
        for i, v in enumerate(col, start=offset):
            if not isinstance(v, (list, tuple, np.ndarray)) or len(v) == 0:
                raise DataError(
                    f"{path}: row {i + 1}: 'embedding' must be a non-empty list of numbers, found {describe_value(v)}"
                    + (csv_hint or "; fix the row")
                )
            try:
                a = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError):
                bad = next((x for x in v if not isinstance(x, (int, float, np.number)) or isinstance(x, bool)), v)
                raise DataError(
                    f"{path}: row {i + 1}: 'embedding' holds {describe_value(bad)}, not a number; "
                    "every value of an embedding must be a number"
                ) from None
            if a.ndim != 1:
                raise DataError(f"{path}: row {i + 1}: 'embedding' is a list of lists; give one flat list of numbers per row")
            if width is None:
                width = len(a)
            if len(a) != width:
                raise DataError(
                    f"{path}: row {i + 1}: 'embedding' has {len(a)} numbers but {first} has {width}; "
                    "every embedding must have the same length"
                )
            rows.append(a)
    return np.stack(rows) if rows else np.empty((0, width or 0), dtype=np.float32)


class _RowCheck:
    """Finite, non-zero rows, checked a block at a time in file order; :meth:`raise_first` reports the first
    problem as one check of the whole array would (non-finite rows before all-zero rows, with their counts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bad: tuple[int, bool] | None = None  # (1-based row, beyond float32 only) of the first non-finite row
        self.n_bad = 0
        self.zero: int | None = None
        self.n_zero = 0

    def add(self, block: np.ndarray, start: int, source: np.ndarray | None = None) -> None:
        """``block``: float32 rows ``start`` (0-based) on; ``source``: the same rows before the float32 cast."""
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            self.n_bad += int((~finite).sum())
            if self.bad is None:
                r = first_row(~finite)
                overflow = source is not None and bool(np.isfinite(np.asarray(source[r - 1], dtype=np.float64)).all())
                self.bad = (start + r, overflow)
        norms = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        zero = norms == 0
        if zero.any():
            self.n_zero += int(zero.sum())
            if self.zero is None:
                self.zero = start + first_row(zero)

    def raise_first(self) -> None:
        path = self.path
        if self.bad is not None:
            r, overflow = self.bad
            if overflow:
                raise DataError(
                    f"{path}: embedding row {r} has values beyond the float32 range (about 3.4e38); rescale the vectors"
                )
            raise DataError(
                f"{path}: embedding row {r} has NaN or infinite values ({self.n_bad} rows affected); fix or drop that sample"
            )
        if self.zero is not None:
            raise DataError(
                f"{path}: embedding row {self.zero} is all zeros ({self.n_zero} rows affected), so it has no direction "
                "to compare; fix or drop that sample"
            )


def _check_dims(d: int, shape: tuple, path: Path) -> None:
    if d == 0:
        raise DataError(f"{path}: embeddings have 0 dimensions (shape {shape}); give at least one number per sample")


def _check_vectors(vec: np.ndarray, path: Path, source: np.ndarray | None = None) -> None:
    """Finite, non-zero rows of at least one dimension, a block of rows at a time. ``source``: the array
    before the float32 cast."""
    _check_dims(vec.shape[1], vec.shape, path)
    check = _RowCheck(path)
    for start in range(0, len(vec), _BLOCK_ROWS):
        check.add(vec[start : start + _BLOCK_ROWS], start, None if source is None else source[start : start + _BLOCK_ROWS])
    check.raise_first()


class _Converted:
    """A float32 ``(n, d)`` .npy written once under the cache folder (or, when that cannot be written, into an
    unlinked temporary file), published by :meth:`finish` and then mapped read-only."""

    def __init__(self, folder: Path | None, key: str, shape: tuple[int, int]) -> None:
        self.final = None if folder is None else folder / f"{key}.npy"
        try:
            if folder is None:
                raise OSError("no cache folder")
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        except OSError as error:
            log.warning("cannot write converted embeddings under %s (%s); using a temporary file", folder, error)
            self.final = None
            fd, tmp = tempfile.mkstemp(prefix="tagscan-embeddings-", suffix=".npy")
        os.close(fd)
        self.tmp = Path(tmp)
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=shape)

    def abandon(self) -> None:
        del self.array
        self.tmp.unlink(missing_ok=True)

    def finish(self) -> np.memmap:
        self.array.flush()
        del self.array
        if self.final is None:  # a private file: mapped, then unlinked (freed when the mapping is)
            out = np.load(self.tmp, mmap_mode="r")
            self.tmp.unlink(missing_ok=True)
            return out
        os.replace(self.tmp, self.final)
        return np.load(self.final, mmap_mode="r")


def _cache_folder(cfg: Config) -> Path | None:
    try:
        return tagscan_cache_dir(cfg.embed.cache_dir) / "embeddings" / "precomputed"
    except ConfigError:
        return None


def _cache_key(files: list[Path], sample_ids: np.ndarray, what: str) -> str:
    """What a conversion depends on: the files (path, size, modification time), the samples' order, ``what``."""
    h = hashlib.sha256(f"{_FORMAT}/{what}".encode())
    for f in files:
        st = f.stat()
        h.update(f"\0{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogatepass"))
    h.update(b"\1")
    for i in range(0, len(sample_ids), _BLOCK_ROWS):
        h.update("\0".join(map(str, sample_ids[i : i + _BLOCK_ROWS])).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:32]


def _reuse(folder: Path | None, key: str, shape: tuple[int, int] | None) -> np.memmap | None:
    """A conversion written before for the same key, mapped read-only; None when there is none (or it is broken)."""
    path = None if folder is None else folder / f"{key}.npy"
    if path is None or not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable converted embeddings %s (%s)", path, error)
        return None
    if arr.dtype != np.float32 or arr.ndim != 2 or (shape is not None and arr.shape != shape):
        return None
    log.info("precomputed embeddings: reusing the float32 copy %s", path)
    return arr


def _load_npy(cfg: Config, path: Path, n: int) -> np.ndarray:
    check_file(path, "data.embeddings")
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        raise DataError(f"{path}: is not a .npy file (no NumPy header); save the array with numpy.save")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        detail = "it holds Python objects" if "pickle" in str(exc) or "objects" in str(exc) else " ".join(str(exc).split())
        raise DataError(f"{path}: cannot be read as a .npy array ({detail}); save a float32 array with numpy.save") from exc
    if arr.dtype.fields is not None or arr.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: embeddings must be real numbers, found dtype {arr.dtype}; save a float32 array (x.astype('float32'))"
        )
    if arr.ndim != 2:
        raise DataError(f"{path}: embeddings must be a 2-D array (samples x dims), found shape {arr.shape}; reshape it")
    if arr.shape[0] != n:
        raise DataError(
            f"{path}: has {arr.shape[0]} embedding rows but samples has {n}; "
            "give one row per sample, in the order of the samples table"
        )
    _check_dims(arr.shape[1], arr.shape, path)
    if arr.dtype == np.float32 and arr.dtype.isnative and arr.flags.c_contiguous:
        _check_vectors(arr, path)
        return arr  # the file itself, memory-mapped read-only
    folder = _cache_folder(cfg)
    key = _cache_key([path], np.array([], dtype=object), f"npy/{arr.dtype.str}/{arr.shape}")
    if (done := _reuse(folder, key, arr.shape)) is not None:
        return done
    out = _Converted(folder, key, arr.shape)
    try:
        check = _RowCheck(path)
        with np.errstate(over="ignore"):
            for start in range(0, n, _BLOCK_ROWS):
                src = arr[start : start + _BLOCK_ROWS]
                block = np.ascontiguousarray(src, dtype=np.float32)
                check.add(block, start, src)
                out.array[start : start + len(block)] = block
                release_pages(out.array)
                release_pages(arr)
        check.raise_first()
    except BaseException:
        out.abandon()
        raise
    log.info("precomputed embeddings %s: %s %s written as float32 once", path, arr.dtype, arr.shape)
    return out.finish()


def load_vectors(cfg: Config, sample_ids: np.ndarray) -> np.ndarray | None:
    """The precomputed input vectors, float32 ``(n, d)`` in samples order (``None`` without ``data.embeddings``).

    A .npy or a Parquet table (or folder of Parquet files) comes back as a read-only memory map (see the
    module's docstring); a CSV or JSON Lines table as an array in memory.

    Raises:
        DataError: naming the file, the row and the fix: not one finite, non-zero row per sample, of one width.
    """
    path = cfg.data.embeddings
    if path is None:
        return None
    n = len(sample_ids)
    if path.suffix.lower() == ".npy" and not path.is_dir():
        return _load_npy(cfg, path, n)
    if path.is_dir() or path.suffix.lower() in _PARQUET_SUFFIXES:
        return _load_parquet(cfg, path, sample_ids)
    df = read_table(path, "data.embeddings")
    require_columns(df, path, ("sample_id", "embedding"))
    ids = id_column(df, "sample_id", path)
    pos = _positions([(path, ids)], sample_ids, path)
    vec = _table_vectors(path, df["embedding"])
    _check_vectors(vec, path, source=None)  # rows in file order, so the row numbers are the file's
    return np.ascontiguousarray(vec[pos])


def _positions(parts: list[tuple[Path, np.ndarray]], sample_ids: np.ndarray, path: Path) -> np.ndarray:
    """For each sample, its row among the concatenated ``parts`` (``(file, ids)`` in order); each id once, every
    sample present and nothing else."""
    ids = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    starts = np.cumsum([0] + [len(p[1]) for p in parts])

    def where(row: int) -> tuple[Path, int]:  # 0-based global row -> (file, 1-based row in it)
        i = int(np.searchsorted(starts, row, side="right")) - 1
        return parts[i][0], row - int(starts[i]) + 1

    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        f, r = where(int(np.flatnonzero(dup)[0]))
        first_f, first = where(int(np.flatnonzero(ids == ids[np.flatnonzero(dup)[0]])[0]))
        at = f"row {first}" if first_f == f else f"{first_f} row {first}"
        raise DataError(
            f"{f}: row {r}: sample_id '{ids[np.flatnonzero(dup)[0]]}' has a second embedding (first at {at}); "
            "give one row per sample"
        )
    pos = pd.Index(ids).get_indexer(sample_ids)
    missing = pos < 0
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{path}: no embedding for sample_id '{sample_ids[i]}' ({int(missing.sum())} samples missing); "
            "give one row per sample"
        )
    if len(ids) != len(sample_ids):
        extra = np.flatnonzero(~pd.Index(ids).isin(sample_ids))
        f, r = where(int(extra[0]))
        raise DataError(
            f"{f}: row {r}: sample_id '{ids[extra[0]]}' is not in samples "
            f"({len(extra)} such rows); give exactly one row per sample"
        )
    return pos


def _parquet_files(path: Path) -> list[Path]:
    """The Parquet file, or a folder's Parquet files in name order (hidden ``.``/``_`` files and folders skipped)."""
    if not path.is_dir():
        check_file(path, "data.embeddings")
        return [path]
    files = sorted(
        f for f in path.rglob("*")
        if f.suffix.lower() in _PARQUET_SUFFIXES and f.is_file()
        and not any(part.startswith((".", "_")) for part in f.relative_to(path).parts)
    )
    if not files:
        raise DataError(
            f"{path}: the folder holds no .parquet files (config key data.embeddings); point data.embeddings at a "
            ".npy file, a table, or a folder of .parquet files"
        )
    return files


def _open_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        detail = " ".join(str(exc).split())
        raise DataError(f"{path}: cannot be read as parquet ({type(exc).__name__}: {detail}); check the file") from exc


def _batch_vectors(path: Path, col, offset: int, width: int | None, first: str) -> np.ndarray:
    """One record batch's 'embedding' column as float32 rows: straight from Arrow's flat values when it is a
    list column of numbers without nulls and of one width, else row by row with the table reader's errors."""
    import pyarrow as pa
    import pyarrow.types as pt

    t = col.type
    if (pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t)) and col.null_count == 0 and len(col):
        vt = t.value_type
        values = col.flatten()
        if (pt.is_floating(vt) or pt.is_integer(vt)) and values.null_count == 0:
            if pt.is_fixed_size_list(t):
                lengths = np.full(len(col), t.list_size)
            else:
                lengths = np.diff(np.asarray(col.offsets))
            w = int(lengths[0]) if width is None else width
            if w > 0 and (lengths == w).all():
                with np.errstate(over="ignore"):
                    return values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, w)
    cells = pa.Table.from_arrays([col], names=["embedding"]).to_pandas()["embedding"]
    return _table_vectors(path, cells, offset=offset, width=width, first=first)


def _load_parquet(cfg: Config, path: Path, sample_ids: np.ndarray) -> np.ndarray:
    """A Parquet file or folder of ``sample_id`` and ``embedding``, read in record batches into a float32
    .npy in samples order (written once under the cache folder), mapped read-only."""
    files = _parquet_files(path)
    n = len(sample_ids)
    folder = _cache_folder(cfg)
    key = _cache_key(files, sample_ids, "parquet")
    done = _reuse(folder, key, None)
    if done is not None and len(done) == n:
        return done
    readers = [(f, _open_parquet(f)) for f in files]
    if sum(r.metadata.num_rows for _, r in readers) == 0:
        raise DataError(f"{path}: the table is empty (0 rows) (config key data.embeddings); give it at least one row")
    parts = []
    for f, reader in readers:
        require_columns(pd.DataFrame(columns=[str(c) for c in reader.schema_arrow.names]), f, ("sample_id", "embedding"))
        ids = reader.read(columns=["sample_id"]).to_pandas()
        parts.append((f, id_column(ids, "sample_id", f) if len(ids) else np.empty(0, dtype=object)))
    target = np.empty(n, dtype=np.int64)  # file row (over every file, in order) -> sample position
    target[_positions(parts, sample_ids, path)] = np.arange(n)
    out: _Converted | None = None
    width, first, done_rows = None, "row 1", 0
    try:
        for f, reader in readers:
            check, row = _RowCheck(f), 0
            for batch in reader.iter_batches(batch_size=_BATCH_ROWS, columns=["embedding"]):
                block = _batch_vectors(f, batch.column(0), row, width, first)
                if out is None:
                    width, first = block.shape[1], "row 1" if len(readers) == 1 else f"row 1 of {f}"
                    out = _Converted(folder, key, (n, width))
                check.add(block, row)
                out.array[target[done_rows + row : done_rows + row + len(block)]] = block
                release_pages(out.array)
                row += len(block)
            check.raise_first()
            done_rows += row
    except BaseException:
        if out is not None:
            out.abandon()
        raise
    if out is None:  # every file has a schema but no batch had rows
        raise DataError(f"{path}: the table is empty (0 rows) (config key data.embeddings); give it at least one row")
    log.info("precomputed embeddings %s: %d x %d written as float32 once", path, n, width)
    return out.finish()
