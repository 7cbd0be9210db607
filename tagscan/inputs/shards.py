"""The positive predictions (``Y`` and their scores) as sample-range shards: how scan code reads them.

A shard holds every positive of a contiguous range of samples, so anything computed per sample (a
family's union of labels, a top-k cut, a duplicate's highest score) is exact within one shard, and
anything summed over samples (the group x label counts) is a sum over shards. Two stores:

- :class:`InMemoryPositives`: the whole CSR in memory, read as one shard (or as blocks of
  ``block_rows`` samples; tests use that to prove that sums over shards equal the one-shard result);
- :class:`ShardedPositives`: one ``.npz`` per shard in a folder (written by
  :mod:`tagscan.inputs.stream`), loaded one at a time: memory is one shard, not every prediction row.

Reads that need every sample but few labels (review examples, person labels, paired rescans) take the
columns they need in one pass (:meth:`Positives.columns`); reads that need few samples take rows
(:meth:`Positives.rows`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["InMemoryPositives", "MappedPositives", "Positives", "Shard", "ShardedPositives", "write_shard"]

#: Files of a sharded store: ``part-00000.npz`` ... and ``meta.json`` (shape, nnz, shard bounds).
META = "meta.json"


@dataclass(frozen=True, eq=False)
class Shard:
    """The positives of samples ``start .. start + len``: ``Y`` (int8 ones) and ``scores`` (float32),
    both CSR with rows local to the shard and the same sparsity pattern (sorted indices)."""

    start: int
    Y: sp.csr_matrix
    scores: sp.csr_matrix

    @property
    def stop(self) -> int:
        return self.start + self.Y.shape[0]


class Positives:
    """Positive predictions of ``shape`` (samples x labels), read shard by shard."""

    shape: tuple[int, int]
    nnz: int

    def __iter__(self) -> Iterator[Shard]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_shards(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def in_memory(self) -> bool:
        return False

    def label_counts(self) -> np.ndarray:
        """Positives per label (int64)."""
        out = np.zeros(self.shape[1], dtype=np.int64)
        for s in self:
            out += np.bincount(s.Y.indices, minlength=self.shape[1])
        return out

    def columns(self, cols: np.ndarray) -> tuple[sp.csc_matrix, sp.csc_matrix]:
        """``Y`` and ``scores`` as (samples x labels) CSC with (at least) the labels ``cols`` filled: one pass,
        keeping only those columns (in memory, the whole matrices)."""
        n, L = self.shape
        cols = np.unique(np.asarray(cols, dtype=np.int64))
        want = np.zeros(L, dtype=bool)
        want[cols] = True
        rows, labs, vals = [], [], []
        for s in self:
            S = s.scores
            keep = want[S.indices]
            if keep.any():
                r = np.repeat(np.arange(s.start, s.stop, dtype=np.int64), np.diff(S.indptr))
                rows.append(r[keep])
                labs.append(S.indices[keep].astype(np.int64))
                vals.append(S.data[keep])
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(labs) if labs else np.zeros(0, dtype=np.int64)
        v = np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, dtype=np.float32)
        S = sp.csc_matrix((v, (r, c)), shape=(n, L))
        S.sort_indices()
        Y = sp.csc_matrix((np.ones(len(S.data), dtype=np.int8), S.indices.copy(), S.indptr.copy()), shape=(n, L))
        return Y, S

    def rows(self, rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``Y`` and ``scores`` of the samples ``rows`` (in the order given), as CSR (one pass)."""
        rows = np.asarray(rows, dtype=np.int64)
        L = self.shape[1]
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        parts = []
        for s in self:
            lo, hi = np.searchsorted(srt, [s.start, s.stop])
            if hi > lo:
                parts.append(s.scores[srt[lo:hi] - s.start])
        S = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, L), dtype=np.float32)
        S = sp.csr_matrix(S[np.argsort(order, kind="stable")], dtype=np.float32)
        S.sort_indices()
        Y = sp.csr_matrix((np.ones(len(S.data), dtype=np.int8), S.indices.copy(), S.indptr.copy()), shape=S.shape)
        return Y, S

    def rows_full(self, mask: np.ndarray | None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``Y`` and ``scores`` (samples x labels CSR) with only the samples of ``mask`` filled (None: all);
        memory is their positives, plus one shard."""
        n, L = self.shape
        counts = np.zeros(n, dtype=np.int64)
        idx, dat = [], []
        for s in self:
            c = np.diff(s.scores.indptr)
            if mask is not None:
                m = np.asarray(mask[s.start : s.stop], dtype=bool)
                c = np.where(m, c, 0)
                keep = np.repeat(m, np.diff(s.scores.indptr))
                idx.append(s.scores.indices[keep].astype(np.int32))
                dat.append(s.scores.data[keep])
            else:
                idx.append(s.scores.indices.astype(np.int32))
                dat.append(s.scores.data)
            counts[s.start : s.stop] = c
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        indices = np.concatenate(idx) if idx else np.zeros(0, dtype=np.int32)
        data = np.concatenate(dat).astype(np.float32) if dat else np.zeros(0, dtype=np.float32)
        S = sp.csr_matrix((data, indices, indptr), shape=(n, L))
        Y = sp.csr_matrix((np.ones(len(data), dtype=np.int8), indices, indptr), shape=(n, L))
        return Y, S

    def materialise(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The whole ``Y`` and ``scores`` in memory (memory grows with the prediction rows)."""
        return self.rows_full(None)


class InMemoryPositives(Positives):
    """``Y`` and ``scores`` in memory, read as one shard, or as blocks of ``block_rows`` samples."""

    def __init__(self, Y: sp.spmatrix, scores: sp.spmatrix, *, block_rows: int | None = None) -> None:
        self.Y = sp.csr_matrix(Y)
        self.scores = sp.csr_matrix(scores)
        self.shape = self.Y.shape
        self.nnz = int(self.Y.nnz)
        self.block_rows = block_rows

    @property
    def in_memory(self) -> bool:
        return True

    @property
    def n_shards(self) -> int:
        n = self.shape[0]
        return 1 if not self.block_rows else max(1, -(-n // self.block_rows))

    def __iter__(self) -> Iterator[Shard]:
        n = self.shape[0]
        if not self.block_rows or self.block_rows >= n:
            yield Shard(0, self.Y, self.scores)
            return
        for a in range(0, n, self.block_rows):
            b = min(n, a + self.block_rows)
            yield Shard(a, self.Y[a:b], self.scores[a:b])

    def label_counts(self) -> np.ndarray:
        return np.bincount(self.Y.indices, minlength=self.shape[1]).astype(np.int64)

    def columns(self, cols: np.ndarray) -> tuple[sp.csc_matrix, sp.csc_matrix]:
        if self.block_rows:
            return super().columns(cols)
        return sp.csc_matrix(self.Y), sp.csc_matrix(self.scores)

    def rows(self, rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        rows = np.asarray(rows, dtype=np.int64)
        return self.Y[rows], self.scores[rows]

    def materialise(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        return self.Y, self.scores


class MappedPositives(Positives):
    """Another store's shards through ``fn`` (a per-sample map, e.g. labels to label families), computed as
    they are read: never held whole. ``fn`` maps a shard's ``Y`` to a 0/1 CSR of ``n_cols`` columns."""

    def __init__(self, base: Positives, fn, n_cols: int) -> None:
        self.base, self.fn = base, fn
        self.shape = (base.shape[0], int(n_cols))
        self.nnz = -1  # not known before a pass

    @property
    def n_shards(self) -> int:
        return self.base.n_shards

    def __iter__(self) -> Iterator[Shard]:
        for s in self.base:
            Y = sp.csr_matrix(self.fn(s.Y), dtype=np.int8)
            yield Shard(s.start, Y, Y.astype(np.float32))


def write_shard(folder: Path, i: int, start: int, scores: sp.csr_matrix) -> Path:
    """Write shard ``i`` (its scores, CSR with sorted indices; ``Y`` is their pattern) into ``folder``."""
    path = folder / f"part-{i:05d}.npz"
    np.savez(path, start=np.int64(start), n_rows=np.int64(scores.shape[0]), indptr=scores.indptr.astype(np.int64),
             indices=scores.indices.astype(np.int32), data=scores.data.astype(np.float32))
    return path


class ShardedPositives(Positives):
    """Shards on disk, one ``.npz`` per sample range, loaded one at a time (see :func:`write_shard`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        meta = json.loads((self.folder / META).read_text())
        self.shape = (int(meta["n_samples"]), int(meta["n_labels"]))
        self.nnz = int(meta["nnz"])
        self.parts = [self.folder / p for p in meta["parts"]]

    @staticmethod
    def finish(folder: Path, shape: tuple[int, int], parts: list[Path], nnz: int) -> ShardedPositives:
        """Record the store's metadata (last, so a folder without it was never finished)."""
        meta = {"n_samples": int(shape[0]), "n_labels": int(shape[1]), "nnz": int(nnz), "parts": [p.name for p in parts]}
        (folder / META).write_text(json.dumps(meta))
        return ShardedPositives(folder)

    @property
    def n_shards(self) -> int:
        return len(self.parts)

    def shard(self, i: int) -> Shard:
        with np.load(self.parts[i]) as z:
            n_rows = int(z["n_rows"])
            S = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(n_rows, self.shape[1]))
            start = int(z["start"])
        Y = sp.csr_matrix((np.ones(len(S.data), dtype=np.int8), S.indices, S.indptr), shape=S.shape)
        return Shard(start, Y, S)

    def __iter__(self) -> Iterator[Shard]:
        for i in range(len(self.parts)):
            yield self.shard(i)

    def copy_to(self, folder: Path) -> None:
        """Copy the store (its parts, then its metadata) into ``folder`` (hard links where the disk allows)."""
        folder.mkdir(parents=True)
        for p in [*self.parts, self.folder / META]:
            try:
                os.link(p, folder / p.name)
            except OSError:
                shutil.copy2(p, folder / p.name)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
