"""Taggers' own output formats, read into the long table the rest of tagscan reads.

Two layouts of a predictions (or truth) table are accepted:

- **long**: one row per (sample, label): ``sample_id``, ``label`` and, for predictions, an optional ``score``;
- **lists**: one row per sample: ``sample_id``, a list column ``labels`` and, optionally, a list column
  ``scores`` of the same length (the JSON Lines and Parquet exports of most taggers). An empty list (or a
  null) is a sample with no label.

:func:`long_table` turns the lists layout into the long one, checking every cell, and keeps, for each long
row, the row of the file it came from, so that later errors name the row the user can find.
:func:`top_k_mask` is the ``scan.top_k`` cut: each sample's k highest-scored labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.errors import DataError
from tagscan.inputs.tables import describe_value, first_row, id_column, require_columns

__all__ = ["is_lists_layout", "long_table", "prediction_scores", "top_k_mask"]

_LISTS = (list, tuple, np.ndarray)


def is_lists_layout(df: pd.DataFrame) -> bool:
    """One row per sample with a ``labels`` list column (and no ``label`` column)."""
    return "labels" in df.columns and "label" not in df.columns


def _csv_hint(path: Path) -> str:
    if path.suffix.lower() == ".csv":
        return ("; a CSV cell cannot hold a list: save the table as JSON Lines or Parquet, or write one row per "
                "(sample_id, label) with a 'label' column")
    return ""


def _is_null(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _cells(df: pd.DataFrame, col: str, path: Path) -> tuple[list, np.ndarray]:
    """The list cells of ``col`` (a null is an empty list) and their lengths; anything else is an error."""
    cells, lens = [], np.zeros(len(df), dtype=np.int64)
    for i, v in enumerate(df[col].to_numpy(dtype=object)):
        if _is_null(v):
            v = ()
        elif not isinstance(v, _LISTS):
            example = '["cat", "dog"]' if col == "labels" else "[0.9, 0.7]"
            raise DataError(
                f"{path}: row {i + 1}: '{col}' holds {describe_value(v)}, not a list; give each sample its "
                f"{col} as a list, e.g. {example}" + _csv_hint(path)
            )
        cells.append(v)
        lens[i] = len(v)
    return cells, lens


def _flat(cells: list, lens: np.ndarray) -> np.ndarray:
    out = np.empty(int(lens.sum()), dtype=object)
    at = 0
    for v, n in zip(cells, lens):
        out[at : at + n] = list(v)
        at += n
    return out


def _where(path: Path, col: str, rows: np.ndarray, items: np.ndarray, k: int) -> str:
    return f"{path}: row {int(rows[k]) + 1}: '{col}' item {int(items[k]) + 1}"


def _label_ids(flat: np.ndarray, rows: np.ndarray, items: np.ndarray, path: Path) -> np.ndarray:
    """Each list item as a label id (str); an item that is not one id (null, blank, number with a fraction,
    a nested list, true/false) is an error."""

    def ok(v) -> bool:
        if isinstance(v, str):
            return bool(v.strip())
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    bad = np.fromiter((not ok(v) for v in flat), dtype=bool, count=len(flat))
    if bad.any():
        k = first_row(bad) - 1
        raise DataError(
            f"{_where(path, 'labels', rows, items, k)} is {describe_value(flat[k])}, not a label id; "
            "give each label as a non-empty string or an integer"
        )
    return np.array([str(v) for v in flat], dtype=object)


def _scores(df: pd.DataFrame, path: Path, lens: np.ndarray, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    cells, slens = _cells(df, "scores", path)
    uneven = slens != lens
    if uneven.any():
        r = first_row(uneven) - 1
        raise DataError(
            f"{path}: row {r + 1}: 'labels' has {int(lens[r])} items but 'scores' has {int(slens[r])} "
            f"({int(uneven.sum())} rows affected); give one score per label, in the same order"
        )
    flat = _flat(cells, slens)
    is_bool = np.fromiter((isinstance(v, (bool, np.bool_)) for v in flat), dtype=bool, count=len(flat))
    num = pd.to_numeric(pd.Series(flat, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = is_bool | ~np.isfinite(num) | (num < 0) | (num > 1)
    if bad.any():
        k = first_row(bad) - 1
        v = flat[k].item() if hasattr(flat[k], "item") else flat[k]
        raise DataError(
            f"{_where(path, 'scores', rows, items, k)} is {v!r}, not a number in [0, 1] "
            f"({int(bad.sum())} scores affected); scores must be probabilities in [0, 1]"
        )
    return num


def long_table(df: pd.DataFrame, path: Path, *, keep_empty: bool = False) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The table in the long layout, and the 0-based file row of each of its rows (None: already long).

    The lists layout becomes one row per (sample, label) with ``score`` from ``scores`` when given.
    ``keep_empty`` (the truth table): a sample whose list is empty keeps one row with a null label, read as
    "annotated, no positive label". Every problem is one :class:`DataError` naming the file, the row (and the
    list item) and the fix.
    """
    if "labels" not in df.columns:
        if "scores" in df.columns and "label" not in df.columns:
            raise DataError(f"{path}: has a 'scores' column but no 'labels' list; add the 'labels' list column")
        return df, None
    if "label" in df.columns:
        raise DataError(
            f"{path}: has both a 'label' and a 'labels' column; give one row per (sample_id, label) with 'label', "
            "or one row per sample with a 'labels' list, not both"
        )
    if "score" in df.columns:
        raise DataError(
            f"{path}: has a 'labels' list with a single 'score' column; give the scores as a 'scores' list, "
            "one per label in the same order"
        )
    require_columns(df, path, ("sample_id",))
    ids = id_column(df, "sample_id", path)
    cells, lens = _cells(df, "labels", path)
    src = np.repeat(np.arange(len(df), dtype=np.int64), lens)
    items = np.arange(len(src), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    if not keep_empty and lens.sum() == 0:
        raise DataError(f"{path}: every 'labels' list is empty (no prediction at all); check the export")
    labels = _label_ids(_flat(cells, lens), src, items, path)
    out = {"sample_id": ids[src], "label": labels}
    if "scores" in df.columns:
        out["score"] = _scores(df, path, lens, src, items)
    long = pd.DataFrame(out)
    if keep_empty and (lens == 0).any():
        empty = np.flatnonzero(lens == 0)
        long = pd.concat([long, pd.DataFrame({"sample_id": ids[empty], "label": None})], ignore_index=True)
        src = np.concatenate([src, empty])
    return long, src


def top_k_mask(rows: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Bool per prediction row: among its sample's (distinct) labels, one of the ``k`` highest-scored.

    Ties are broken by label id (ascending), so the cut does not depend on the order of the file; a label
    listed twice for one sample counts once, at its highest score.
    """
    df = pd.DataFrame({"r": rows, "s": -np.asarray(scores, dtype=np.float64), "l": np.asarray(labels, dtype=object)})
    order = df.sort_values(["r", "s", "l"], kind="stable")
    first = ~order.duplicated(["r", "l"]).to_numpy()
    rank = np.full(len(df), k, dtype=np.int64)
    kept = order[first]
    rank[kept.index.to_numpy()] = kept.groupby("r", sort=False).cumcount().to_numpy()
    return rank < k


def prediction_scores(pred: pd.DataFrame, ppath: Path) -> np.ndarray:
    """The ``score`` column as float64 (1.0 for every row without one); a score that is not a number in
    [0, 1] is a DataError naming its row."""
    if "score" not in pred.columns:
        return np.ones(len(pred), dtype=np.float64)
    raw_score = pred["score"]
    if pd.api.types.is_bool_dtype(raw_score.dtype):
        raw_score = raw_score.astype(object)
    score = pd.to_numeric(raw_score, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(score) | (score < 0) | (score > 1)
    if raw_score.dtype == object:  # JSON true/false is not a probability
        bad = bad | raw_score.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    if bad.any():
        r = first_row(bad)
        raw = pred["score"].iloc[r - 1]
        raw = raw.item() if hasattr(raw, "item") else raw  # 1.5, not np.float64(1.5)
        raise DataError(
            f"{ppath}: row {r}: score {raw!r} is not a number in [0, 1] ({int(bad.sum())} rows affected); "
            "scores must be probabilities in [0, 1]"
        )
    return score
