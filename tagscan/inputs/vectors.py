"""Precomputed input embeddings (``data.embeddings``): a .npy array in samples order, or a table of
``sample_id`` and a list column ``embedding``; checked to be finite, non-zero rows of one width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.config import Config
from tagscan.errors import DataError
from tagscan.inputs.tables import (
    check_file,
    describe_value,
    first_row,
    id_column,
    read_table,
    require_columns,
)

__all__ = ["load_vectors"]


def _table_vectors(path: Path, col: pd.Series) -> np.ndarray:
    """The 'embedding' list column as (rows x d) float32, in file order, every row checked."""
    csv_hint = (
        "; a CSV cell cannot hold a list: give the vectors as a .npy array, or a Parquet / JSON Lines table"
        if path.suffix.lower() == ".csv" else ""
    )
    rows = []
    with np.errstate(over="ignore", invalid="ignore"):
        for i, v in enumerate(col):
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
            if rows and len(a) != len(rows[0]):
                raise DataError(
                    f"{path}: row {i + 1}: 'embedding' has {len(a)} numbers but row 1 has {len(rows[0])}; "
                    "every embedding must have the same length"
                )
            rows.append(a)
    return np.stack(rows)


def _check_vectors(vec: np.ndarray, path: Path, source: np.ndarray | None = None) -> None:
    """Finite, non-zero rows of at least one dimension. ``source``: the array before the float32 cast."""
    if vec.shape[1] == 0:
        raise DataError(f"{path}: embeddings have 0 dimensions (shape {vec.shape}); give at least one number per sample")
    finite = np.isfinite(vec).all(axis=1)
    if not finite.all():
        r = first_row(~finite)
        if source is not None and np.isfinite(np.asarray(source[r - 1], dtype=np.float64)).all():
            raise DataError(
                f"{path}: embedding row {r} has values beyond the float32 range (about 3.4e38); rescale the vectors"
            )
        raise DataError(
            f"{path}: embedding row {r} has NaN or infinite values ({int((~finite).sum())} rows affected); "
            "fix or drop that sample"
        )
    norms = np.einsum("ij,ij->i", vec, vec, dtype=np.float64)
    zero = norms == 0
    if zero.any():
        raise DataError(
            f"{path}: embedding row {first_row(zero)} is all zeros ({int(zero.sum())} rows affected), so it has no direction "
            "to compare; fix or drop that sample"
        )


def load_vectors(cfg: Config, sample_ids: np.ndarray) -> np.ndarray | None:
    path = cfg.data.embeddings
    if path is None:
        return None
    n = len(sample_ids)
    if path.suffix.lower() == ".npy":
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
        with np.errstate(over="ignore"):
            vec = np.ascontiguousarray(arr, dtype=np.float32)
        _check_vectors(vec, path, source=arr)
        return vec
    df = read_table(path, "data.embeddings")
    require_columns(df, path, ("sample_id", "embedding"))
    ids = id_column(df, "sample_id", path)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        r = first_row(dup)
        first = int(np.flatnonzero(ids == ids[r - 1])[0]) + 1
        raise DataError(
            f"{path}: row {r}: sample_id '{ids[r - 1]}' has a second embedding (first at row {first}); "
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
    if len(ids) != n:
        extra = np.flatnonzero(~pd.Index(ids).isin(sample_ids))
        raise DataError(
            f"{path}: row {int(extra[0]) + 1}: sample_id '{ids[extra[0]]}' is not in samples "
            f"({len(extra)} such rows); give exactly one row per sample"
        )
    vec = _table_vectors(path, df["embedding"])
    _check_vectors(vec, path, source=None)  # rows in file order, so the row numbers are the file's
    return np.ascontiguousarray(vec[pos])


