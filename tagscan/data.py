"""Load and validate the input tables once, into one immutable :class:`AuditSet`.

Every input error is raised here, as a :class:`~tagscan.errors.DataError` whose message names the
file, the row (1-based, counting data rows, header excluded) or column, the rule, and the fix.
Everything downstream trusts the AuditSet.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.config import Config
from tagscan.errors import DataError

__all__ = ["AuditSet", "RESERVED_COLUMNS", "file_sha256", "load_audit_set", "read_table"]

log = logging.getLogger(__name__)

#: Sample columns that are never group attributes.
RESERVED_COLUMNS = ("sample_id", "text", "image")

_TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


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
        raise DataError(f"{path}: is a directory, not a table (config key {key}); point {key} at a .parquet, .csv or .jsonl file")


def read_table(path: Path, key: str) -> pd.DataFrame:
    """Read a Parquet, CSV or JSON Lines table chosen by extension, with clear errors."""
    _check_file(path, key)
    kind = _TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported table format '{path.suffix}' (config key {key}); use .parquet, .csv or .jsonl"
        )
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        elif kind == "csv":
            df = pd.read_csv(path, keep_default_na=True, na_values=[""], low_memory=False)
        else:
            df = pd.read_json(path, lines=True, dtype=False)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise DataError(f"{path}: cannot be read as {kind} ({type(exc).__name__}: {exc}); check the file") from exc
    if len(df) == 0:
        raise DataError(f"{path}: the table is empty (0 rows) (config key {key}); give it at least one row")
    df.columns = [str(c) for c in df.columns]
    return df


def _require_columns(df: pd.DataFrame, path: Path, required: tuple[str, ...]) -> None:
    for col in required:
        if col not in df.columns:
            found = ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")
            raise DataError(f"{path}: missing required column '{col}' (found: {found}); add a '{col}' column")


def _row(mask: np.ndarray) -> int:
    """1-based data row of the first True in mask."""
    return int(np.flatnonzero(mask)[0]) + 1


def _id_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """A column of ids as an object array of str; nulls are an error."""
    s = df[col]
    null = s.isna().to_numpy()
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
        missing = out[need].isna().to_numpy()
        if missing.any():
            raise DataError(
                f"{path}: row {_row(missing)}: '{need}' is empty for sample '{ids[_row(missing) - 1]}'; "
                f"every sample needs a {need} to be embedded"
            )
    return out, tuple(attributes)


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


def _load_vectors(cfg: Config, sample_ids: np.ndarray) -> np.ndarray | None:
    path = cfg.data.embeddings
    if path is None:
        return None
    n = len(sample_ids)
    if path.suffix.lower() == ".npy":
        _check_file(path, "data.embeddings")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{path}: cannot be read as a .npy array ({exc}); save it with numpy.save") from exc
        if arr.ndim != 2:
            raise DataError(f"{path}: embeddings must be a 2-D array (samples x dims), found shape {arr.shape}; reshape it")
        if arr.shape[0] != n:
            raise DataError(
                f"{path}: has {arr.shape[0]} embedding rows but samples has {n}; "
                "give one row per sample, in the order of the samples table"
            )
        vec = np.ascontiguousarray(arr, dtype=np.float32)
    else:
        df = read_table(path, "data.embeddings")
        _require_columns(df, path, ("sample_id", "embedding"))
        ids = _id_column(df, "sample_id", path)
        pos = pd.Index(ids).get_indexer(sample_ids)
        missing = pos < 0
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"{path}: no embedding for sample_id '{sample_ids[i]}' ({int(missing.sum())} samples missing); "
                "give one row per sample"
            )
        if len(ids) != n:
            raise DataError(f"{path}: has {len(ids)} embedding rows but samples has {n}; give exactly one row per sample")
        col = df["embedding"].to_numpy()
        lens = np.fromiter((len(v) if v is not None and hasattr(v, "__len__") else -1 for v in col), dtype=np.int64, count=len(col))
        bad = lens != lens[0] if lens[0] > 0 else np.ones(len(col), dtype=bool)
        if bad.any() or lens[0] <= 0:
            r = _row(bad) if bad.any() else 1
            raise DataError(
                f"{path}: row {r}: 'embedding' must be a non-empty list of numbers of one length "
                f"(row 1 has {lens[0]}, row {r} has {lens[r - 1]}); fix the row"
            )
        vec = np.ascontiguousarray(np.stack([np.asarray(v, dtype=np.float32) for v in col])[pos])
    finite = np.isfinite(vec).all(axis=1)
    if not finite.all():
        raise DataError(f"{path}: embedding row {_row(~finite)} has NaN or infinite values; fix or drop that sample")
    return vec


def load_audit_set(cfg: Config) -> AuditSet:
    """Load every input named by the config, validate it, and build the AuditSet."""
    samples, attributes = _load_samples(cfg)
    sample_index = pd.Index(samples["sample_id"].to_numpy())
    vocab = _load_vocabulary(cfg)

    ppath = cfg.data.predictions
    pred = read_table(ppath, "data.predictions")
    rows, labs = _label_pairs(ppath, "data.predictions", pred, sample_index, cfg.data.samples)
    if "score" in pred.columns:
        score = pd.to_numeric(pred["score"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(score) | (score < 0) | (score > 1)
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

    cols = lidx.get_indexer(labs)
    keep = score >= cfg.scan.threshold
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
