"""Out of core: the predictions read in record batches into sample-range shards on disk.

The predictions may be one large Parquet file or a folder of Parquet files. Two passes, each holding
one record batch (``data.batch_rows``) or one shard (``data.shard_samples`` samples) at a time:

1. every record batch is checked as the in-memory reader checks the whole table (unknown samples,
   scores outside [0, 1], labels outside the vocabulary: the same one-line errors, with the row in its
   file), its labels get provisional ids, and its (sample row, label, score) triples are appended to
   the spill files of the shards their samples fall in;
2. once the label index is known, each shard's spill is read back, the threshold and ``scan.top_k``
   applied and repeated (sample, label) rows merged (highest score), exactly as in memory, since a shard
   holds every row of its samples; the shard is written as CSR (:func:`tagscan.inputs.shards.write_shard`).

Memory is the samples, the label index, one record batch and one shard, not the prediction rows.
The shards live in a temporary folder of the workspace, removed when the store is garbage collected.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.config import Config
from tagscan.errors import ConfigError, DataError, UsageError
from tagscan.inputs.formats import long_table, prediction_scores, top_k_mask
from tagscan.inputs.shards import ShardedPositives, write_shard
from tagscan.progress import progress_bar

__all__ = ["STREAM_ROWS", "StreamedPredictions", "parquet_parts", "should_stream", "stream_predictions"]

log = logging.getLogger(__name__)

#: ``data.stream: auto`` reads a single Parquet file of more prediction rows than this out of core.
STREAM_ROWS = 20_000_000


def parquet_parts(path: Path, key: str) -> list[Path]:
    """The Parquet files of ``path``: itself, or every ``*.parquet`` under a folder (sorted)."""
    if path.is_dir():
        parts = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not parts:
            raise DataError(f"{path}: the folder holds no .parquet file (config key {key}); put the table's Parquet files in it")
        return parts
    return [path]


def should_stream(cfg: Config, path: Path, key: str) -> bool:
    """Whether to read the table ``path`` (config ``key``) in record batches (``data.stream``; see
    :data:`STREAM_ROWS`)."""
    mode = cfg.data.stream
    if mode is not True and mode is not False:  # auto
        if path.is_dir():
            return True
        if path.suffix.lower() != ".parquet" or not path.is_file():
            return False
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows > STREAM_ROWS
        except Exception:  # noqa: BLE001 - the reader reports the bad file with its own message
            return False
    if mode and not (path.is_dir() or path.suffix.lower() == ".parquet"):
        raise ConfigError(
            f"{cfg.path}: key 'data.stream' is true but {path} ({key}) is not Parquet; out of core, tables are read "
            "from a Parquet file or a folder of Parquet files (convert the table, or set data.stream: auto)"
        )
    return bool(mode)


def stream_table(path: Path, key: str, batch_rows: int, read_batch) -> tuple[np.ndarray, ...]:
    """A table read in record batches through ``read_batch(frame, part) -> (rows, labels, empty, file rows or
    None)`` (the whole-table reader, applied per batch), concatenated; labels are kept as references to one
    string per distinct label, file rows count in each part file, and errors name the part file and its row."""
    rows, codes, empty, src = [], [], [], []
    labels = _LabelCodes()
    for part, offset, batch in _record_batches(path, key, batch_rows):
        df = _frame(batch)
        try:
            r, labs, e, s = read_batch(df, part)
        except DataError as exc:
            raise _shift_rows(exc, part, offset) from exc
        rows.append(np.asarray(r, dtype=np.int64))
        codes.append(labels.codes(labs))
        empty.append(np.asarray(e, dtype=bool))
        src.append((np.arange(len(r)) if s is None else np.asarray(s, dtype=np.int64)) + offset)
    return (np.concatenate(rows), labels.values()[np.concatenate(codes)], np.concatenate(empty), np.concatenate(src))


def _record_batches(path: Path, key: str, batch_rows: int):
    """``(part file, its rows before the batch, record batch)`` over every part of the table, in order."""
    import pyarrow.parquet as pq

    for part in parquet_parts(path, key):
        try:
            pf = pq.ParquetFile(part)
        except Exception as exc:  # noqa: BLE001 - a bad file is a bad input
            raise DataError(f"{part}: cannot be read as parquet ({type(exc).__name__}: {' '.join(str(exc).split())}); check the file") from exc
        offset = 0
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield part, offset, batch
            offset += batch.num_rows


def _frame(batch) -> pd.DataFrame:
    df = batch.to_pandas()
    df.columns = [str(c) for c in df.columns]
    return df


class _LabelCodes:
    """Provisional label ids in first-seen order, while the label index is not known yet."""

    def __init__(self) -> None:
        self.seen = pd.Index([], dtype=object)

    def codes(self, labels: np.ndarray) -> np.ndarray:
        c = self.seen.get_indexer(labels)
        if (c < 0).any():
            self.seen = self.seen.append(pd.Index(pd.unique(labels[c < 0])))
            c = self.seen.get_indexer(labels)
        return c

    def values(self) -> np.ndarray:
        return self.seen.to_numpy(dtype=object)


@dataclass
class StreamedPredictions:
    """What :func:`stream_predictions` read: the shard store, the label index and the row count."""

    positives: ShardedPositives
    labels: np.ndarray
    label_names: np.ndarray
    n_rows: int


def _shift_rows(exc: DataError, part: Path, offset: int) -> DataError:
    """The error of a record batch with its row counted in the whole file (batch rows start at ``offset``)."""
    msg = re.sub(rf"^{re.escape(str(part))}: row (\d+)", lambda m: f"{part}: row {int(m.group(1)) + offset}", str(exc))
    return DataError(msg)


_RECORD = np.dtype([("row", np.int32), ("label", np.int32), ("score", np.float64)])


class _Spill:
    """Per shard, one append-only file of (local sample row, provisional label, score) records; a file is
    opened only while a batch writes to it (no open handle per shard: a billion rows make thousands)."""

    def __init__(self, folder: Path, n: int, shard_samples: int) -> None:
        self.folder, self.n, self.size = folder, n, shard_samples
        self.n_shards = max(1, -(-n // shard_samples))

    def _path(self, i: int) -> Path:
        return self.folder / f"spill-{i:05d}.bin"

    def add(self, rows: np.ndarray, codes: np.ndarray, score: np.ndarray) -> None:
        shard = rows // self.size
        order = np.argsort(shard, kind="stable")
        rec = np.empty(len(rows), dtype=_RECORD)
        rec["row"] = rows[order] - shard[order] * self.size
        rec["label"] = codes[order]
        rec["score"] = score[order]
        shard = shard[order]
        cuts = np.searchsorted(shard, np.arange(self.n_shards + 1))
        for i in np.unique(shard):
            with open(self._path(int(i)), "ab") as fh:
                fh.write(rec[cuts[i] : cuts[i + 1]].tobytes())

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        path = self._path(i)
        rec = np.fromfile(path, dtype=_RECORD) if path.exists() else np.zeros(0, dtype=_RECORD)
        path.unlink(missing_ok=True)
        return rec["row"].copy(), rec["label"].copy(), rec["score"].copy()


def stream_predictions(
    cfg: Config, sample_index: pd.Index, *, vocab: pd.DataFrame | None, truth_labels: np.ndarray | None,
    label_pairs, check_labels,
) -> StreamedPredictions:
    """Read ``data.predictions`` out of core into a shard store (see the module docstring).

    ``label_pairs`` is the in-memory reader's ``(path, key, frame, sample_index, samples_path, file_rows) ->
    (rows, labels)`` check, ``check_labels(labels)`` its check of the config keys that name labels; the
    same checks run on every record batch, so both readers report the same errors.
    """
    root = Path(cfg.workspace_dir) / "tmp"
    folder = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="positives-", dir=root))
        store, labels, names, n_rows = _read(cfg, folder, sample_index, vocab, truth_labels, label_pairs, check_labels)
    except OSError as exc:  # a full or read-only disk under the workspace
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise UsageError(
            f"{root}: cannot write the prediction shards of an out-of-core scan ({exc.strerror or exc}); they need "
            "about 25 bytes per prediction row: free space there, or point 'workspace' in the config at a larger disk"
        ) from exc
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(store, shutil.rmtree, folder, True)  # removed with the store (a run keeps hard links)
    return StreamedPredictions(store, labels, names, n_rows)


def _read(cfg, folder, sample_index, vocab, truth_labels, label_pairs, check_labels):
    import pyarrow.parquet as pq

    ppath = cfg.data.predictions
    n = len(sample_index)
    spill = _Spill(folder, n, cfg.data.shard_samples)
    vidx = pd.Index(vocab["label"].to_numpy()) if vocab is not None else None
    labels_seen = _LabelCodes()
    n_rows, has_score = 0, None
    total = 0
    for part in parquet_parts(ppath, "data.predictions"):
        try:
            total += pq.ParquetFile(part).metadata.num_rows
        except Exception:  # noqa: BLE001 - reported below, with the file
            pass
    with progress_bar(total, "prediction rows read") as advance:
        for part, offset, batch in _record_batches(ppath, "data.predictions", cfg.data.batch_rows):
            clean = _clean_batch(batch, sample_index, vidx)
            if clean is not None:  # the common case, checked on each distinct id instead of each row
                rows, labs_u, lab_idx, score = clean
                codes = labels_seen.codes(labs_u)[lab_idx]
                scored = "score" in batch.schema.names
            else:  # row by row, with the whole-table reader's checks and messages
                rows, labs, score, scored = _checked_batch(_frame(batch), part, offset, cfg, sample_index, vidx, label_pairs)
                codes = labels_seen.codes(labs)
            has_score = scored if has_score is None else has_score
            spill.add(np.asarray(rows, dtype=np.int64), codes, score)
            n_rows += len(codes)
            advance(batch.num_rows)
    seen = labels_seen.seen
    labels, names = _label_index(vocab, seen, truth_labels)
    check_labels(labels)
    if cfg.scan.top_k is not None and not has_score:
        raise ConfigError(
            f"{cfg.path}: key 'scan.top_k' keeps each sample's highest-scored labels, but {ppath} has no scores "
            "(a 'score' column, or a 'scores' list); give the scores, or remove scan.top_k"
        )
    final = pd.Index(labels).get_indexer(seen) if len(seen) else np.zeros(0, dtype=np.int64)
    store = _write_shards(cfg, spill, final.astype(np.int64), labels, n)
    return store, labels, names, n_rows


def _checked_batch(df, part, offset, cfg, sample_index, vidx, label_pairs):
    """A record batch through the whole-table reader's checks: (sample rows, labels, scores, has scores);
    an error names the row in the part file."""
    try:
        pred, src = long_table(df, part)
        rows, labs = label_pairs(part, "data.predictions", pred, sample_index, cfg.data.samples, src)
        score = prediction_scores(pred, part)
        if vidx is not None:
            bad = vidx.get_indexer(labs) < 0
            if bad.any():
                at = int(np.flatnonzero(bad)[0])
                r = at + 1 if src is None else int(src[at]) + 1
                raise DataError(
                    f"{part}: row {r}: label '{labs[at]}' is not in the vocabulary ({cfg.data.vocabulary}); "
                    f"add it to the vocabulary or fix the label ({int(bad.sum())} rows affected)"
                )
    except DataError as exc:
        raise _shift_rows(exc, part, offset) from exc
    return rows, labs, score, "score" in pred.columns


def _distinct_ids(column) -> tuple[np.ndarray, np.ndarray] | None:
    """A string column as (its distinct values, each row's index into them), or None when a value is null or
    blank (the row-by-row reader reports that row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) or column.null_count:
        return None
    enc = pc.dictionary_encode(column)
    values = enc.dictionary.to_numpy(zero_copy_only=False).astype(object)
    if len(values) and (pd.Series(values).str.strip() == "").any():
        return None
    return values, enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _clean_batch(batch, sample_index: pd.Index, vidx: pd.Index | None):
    """A record batch of the long layout whose ids are strings and all known, and whose scores are numbers
    in [0, 1]: (sample rows, distinct labels, each row's index into them, scores). None for anything else,
    which the row-by-row reader then checks and reports with its row."""
    names = batch.schema.names
    if "sample_id" not in names or "label" not in names or "labels" in names or "scores" in names:
        return None
    sid = _distinct_ids(batch.column(names.index("sample_id")))
    lab = _distinct_ids(batch.column(names.index("label")))
    if sid is None or lab is None:
        return None
    rows_u = sample_index.get_indexer(sid[0])
    if (rows_u < 0).any() or (vidx is not None and (vidx.get_indexer(lab[0]) < 0).any()):
        return None
    if "score" in names:
        import pyarrow as pa

        col = batch.column(names.index("score"))
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)) or col.null_count:
            return None
        score = col.to_numpy(zero_copy_only=False).astype(np.float64)
        if not (np.isfinite(score) & (score >= 0) & (score <= 1)).all():
            return None
    else:
        score = np.ones(batch.num_rows, dtype=np.float64)
    return rows_u[sid[1]], lab[0], lab[1], score


def _label_index(vocab: pd.DataFrame | None, seen: pd.Index, truth_labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The label index as the in-memory reader builds it: the vocabulary's, or every label seen, sorted."""
    if vocab is not None:
        return vocab["label"].to_numpy(dtype=object), vocab["name"].to_numpy(dtype=object)
    allv = seen.to_numpy(dtype=object)
    if truth_labels is not None and len(truth_labels):
        allv = pd.unique(np.concatenate([allv, np.asarray(truth_labels, dtype=object)]))
    labels = np.array(sorted(allv), dtype=object)
    return labels, labels.copy()


def _write_shards(cfg: Config, spill: _Spill, final: np.ndarray, labels: np.ndarray, n: int) -> ShardedPositives:
    """Pass 2: each shard's rows through the threshold, ``scan.top_k`` and duplicate merge, as CSR."""
    L = len(labels)
    parts, nnz, dups, kept, seen_rows, best = [], 0, 0, 0, 0, -np.inf
    with progress_bar(spill.n_shards, "shards written") as advance:
        for i in range(spill.n_shards):
            r, code, v = spill.read(i)
            c = final[code] if len(code) else np.zeros(0, dtype=np.int64)
            seen_rows += len(r)
            if len(v):
                best = max(best, float(v.max()))
            keep = v >= cfg.scan.threshold
            if cfg.scan.top_k is not None:
                keep &= top_k_mask(r, labels[c], v, cfg.scan.top_k)
            r, c, v = r[keep], c[keep], v[keep]
            kept += len(r)
            start = i * spill.size
            key = r.astype(np.int64) * L + c
            order = np.lexsort((-v, key))  # per (sample, label): the highest score first
            key, v = key[order], v[order]
            first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
            dups += int((~first).sum())
            key, v = key[first], v[first]
            S = sp.csr_matrix((v.astype(np.float32), (key // L, key % L)), shape=(min(spill.size, n - start), L))
            S.sort_indices()
            parts.append(write_shard(spill.folder, i, start, S))
            nnz += S.nnz
            advance(1)
    if dups:
        log.warning("%s: %d (sample, label) rows repeat an earlier row; keeping the highest score", cfg.data.predictions, dups)
    if cfg.scan.top_k is not None:
        log.info("%s: scan.top_k %d: %d of %d prediction rows kept", cfg.data.predictions, cfg.scan.top_k, kept, seen_rows)
    if not kept and seen_rows:
        log.warning(
            "%s: none of the %d prediction rows reaches scan.threshold %g (highest score %g), so this scan cannot "
            "find anything; lower scan.threshold in %s or check the scores",
            cfg.data.predictions, seen_rows, cfg.scan.threshold, best, cfg.path,
        )
    return ShardedPositives.finish(spill.folder, (n, L), parts, nnz)
