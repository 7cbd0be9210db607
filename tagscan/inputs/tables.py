"""Reading one input table (Parquet, CSV or JSON Lines, by extension) and its columns, with one clear error
line per problem: the file, the row (1-based, counting data rows, header excluded) or column, and the fix."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.errors import DataError

__all__ = [
    "attribute_column",
    "check_file",
    "describe_value",
    "file_sha256",
    "first_row",
    "id_column",
    "non_scalar",
    "read_table",
    "require_columns",
]

_TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

#: pandas' default missing-value spellings, kept for every CSV column but the ids.
_CSV_NA = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
           "NA", "NULL", "NaN", "None", "n/a", "nan", "null")  # fmt: skip
#: Id columns are read from CSV as text: "007" stays "007" (not 7) and "1e5" stays "1e5" (not 100000).
_ID_COLUMNS = ("sample_id", "label")

_NON_SCALAR = (list, tuple, dict, set, np.ndarray)
_SCALAR_KINDS = ("string", "integer", "floating", "mixed-integer-float", "boolean", "empty", "decimal")


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, key: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found (config key {key}); fix the path, which is relative to the config file")
    if not path.is_file():
        kinds = ".npy file or a .parquet, .csv or .jsonl table" if key == "data.embeddings" else ".parquet, .csv or .jsonl file"
        raise DataError(f"{path}: is a directory, not a file (config key {key}); point {key} at a {kinds}")


def _sniff(path: Path) -> str | None:
    """What the first bytes say the file really is, when that differs from its extension."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    if head.startswith(b"PAR1"):
        return "a Parquet file; rename it to .parquet"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file; give it as data.embeddings with a .npy name"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text; save it as UTF-8"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an Excel workbook?); export it as CSV or Parquet"
    return None


def _first_undecodable_line(path: Path) -> tuple[int, int, int]:
    """(line, column, byte) of the first byte that is not UTF-8, all 1-based but the byte."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return lineno, exc.start + 1, raw[exc.start]
    return 0, 0, 0


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        for row in csv.reader(fh):
            if row:
                return row
    return []


def _check_csv_header(path: Path) -> list[str]:
    """The header's column names; a name that appears twice is an error."""
    seen: dict[str, int] = {}
    header = _csv_header(path)
    for i, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"{path}: column '{name}' appears twice in the header (columns {seen[name]} and {i}); "
                "rename or drop one of them"
            )
        seen[name] = i
    return [h.lstrip("\ufeff") for h in header]


def _read_jsonl(path: Path) -> pd.DataFrame:
    """JSON Lines: one object per line. A bad line is reported by its number, not a byte position."""
    with open(path, "rb") as fh:
        first = fh.read(4096)
    if first.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (Windows tools): pandas' parser refuses it
        return pd.DataFrame.from_records(_raise_bad_jsonl_line(path))
    if first.lstrip()[:1] not in (b"{", b""):
        _raise_bad_jsonl_line(path)
    try:
        return pd.read_json(path, lines=True, dtype=False)
    except UnicodeDecodeError:
        raise
    except (ValueError, TypeError) as exc:
        records = _raise_bad_jsonl_line(path)
        if records is None:
            raise DataError(f"{path}: cannot be read as jsonl ({type(exc).__name__}: {' '.join(str(exc).split())}); check the file") from exc
        # Every line is a valid object that pandas' parser refused (an integer beyond 64 bits, say).
        return pd.DataFrame.from_records(records)


def _raise_bad_jsonl_line(path: Path) -> list[dict] | None:
    """Raise naming the first line that is not a JSON object; return the records when every line is one."""
    records = []
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}: line {lineno}: not valid JSON ({exc.msg}, column {exc.colno}); "
                    "fix the line: JSON Lines holds one {...} object per line"
                ) from None
            if not isinstance(obj, dict):
                kind = "an array (a whole JSON document?)" if isinstance(obj, list) else f"a JSON {type(obj).__name__}"
                raise DataError(
                    f"{path}: line {lineno}: is {kind}, not an object; JSON Lines holds one {{...}} object per line"
                )
            records.append(obj)
    return records


def read_table(path: Path, key: str) -> pd.DataFrame:
    """Read a Parquet, CSV or JSON Lines table chosen by extension, with clear errors."""
    check_file(path, key)
    kind = _TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        use = ".npy (an array) or .parquet, .csv or .jsonl (a table)" if key == "data.embeddings" else ".parquet, .csv or .jsonl"
        raise DataError(f"{path}: unsupported table format '{path.suffix}' (config key {key}); use {use}")
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        elif kind == "csv":
            header = _check_csv_header(path)
            dtype = dict.fromkeys(_ID_COLUMNS, str)
            # Ids are exactly as written: a label or sample called "NA" or "None" is that id (only an empty
            # cell is missing). Every other column keeps the usual missing-value spellings (R writes NA).
            na = {c: [""] if c in _ID_COLUMNS else list(_CSV_NA) for c in header}
            df = pd.read_csv(path, keep_default_na=False, na_values=na, low_memory=False, dtype=dtype)
        else:
            df = _read_jsonl(path)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        what = _sniff(path)
        if what:
            raise DataError(f"{path}: is {what} (config key {key})") from exc
        line, col, byte = _first_undecodable_line(path)
        raise DataError(
            f"{path}: line {line}, column {col}: byte 0x{byte:02x} is not UTF-8 (config key {key}); "
            "save the file as UTF-8 (Excel: CSV UTF-8; pandas: encoding='utf-8')"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        what = _sniff(path)
        if what and kind != "parquet":
            raise DataError(f"{path}: is {what} (config key {key})") from exc
        detail = " ".join(str(exc).split())  # parser messages can span lines; the error is one line
        raise DataError(f"{path}: cannot be read as {kind} ({type(exc).__name__}: {detail}); check the file") from exc
    if len(df) == 0:
        raise DataError(f"{path}: the table is empty (0 rows) (config key {key}); give it at least one row")
    df.columns = [str(c) for c in df.columns]
    return df


def require_columns(df: pd.DataFrame, path: Path, required: tuple[str, ...]) -> None:
    for col in required:
        if col not in df.columns:
            found = ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")
            near = [c for c in df.columns if str(c).strip().lower() == col]
            if near:
                fix = f"rename column '{near[0]}' to '{col}' (names are exact: no spaces, lower case)"
            elif len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in ";\t|"):
                fix = "the file is not comma-separated: save it with ',' between columns"
            else:
                fix = f"add a '{col}' column"
            raise DataError(f"{path}: missing required column '{col}' (found: {found}); {fix}")


def first_row(mask: np.ndarray) -> int:
    """1-based data row of the first True in mask."""
    return int(np.flatnonzero(mask)[0]) + 1


def non_scalar(s: pd.Series) -> np.ndarray:
    """Cells holding a list, dict or array (Parquet list/struct columns, JSON arrays and objects)."""
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) in _SCALAR_KINDS:
        return np.zeros(len(s), dtype=bool)
    return s.map(lambda v: isinstance(v, _NON_SCALAR)).to_numpy(dtype=bool)


def id_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """A column of ids as an object array of str; nulls, blanks and lists are an error."""
    s = df[col]
    nested = non_scalar(s)
    if nested.any():
        r = first_row(nested)
        raise DataError(
            f"{path}: row {r}: '{col}' holds a {type(s.iloc[r - 1]).__name__.replace('ndarray', 'list')}, not one id; "
            f"give each row a single {col} (a string or an integer)"
        )
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "string":
        s = s.astype("str")  # the vectorised checks below
    null = s.isna().to_numpy()
    if s.dtype == object:
        null = null | s.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    elif pd.api.types.is_string_dtype(s.dtype):
        null = null | (s.str.strip() == "").fillna(False).to_numpy(dtype=bool)
    if null.any():
        raise DataError(f"{path}: row {first_row(null)}: '{col}' is empty; every row needs a {col}")
    if pd.api.types.is_float_dtype(s.dtype):
        as_int = s.astype("int64")
        if (as_int == s).all():
            s = as_int
    return s.astype(str).to_numpy(dtype=object)


def attribute_column(s: pd.Series) -> pd.Series:
    """Attribute values as strings; nulls (not applicable) stay null."""
    out = s.astype(object).where(s.notna(), None)
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.dropna()
        if len(vals) and (vals == vals.round()).all():
            out = s.astype("Int64").astype(object).where(s.notna(), None)
    return out.map(lambda v: None if v is None else str(v)).astype(object)


def describe_value(v) -> str:
    if isinstance(v, str):
        return f"text {v[:30]!r}"
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "an empty cell"
    return f"a {type(v).__name__} ({str(v)[:30]})"


