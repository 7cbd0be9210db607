"""Load and validate the input tables once, into one immutable :class:`AuditSet`.

Every input error is raised here, as a :class:`~tagscan.errors.DataError` whose message names the
file, the row (1-based, counting data rows, header excluded) or column, the rule, and the fix.
Everything downstream trusts the AuditSet.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.config import Config
from tagscan.errors import ConfigError, DataError

__all__ = ["AuditSet", "RESERVED_COLUMNS", "file_sha256", "load_audit_set", "read_sample_table", "read_table"]

log = logging.getLogger(__name__)

#: Sample columns that are never group attributes.
RESERVED_COLUMNS = ("sample_id", "text", "image")

_TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

#: pandas' default missing-value spellings, kept for every CSV column but the ids.
_CSV_NA = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
           "NA", "NULL", "NaN", "None", "n/a", "nan", "null")  # fmt: skip
#: Id columns are read from CSV as text: "007" stays "007" (not 7) and "1e5" stays "1e5" (not 100000).
_ID_COLUMNS = ("sample_id", "label")

_NON_SCALAR = (list, tuple, dict, set, np.ndarray)
_SCALAR_KINDS = ("string", "integer", "floating", "mixed-integer-float", "boolean", "empty", "decimal")


@dataclass(frozen=True, eq=False)
class AuditSet:
    """The validated inputs of one scan.

    - ``samples``: one row per sample in input order (RangeIndex), with ``sample_id`` (str) and the
      optional ``text`` / ``image`` columns and every attribute column (str, null = not applicable).
    - ``labels`` / ``label_names``: the label index (columns of ``Y``).
    - ``Y``: CSR (n_samples x n_labels) int8 one-hot matrix of positive predictions (score >= threshold).
    - ``scores``: CSR float32 of the scores of those positives (1.0 where no score was given).
    - ``truth``: optional CSR int8 (n_samples x n_labels) of ground-truth positives.
    - ``vectors``: optional precomputed input embeddings (n_samples x d float32).
    - ``input_hashes``: sha256 of every input file, keyed by its config key.
    """

    samples: pd.DataFrame
    attributes: tuple[str, ...]
    labels: np.ndarray
    label_names: np.ndarray
    Y: sp.csr_matrix
    scores: sp.csr_matrix
    truth: sp.csr_matrix | None = None
    vectors: np.ndarray | None = None
    input_hashes: dict[str, str] = field(default_factory=dict)
    n_prediction_rows: int = 0

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def sample_ids(self) -> np.ndarray:
        return self.samples["sample_id"].to_numpy(dtype=object)

    def subset(self, rows: np.ndarray) -> AuditSet:
        """The same audit set restricted to ``rows`` (e.g. the samples whose image could be read)."""
        rows = np.asarray(rows, dtype=np.int64)
        return AuditSet(
            samples=self.samples.iloc[rows].reset_index(drop=True),
            attributes=self.attributes,
            labels=self.labels,
            label_names=self.label_names,
            Y=self.Y[rows],
            scores=self.scores[rows],
            truth=None if self.truth is None else self.truth[rows],
            vectors=None if self.vectors is None else self.vectors[rows],
            input_hashes=self.input_hashes,
            n_prediction_rows=self.n_prediction_rows,
        )


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_file(path: Path, key: str) -> None:
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
    _check_file(path, key)
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


def _require_columns(df: pd.DataFrame, path: Path, required: tuple[str, ...]) -> None:
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


def _row(mask: np.ndarray) -> int:
    """1-based data row of the first True in mask."""
    return int(np.flatnonzero(mask)[0]) + 1


def _non_scalar(s: pd.Series) -> np.ndarray:
    """Cells holding a list, dict or array (Parquet list/struct columns, JSON arrays and objects)."""
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) in _SCALAR_KINDS:
        return np.zeros(len(s), dtype=bool)
    return s.map(lambda v: isinstance(v, _NON_SCALAR)).to_numpy(dtype=bool)


def _id_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """A column of ids as an object array of str; nulls, blanks and lists are an error."""
    s = df[col]
    nested = _non_scalar(s)
    if nested.any():
        r = _row(nested)
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
        raise DataError(f"{path}: row {_row(null)}: '{col}' is empty; every row needs a {col}")
    if pd.api.types.is_float_dtype(s.dtype):
        as_int = s.astype("int64")
        if (as_int == s).all():
            s = as_int
    return s.astype(str).to_numpy(dtype=object)


def _attribute_column(s: pd.Series) -> pd.Series:
    """Attribute values as strings; nulls (not applicable) stay null."""
    out = s.astype(object).where(s.notna(), None)
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.dropna()
        if len(vals) and (vals == vals.round()).all():
            out = s.astype("Int64").astype(object).where(s.notna(), None)
    return out.map(lambda v: None if v is None else str(v)).astype(object)


def _load_samples(cfg: Config) -> tuple[pd.DataFrame, tuple[str, ...]]:
    path = cfg.data.samples
    df = read_table(path, "data.samples")
    _require_columns(df, path, ("sample_id",))
    ids = _id_column(df, "sample_id", path)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        row = _row(dup)
        first = int(np.flatnonzero(ids == ids[row - 1])[0]) + 1
        raise DataError(
            f"{path}: row {row}: sample_id '{ids[row - 1]}' is duplicated (first seen at row {first}); "
            "sample ids must be unique"
        )
    out = pd.DataFrame({"sample_id": ids})
    for col in ("text", "image"):
        if col in df.columns:
            out[col] = df[col].astype(object).where(df[col].notna(), None)
    configured = list(cfg.groups.attributes)
    for attr in configured:
        if attr in RESERVED_COLUMNS:
            raise DataError(
                f"{cfg.path}: groups.attributes lists '{attr}', a reserved column; attributes are the other columns of samples"
            )
        if attr not in df.columns:
            cols = [c for c in df.columns if c not in RESERVED_COLUMNS]
            raise DataError(
                f"{path}: attribute '{attr}' (groups.attributes in {cfg.path}) is not a column of samples "
                f"(attribute columns found: {', '.join(cols) or 'none'}); add the column or remove it from the config"
            )
    for attr in configured:
        nested = _non_scalar(df[attr])
        if nested.any():
            r = _row(nested)
            raise DataError(
                f"{path}: row {r}: attribute '{attr}' holds a {type(df[attr].iloc[r - 1]).__name__.replace('ndarray', 'list')}, "
                "not one value; an attribute needs one value per sample (split it into one column per value)"
            )
    attributes = [c for c in df.columns if c not in RESERVED_COLUMNS]
    for attr in attributes:
        out[attr] = _attribute_column(df[attr]).to_numpy()
    if cfg.data.embeddings is None:
        need = cfg.embed.input
        if need not in out.columns:
            raise DataError(
                f"{path}: embed.input is '{need}' but samples has no '{need}' column; add it, "
                "or give precomputed vectors in data.embeddings"
            )
        nested = _non_scalar(df[need])
        if nested.any():
            raise DataError(
                f"{path}: row {_row(nested)}: '{need}' holds a {type(df[need].iloc[_row(nested) - 1]).__name__.replace('ndarray', 'list')}, "
                f"not one {need}; give each sample a single {need}"
            )
        missing = out[need].isna().to_numpy()
        if missing.any():
            raise DataError(
                f"{path}: row {_row(missing)}: '{need}' is empty for sample '{ids[_row(missing) - 1]}'; "
                f"every sample needs a {need} to be embedded"
            )
    return out, tuple(attributes)


def read_sample_table(cfg: Config) -> pd.DataFrame:
    """``sample_id`` (as :func:`load_audit_set` reads it) with the ``text`` / ``image`` columns, for display."""
    path = cfg.data.samples
    table = read_table(path, "data.samples")
    _require_columns(table, path, ("sample_id",))
    out = table[[c for c in ("text", "image") if c in table.columns]].copy()
    out.insert(0, "sample_id", _id_column(table, "sample_id", path))
    return out


def _load_vocabulary(cfg: Config) -> pd.DataFrame | None:
    path = cfg.data.vocabulary
    if path is None:
        return None
    df = read_table(path, "data.vocabulary")
    _require_columns(df, path, ("label",))
    labels = _id_column(df, "label", path)
    dup = pd.Series(labels).duplicated().to_numpy()
    if dup.any():
        raise DataError(f"{path}: row {_row(dup)}: label '{labels[_row(dup) - 1]}' is listed twice; labels must be unique")
    names = labels.copy()
    if "name" in df.columns:
        given = df["name"].astype(object).where(df["name"].notna(), None).to_numpy()
        names = np.array([str(n) if n is not None and str(n).strip() else lab for n, lab in zip(given, labels)], dtype=object)
    return pd.DataFrame({"label": labels, "name": names})


def _label_pairs(
    path: Path, key: str, df: pd.DataFrame, sample_index: pd.Index, samples_path: Path
) -> tuple[np.ndarray, np.ndarray]:
    _require_columns(df, path, ("sample_id", "label"))
    sid = _id_column(df, "sample_id", path)
    lab = _id_column(df, "label", path)
    rows = sample_index.get_indexer(sid)
    unknown = rows < 0
    if unknown.any():
        r = _row(unknown)
        raise DataError(
            f"{path}: row {r}: sample_id '{sid[r - 1]}' is not in samples ({samples_path}); "
            f"remove the row or add the sample ({int(unknown.sum())} rows affected)"
        )
    return rows, lab


def _label_index(
    labs: list[np.ndarray], vocab: pd.DataFrame | None, paths: list[Path], vocab_path: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    if vocab is not None:
        vidx = pd.Index(vocab["label"].to_numpy())
        for lab, path in zip(labs, paths):
            pos = vidx.get_indexer(lab)
            bad = pos < 0
            if bad.any():
                r = _row(bad)
                raise DataError(
                    f"{path}: row {r}: label '{lab[r - 1]}' is not in the vocabulary ({vocab_path}); "
                    f"add it to the vocabulary or fix the label ({int(bad.sum())} rows affected)"
                )
        return vocab["label"].to_numpy(dtype=object), vocab["name"].to_numpy(dtype=object)
    allv = pd.unique(np.concatenate(labs)) if labs else np.array([], dtype=object)
    labels = np.array(sorted(allv), dtype=object)
    return labels, labels.copy()


def _describe(v) -> str:
    if isinstance(v, str):
        return f"text {v[:30]!r}"
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "an empty cell"
    return f"a {type(v).__name__} ({str(v)[:30]})"


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
                    f"{path}: row {i + 1}: 'embedding' must be a non-empty list of numbers, found {_describe(v)}"
                    + (csv_hint or "; fix the row")
                )
            try:
                a = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError):
                bad = next((x for x in v if not isinstance(x, (int, float, np.number)) or isinstance(x, bool)), v)
                raise DataError(
                    f"{path}: row {i + 1}: 'embedding' holds {_describe(bad)}, not a number; "
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
        r = _row(~finite)
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
            f"{path}: embedding row {_row(zero)} is all zeros ({int(zero.sum())} rows affected), so it has no direction "
            "to compare; fix or drop that sample"
        )


def _check_label_options(cfg: Config, labels: np.ndarray, where: Path) -> None:
    """Config keys that name labels must name labels that exist (a typo would silently test nothing)."""
    key, wanted = cfg.scan.detector_setting("under_representation", "labels", legacy="under_representation")
    if isinstance(wanted, list):
        known = set(labels.tolist())
        unknown = [x for x in wanted if x not in known]
        if unknown:
            raise ConfigError(
                f"{cfg.path}: key '{key}' lists '{unknown[0]}', which is not a label "
                f"({len(unknown)} of {len(wanted)} unknown; labels come from {where}); use the label ids as written there"
            )


def _load_vectors(cfg: Config, sample_ids: np.ndarray) -> np.ndarray | None:
    path = cfg.data.embeddings
    if path is None:
        return None
    n = len(sample_ids)
    if path.suffix.lower() == ".npy":
        _check_file(path, "data.embeddings")
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
    _require_columns(df, path, ("sample_id", "embedding"))
    ids = _id_column(df, "sample_id", path)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        r = _row(dup)
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


def load_audit_set(cfg: Config) -> AuditSet:
    """Load every input named by the config, validate it, and build the AuditSet."""
    samples, attributes = _load_samples(cfg)
    sample_index = pd.Index(samples["sample_id"].to_numpy())
    vocab = _load_vocabulary(cfg)

    ppath = cfg.data.predictions
    pred = read_table(ppath, "data.predictions")
    rows, labs = _label_pairs(ppath, "data.predictions", pred, sample_index, cfg.data.samples)
    if "score" in pred.columns:
        raw_score = pred["score"]
        if pd.api.types.is_bool_dtype(raw_score.dtype):
            raw_score = raw_score.astype(object)
        score = pd.to_numeric(raw_score, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(score) | (score < 0) | (score > 1)
        if raw_score.dtype == object:  # JSON true/false is not a probability
            bad = bad | raw_score.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        if bad.any():
            r = _row(bad)
            raw = pred["score"].iloc[r - 1]
            raw = raw.item() if hasattr(raw, "item") else raw  # 1.5, not np.float64(1.5)
            raise DataError(
                f"{ppath}: row {r}: score {raw!r} is not a number in [0, 1] ({int(bad.sum())} rows affected); "
                "scores must be probabilities in [0, 1]"
            )
    else:
        score = np.ones(len(pred), dtype=np.float64)

    truth_pairs = None
    tpath = cfg.data.truth
    if tpath is not None:
        tdf = read_table(tpath, "data.truth")
        truth_pairs = _label_pairs(tpath, "data.truth", tdf, sample_index, cfg.data.samples)

    all_labs = [labs] + ([truth_pairs[1]] if truth_pairs else [])
    all_paths = [ppath] + ([tpath] if tpath else [])
    labels, names = _label_index(all_labs, vocab, all_paths, cfg.data.vocabulary)
    lidx = pd.Index(labels)
    n, L = len(samples), len(labels)

    _check_label_options(cfg, labels, cfg.data.vocabulary or ppath)

    cols = lidx.get_indexer(labs)
    keep = score >= cfg.scan.threshold
    if not keep.any():
        log.warning(
            "%s: none of the %d prediction rows reaches scan.threshold %g (highest score %g), so this scan cannot "
            "find anything; lower scan.threshold in %s or check the scores",
            ppath, len(score), cfg.scan.threshold, float(np.nanmax(score)), cfg.path,
        )
    # Duplicate (sample, label) rows keep their highest score (coo -> csr would add them up).
    r, c, v = rows[keep], cols[keep], score[keep]
    nd = pd.DataFrame({"r": r, "c": c}).duplicated().to_numpy()
    if nd.any():
        log.warning("%s: %d (sample, label) rows repeat an earlier row; keeping the highest score", ppath, int(nd.sum()))
        S = _max_duplicates(r, c, v, (n, L))
    else:
        S = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n, L))
    S.sort_indices()
    Y = S.copy()
    Y.data = np.ones_like(Y.data, dtype=np.int8)
    Y = Y.astype(np.int8)

    truth = None
    if truth_pairs is not None:
        trow, tlab = truth_pairs
        T = sp.coo_matrix((np.ones(len(trow), dtype=np.int8), (trow, lidx.get_indexer(tlab))), shape=(n, L)).tocsr()
        T.data = np.minimum(T.data, 1).astype(np.int8)
        truth = T

    vectors = _load_vectors(cfg, samples["sample_id"].to_numpy(dtype=object))

    hashes: dict[str, str] = {}
    for key in ("samples", "predictions", "truth", "vocabulary", "embeddings"):
        p = getattr(cfg.data, key)
        if p is not None:
            hashes[key] = file_sha256(p)
    return AuditSet(
        samples=samples,
        attributes=attributes,
        labels=labels,
        label_names=names,
        Y=Y,
        scores=S,
        truth=truth,
        vectors=vectors,
        input_hashes=hashes,
        n_prediction_rows=len(pred),
    )


def _max_duplicates(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    df = pd.DataFrame({"r": rows, "c": cols, "v": vals}).groupby(["r", "c"], sort=False)["v"].max().reset_index()
    return sp.csr_matrix(
        (df["v"].to_numpy(dtype=np.float32), (df["r"].to_numpy(), df["c"].to_numpy())), shape=shape
    )
