"""Load and validate the input tables once, into one immutable :class:`AuditSet`.

Every input error is raised here, as a :class:`~tagscan.errors.DataError` whose message names the
file, the row (1-based, counting data rows, header excluded) or column, the rule, and the fix.
Everything downstream trusts the AuditSet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.config import Config
from tagscan.constants import NO_INPUTS
from tagscan.errors import ConfigError, DataError, UsageError
from tagscan.inputs.formats import long_table, prediction_scores, top_k_mask
from tagscan.inputs.kinds import input_kind, sample_columns
from tagscan.inputs.shards import InMemoryPositives, Positives
from tagscan.inputs.stream import should_stream, stream_predictions, stream_table
from tagscan.inputs.tables import (
    attribute_column,
    file_sha256,
    first_row,
    id_column,
    non_scalar,
    read_table,
    require_columns,
)
from tagscan.inputs.vectors import load_vectors

__all__ = ["AuditSet", "RESERVED_COLUMNS", "file_sha256", "load_audit_set", "read_sample_table", "read_table"]

log = logging.getLogger(__name__)

#: Sample columns that are never group attributes.
RESERVED_COLUMNS = ("sample_id", *sample_columns())

@dataclass(frozen=True, eq=False)
class AuditSet:
    """The validated inputs of one scan.

    - ``samples``: one row per sample in input order (RangeIndex), with ``sample_id`` (str) and the
      optional ``text`` / ``image`` columns and every attribute column (str, null = not applicable).
    - ``labels`` / ``label_names``: the label index (columns of ``Y``).
    - ``Y``: CSR (n_samples x n_labels) int8 one-hot matrix of positive predictions (score >= threshold).
    - ``scores``: CSR float32 of the scores of those positives (1.0 where no score was given).
    - ``truth``: optional CSR int8 (n_samples x n_labels) of ground-truth positives.
    - ``annotated``: bool per sample, the samples that have ground truth (None without ``data.truth``).
      ``data.truth`` lists the positive (sample, label) pairs of the samples it names; a sample it never
      names is unannotated (its truth row is empty, but that says nothing about its labels); a row with
      an empty label marks a sample "annotated, no positive label"; ``data.truth_exhaustive: true``
      declares every sample annotated. Error-rate detectors count only annotated samples.
    - ``vectors``: optional precomputed input embeddings (n_samples x d float32).
    - ``positives``: set when the predictions were read out of core (:mod:`tagscan.inputs.stream`): they
      live in sample-range shards on disk, and ``Y`` / ``scores`` are None; :meth:`positive_store` reads
      either kind shard by shard.
    - ``input_hashes``: sha256 of every input file, keyed by its config key.
    - ``has_inputs``: False for predictions and attributes only (``embed.input: none``, or samples with
      neither a text nor an image column and no ``data.embeddings``): nothing to embed, no clusters.
    """

    samples: pd.DataFrame
    attributes: tuple[str, ...]
    labels: np.ndarray
    label_names: np.ndarray
    Y: sp.csr_matrix | None
    scores: sp.csr_matrix | None
    truth: sp.csr_matrix | None = None
    annotated: np.ndarray | None = None
    vectors: np.ndarray | None = None
    input_hashes: dict[str, str] = field(default_factory=dict)
    n_prediction_rows: int = 0
    has_inputs: bool = True
    positives: Positives | None = None

    def positive_store(self) -> Positives:
        """The predictions, shard by shard (one shard when they are in memory)."""
        return self.positives if self.positives is not None else InMemoryPositives(self.Y, self.scores)

    @property
    def kept_positives(self) -> sp.csr_matrix | Positives:
        """What a run keeps of its predictions for the next run's paired tests: ``Y``, or the shard store."""
        return self.Y if self.Y is not None else self.positives

    @property
    def n_positives(self) -> int:
        return int(self.Y.nnz) if self.Y is not None else self.positives.nnz

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def sample_ids(self) -> np.ndarray:
        return self.samples["sample_id"].to_numpy(dtype=object)

    def top_labels(self, rows: np.ndarray, k: int) -> list[str]:
        """Per row: the names of its ``k`` highest-scored predicted labels, joined with ', '."""
        S = self.positive_store().rows(np.asarray(rows, dtype=np.int64))[1]
        out = []
        for r in range(S.shape[0]):
            lo, hi = S.indptr[r], S.indptr[r + 1]
            order = np.argsort(-S.data[lo:hi], kind="stable")[:k]
            out.append(", ".join(str(self.label_names[j]) for j in S.indices[lo:hi][order]))
        return out

    def require_inputs(self, what: str, path: Path | None = None) -> None:
        """Raise a UsageError for ``what`` (a command that needs input vectors) when there are no inputs."""
        if not self.has_inputs and self.vectors is None:
            raise UsageError(
                f"{path or 'the config'}: {what} needs inputs (a text or image column, or data.embeddings), and this "
                "scan has none (embed.input: none: predictions and attributes only); give the inputs to use it"
            )

    def subset(self, rows: np.ndarray) -> AuditSet:
        """The same audit set restricted to ``rows`` (e.g. the samples whose image could be read)."""
        rows = np.asarray(rows, dtype=np.int64)
        Y, S = self.positive_store().rows(rows)
        return AuditSet(
            samples=self.samples.iloc[rows].reset_index(drop=True),
            attributes=self.attributes,
            labels=self.labels,
            label_names=self.label_names,
            Y=Y,
            scores=S,
            truth=None if self.truth is None else self.truth[rows],
            annotated=None if self.annotated is None else self.annotated[rows],
            vectors=None if self.vectors is None else self.vectors[rows],
            input_hashes=self.input_hashes,
            n_prediction_rows=self.n_prediction_rows,
            has_inputs=self.has_inputs,
        )


def _load_samples(cfg: Config) -> tuple[pd.DataFrame, tuple[str, ...], bool]:
    path = cfg.data.samples
    df = read_table(path, "data.samples")
    require_columns(df, path, ("sample_id",))
    ids = id_column(df, "sample_id", path)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        row = first_row(dup)
        first = int(np.flatnonzero(ids == ids[row - 1])[0]) + 1
        raise DataError(
            f"{path}: row {row}: sample_id '{ids[row - 1]}' is duplicated (first seen at row {first}); "
            "sample ids must be unique"
        )
    out = pd.DataFrame({"sample_id": ids})
    for col in sample_columns():
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
        nested = non_scalar(df[attr])
        if nested.any():
            r = first_row(nested)
            raise DataError(
                f"{path}: row {r}: attribute '{attr}' holds a {type(df[attr].iloc[r - 1]).__name__.replace('ndarray', 'list')}, "
                "not one value; an attribute needs one value per sample (split it into one column per value)"
            )
    attributes = [c for c in df.columns if c not in RESERVED_COLUMNS]
    for attr in attributes:
        out[attr] = attribute_column(df[attr]).to_numpy()
    inputs = _has_inputs(cfg, out.columns)
    if cfg.data.embeddings is None and inputs:
        need = input_kind(cfg.embed.input).column
        if need not in out.columns:
            raise DataError(
                f"{path}: embed.input is '{need}' but samples has no '{need}' column; add it, "
                "give precomputed vectors in data.embeddings, or set embed.input: none to scan predictions "
                "and attributes only (no clusters, no alignment_gap)"
            )
        nested = non_scalar(df[need])
        if nested.any():
            raise DataError(
                f"{path}: row {first_row(nested)}: '{need}' holds a {type(df[need].iloc[first_row(nested) - 1]).__name__.replace('ndarray', 'list')}, "
                f"not one {need}; give each sample a single {need}"
            )
        missing = out[need].isna().to_numpy()
        if missing.any():
            raise DataError(
                f"{path}: row {first_row(missing)}: '{need}' is empty for sample '{ids[first_row(missing) - 1]}'; "
                f"every sample needs a {need} to be embedded"
            )
    return out, tuple(attributes), inputs


def _has_inputs(cfg: Config, columns) -> bool:
    """Whether the samples hold inputs to embed: not with ``embed.input: none``, nor, when embed.input is
    not set, with neither a text nor an image column (and no ``data.embeddings``): SPEC's "with neither
    and no vectors, the scan runs on attribute groups alone"."""
    if cfg.embed.input == NO_INPUTS:
        if cfg.data.embeddings is not None:
            raise ConfigError(
                f"{cfg.path}: key 'embed.input' is 'none' but data.embeddings is set; remove data.embeddings "
                "to scan without inputs, or remove embed.input: none to use the vectors"
            )
        return False
    if cfg.data.embeddings is not None or "input" in cfg.embed.model_fields_set:
        return True
    if any(c in columns for c in sample_columns()):
        return True
    log.warning(
        "%s: samples has no %s column and data.embeddings is not set, so the scan runs on attribute groups "
        "alone (no clusters, no alignment_gap); set embed.input: none in %s to say so",
        cfg.data.samples, " or ".join(repr(c) for c in sample_columns()), cfg.path,
    )
    return False


def read_sample_table(cfg: Config, *, all_columns: bool = False) -> pd.DataFrame:
    """``sample_id`` (as :func:`load_audit_set` reads it) with the input columns (``text``, ``image``), for display;
    with ``all_columns``, every other column too (the attributes a reviewer sees of a sample without inputs)."""
    path = cfg.data.samples
    table = read_table(path, "data.samples")
    require_columns(table, path, ("sample_id",))
    keep = [c for c in table.columns if c != "sample_id"] if all_columns else [c for c in sample_columns() if c in table.columns]
    out = table[keep].copy()
    out.insert(0, "sample_id", id_column(table, "sample_id", path))
    return out


def _load_vocabulary(cfg: Config) -> pd.DataFrame | None:
    path = cfg.data.vocabulary
    if path is None:
        return None
    df = read_table(path, "data.vocabulary")
    require_columns(df, path, ("label",))
    labels = id_column(df, "label", path)
    dup = pd.Series(labels).duplicated().to_numpy()
    if dup.any():
        raise DataError(f"{path}: row {first_row(dup)}: label '{labels[first_row(dup) - 1]}' is listed twice; labels must be unique")
    names = labels.copy()
    if "name" in df.columns:
        given = df["name"].astype(object).where(df["name"].notna(), None).to_numpy()
        names = np.array([str(n) if n is not None and str(n).strip() else lab for n, lab in zip(given, labels)], dtype=object)
    return pd.DataFrame({"label": labels, "name": names})


def _label_pairs(
    path: Path, key: str, df: pd.DataFrame, sample_index: pd.Index, samples_path: Path,
    file_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(sample row, label) of each row; ``file_rows``: the file's 0-based row of each (a lists layout)."""
    require_columns(df, path, ("sample_id", "label"))
    sid = id_column(df, "sample_id", path)
    lab = id_column(df, "label", path)
    rows = sample_index.get_indexer(sid)
    unknown = rows < 0
    if unknown.any():
        at = first_row(unknown)
        r = at if file_rows is None else int(file_rows[at - 1]) + 1
        raise DataError(
            f"{path}: row {r}: sample_id '{sid[at - 1]}' is not in samples ({samples_path}); "
            f"remove the row or add the sample ({int(unknown.sum())} rows affected)"
        )
    return rows, lab


def _truth_frame(
    raw: pd.DataFrame, tpath: Path, sample_index: pd.Index, samples_path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """One truth table (or record batch): (sample row, label, empty label?, file row or None) per long row."""
    df, src = long_table(raw, tpath, keep_empty=True)
    require_columns(df, tpath, ("sample_id", "label"))
    lab = df["label"]
    empty = lab.isna().to_numpy()
    if lab.dtype == object or pd.api.types.is_string_dtype(lab.dtype):
        empty = empty | lab.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    if pd.api.types.is_float_dtype(lab.dtype) and empty.any():
        given = lab[~empty]
        if (given == given.round()).all():  # integer ids that a null turned into floats (Parquet, JSON)
            lab = lab.astype("Int64")
    # A placeholder in the empty cells lets id_column check every other cell with its row number.
    filled = pd.DataFrame({"sample_id": df["sample_id"], "label": lab.astype(object).where(~empty, "-")})
    rows, labs = _label_pairs(tpath, "data.truth", filled, sample_index, samples_path, src)
    return rows, labs, empty, src


def _truth_pairs(cfg: Config, sample_index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The truth table: (sample row of each positive pair, its label, its 0-based row in the file, the
    annotated mask per sample), or None without ``data.truth``.

    A row whose label is empty (null in Parquet or JSON Lines, an empty or blank cell in CSV) marks its
    sample annotated with no positive label; it adds no pair.
    """
    tpath = cfg.data.truth
    if tpath is None:
        if cfg.data.truth_exhaustive:
            raise ConfigError(
                f"{cfg.path}: key 'data.truth_exhaustive' is true but data.truth is not set; "
                "give the ground truth in data.truth or remove data.truth_exhaustive"
            )
        return None
    if should_stream(cfg, tpath, "data.truth"):  # in record batches (tagscan.inputs.stream)
        rows, labs, empty, src = stream_table(tpath, "data.truth", cfg.data.batch_rows, lambda df, path: _truth_frame(
            df, path, sample_index, cfg.data.samples))
    else:
        rows, labs, empty, src = _truth_frame(read_table(tpath, "data.truth"), tpath, sample_index, cfg.data.samples)
    annotated = np.zeros(len(sample_index), dtype=bool)
    annotated[rows] = True
    if cfg.data.truth_exhaustive:
        annotated[:] = True
    n_none = len(np.setdiff1d(rows[empty], rows[~empty]))
    log.info(
        "%s: %d of %d samples annotated (%d with no positive label)%s",
        tpath, int(annotated.sum()), len(annotated), n_none,
        " (data.truth_exhaustive: every sample)" if cfg.data.truth_exhaustive else "",
    )
    at = np.flatnonzero(~empty)
    return rows[~empty], labs[~empty], at if src is None else src[at], annotated


def _label_index(
    labs: list[np.ndarray], vocab: pd.DataFrame | None, paths: list[Path], vocab_path: Path | None,
    file_rows: list[np.ndarray | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The label index; ``file_rows`` (per table, optional) maps each label to its 0-based row in the file."""
    if vocab is not None:
        vidx = pd.Index(vocab["label"].to_numpy())
        for i, (lab, path) in enumerate(zip(labs, paths)):
            pos = vidx.get_indexer(lab)
            bad = pos < 0
            if bad.any():
                at = first_row(bad) - 1
                src = file_rows[i] if file_rows else None
                r = at + 1 if src is None else int(src[at]) + 1
                raise DataError(
                    f"{path}: row {r}: label '{lab[at]}' is not in the vocabulary ({vocab_path}); "
                    f"add it to the vocabulary or fix the label ({int(bad.sum())} rows affected)"
                )
        return vocab["label"].to_numpy(dtype=object), vocab["name"].to_numpy(dtype=object)
    allv = pd.unique(np.concatenate(labs)) if labs else np.array([], dtype=object)
    labels = np.array(sorted(allv), dtype=object)
    return labels, labels.copy()


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


def load_audit_set(cfg: Config) -> AuditSet:
    """Load every input named by the config, validate it, and build the AuditSet."""
    samples, attributes, has_inputs = _load_samples(cfg)
    sample_index = pd.Index(samples["sample_id"].to_numpy())
    vocab = _load_vocabulary(cfg)

    ppath = cfg.data.predictions
    truth_pairs = _truth_pairs(cfg, sample_index)
    tpath = cfg.data.truth
    if should_stream(cfg, ppath, "data.predictions"):  # out of core: sample-range shards on disk (tagscan.inputs.stream)
        if truth_pairs is not None and vocab is not None:
            _label_index([truth_pairs[1]], vocab, [tpath], cfg.data.vocabulary, [truth_pairs[2]])
        st = stream_predictions(
            cfg, sample_index, vocab=vocab, truth_labels=None if truth_pairs is None else truth_pairs[1],
            label_pairs=_label_pairs, check_labels=lambda labs: _check_label_options(cfg, labs, cfg.data.vocabulary or ppath),
        )
        labels, names, positives, n_pred_rows = st.labels, st.label_names, st.positives, st.n_rows
        Y = S = None
        lidx = pd.Index(labels)
        n, L = len(samples), len(labels)
    else:
        labels, names, lidx, Y, S, n_pred_rows = _read_predictions(cfg, ppath, samples, sample_index, vocab, truth_pairs)
        positives = None
        n, L = len(samples), len(labels)

    truth = annotated = None
    if truth_pairs is not None:
        trow, tlab, _, annotated = truth_pairs
        T = sp.coo_matrix((np.ones(len(trow), dtype=np.int8), (trow, lidx.get_indexer(tlab))), shape=(n, L)).tocsr()
        T.data = np.minimum(T.data, 1).astype(np.int8)
        truth = T

    vectors = load_vectors(cfg, samples["sample_id"].to_numpy(dtype=object))

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
        annotated=annotated,
        vectors=vectors,
        input_hashes=hashes,
        n_prediction_rows=n_pred_rows,
        has_inputs=has_inputs,
        positives=positives,
    )


def _read_predictions(cfg: Config, ppath: Path, samples: pd.DataFrame, sample_index: pd.Index, vocab, truth_pairs):
    """The predictions read whole: (labels, names, label index, Y, scores, prediction rows)."""
    tpath = cfg.data.truth
    pred, pred_rows = long_table(read_table(ppath, "data.predictions"), ppath)
    rows, labs = _label_pairs(ppath, "data.predictions", pred, sample_index, cfg.data.samples, pred_rows)
    score = prediction_scores(pred, ppath)

    all_labs = [labs] + ([truth_pairs[1]] if truth_pairs else [])
    all_paths = [ppath] + ([tpath] if tpath else [])
    file_rows = [pred_rows] + ([truth_pairs[2]] if truth_pairs else [])
    labels, names = _label_index(all_labs, vocab, all_paths, cfg.data.vocabulary, file_rows)
    lidx = pd.Index(labels)
    n, L = len(samples), len(labels)

    _check_label_options(cfg, labels, cfg.data.vocabulary or ppath)

    cols = lidx.get_indexer(labs)
    keep = score >= cfg.scan.threshold
    if cfg.scan.top_k is not None:
        keep &= _top_k(cfg, ppath, pred, rows, labs, score)
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

    return labels, names, lidx, Y, S, len(pred)


def _top_k(cfg: Config, ppath: Path, pred: pd.DataFrame, rows, labs, score) -> np.ndarray:
    """``scan.top_k``: each sample's k highest-scored labels (applied before scan.threshold)."""
    if "score" not in pred.columns:
        raise ConfigError(
            f"{cfg.path}: key 'scan.top_k' keeps each sample's highest-scored labels, but {ppath} has no scores "
            "(a 'score' column, or a 'scores' list); give the scores, or remove scan.top_k"
        )
    keep = top_k_mask(rows, labs, score, cfg.scan.top_k)
    log.info("%s: scan.top_k %d keeps %d of %d prediction rows", ppath, cfg.scan.top_k, int(keep.sum()), len(keep))
    return keep


def _max_duplicates(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    df = pd.DataFrame({"r": rows, "c": cols, "v": vals}).groupby(["r", "c"], sort=False)["v"].max().reset_index()
    return sp.csr_matrix(
        (df["v"].to_numpy(dtype=np.float32), (df["r"].to_numpy(), df["c"].to_numpy())), shape=shape
    )
