"""Counts of every (group, label) cell from one sparse product.

``C = G.T @ Y`` gives the members of each group that received each label; ``U.T @ Y`` gives each
label's count within each universe (few universes, so that table is small and dense). Only the
non-zero cells of ``C`` are materialised; the dense groups x labels table is never built. ``Y`` may be
:class:`~tagscan.inputs.shards.Positives` read shard by shard (sample ranges): ``C`` is then the sum of
``G[shard].T @ Y[shard]``, so memory is the cells, the groups and one shard, not every prediction row.
:func:`count_shard` is that kernel; :func:`cell_counter` picks where it runs: here (:func:`count_cells`) or,
with ``engine.kind: ray``, as Ray tasks over the shards summed in a tree (:class:`RayCellCounter`, an
adapter over :meth:`tagscan.embed.ray_engine.RaySession.sum_shards`; Ray itself is imported only there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from tagscan.inputs.shards import InMemoryPositives, Positives
from tagscan.progress import progress_bar
from tagscan.scan.groups import Groups

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from tagscan.config import EngineConfig

__all__ = ["CellCounter", "CellCounts", "RayCellCounter", "cell_counter", "count_cells", "count_shard", "finish_counts"]


@dataclass(frozen=True, eq=False)
class CellCounts:
    """Non-zero (group, label) cells and the margins of their 2x2 tables.

    Per cell (parallel int64 arrays): ``group``, ``label``, ``count`` (members with the label),
    ``group_size``, ``label_count`` (samples of the group's universe with the label) and
    ``total`` (size of the universe). ``universe_label_counts`` is (n_universes x n_labels).
    """

    group: np.ndarray
    label: np.ndarray
    count: np.ndarray
    group_size: np.ndarray
    label_count: np.ndarray
    total: np.ndarray
    universe_label_counts: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


def count_shard(G_rows: sp.spmatrix, U_rows: sp.spmatrix, Y: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """The kernel: (groups x labels) counts and (universes x labels) counts of one shard's samples.

    ``G_rows`` / ``U_rows``: the shard's rows of the group and universe membership; ``Y``: its positives.
    """
    Yi = sp.csr_matrix(Y, dtype=np.int64)
    Gt = sp.csr_matrix(sp.csc_matrix(G_rows, dtype=np.int64).T)
    Ut = sp.csr_matrix(sp.csc_matrix(U_rows, dtype=np.int64).T)
    return sp.csr_matrix(Gt @ Yi), np.asarray((Ut @ Yi).todense(), dtype=np.int64)


def count_cells(groups: Groups, Y: sp.spmatrix | Positives) -> CellCounts:
    """Count every non-zero (group, label) cell of ``Y`` (samples x labels, 0/1), shard by shard."""
    pos = Y if isinstance(Y, Positives) else InMemoryPositives(Y, Y)
    G = sp.csr_matrix(groups.membership, dtype=np.int8)  # int64 per shard only, in the kernel
    U = sp.csr_matrix(groups.universes, dtype=np.int8)
    C, UL = None, None
    with progress_bar(pos.n_shards if pos.n_shards > 1 else 0, "shards counted") as advance:
        for s in pos:
            c, ul = count_shard(G[s.start : s.stop], U[s.start : s.stop], s.Y)
            C = c if C is None else C + c
            UL = ul if UL is None else UL + ul
            advance(1)
    if C is None:
        C = sp.csr_matrix((len(groups), pos.shape[1]), dtype=np.int64)
        UL = np.zeros((U.shape[1], pos.shape[1]), dtype=np.int64)
    return finish_counts(groups, C, UL)


def finish_counts(groups: Groups, C: sp.spmatrix, UL: np.ndarray) -> CellCounts:
    """The cell table from the summed (groups x labels) counts ``C`` and (universes x labels) ``UL``."""
    C = sp.coo_matrix(C)
    C.sum_duplicates()
    keep = C.data > 0
    g = C.row[keep].astype(np.int64)
    lab = C.col[keep].astype(np.int64)
    cnt = C.data[keep].astype(np.int64)
    order = np.lexsort((lab, g))
    g, lab, cnt = g[order], lab[order], cnt[order]
    UL = np.asarray(UL, dtype=np.int64)
    uni = groups.universe[g]
    return CellCounts(
        group=g,
        label=lab,
        count=cnt,
        group_size=groups.sizes[g],
        label_count=UL[uni, lab],
        total=groups.universe_sizes[g],
        universe_label_counts=UL,
    )


#: A counting function: the cells of ``positives`` for ``groups`` (:func:`count_cells` and its engines).
CellCounter = Callable[[Groups, Positives], CellCounts]


class RayCellCounter:
    """Counting on Ray (``engine.kind: ray``): :func:`count_shard` as one task per shard, summed in a tree of
    pairwise tasks, then :func:`finish_counts` here; a bar counts the shards as they finish.

    After a call, ``n_tasks`` is the number of shard tasks it ran.
    """

    where = "ray"

    def __init__(self, engine: EngineConfig) -> None:
        self.engine = engine
        self.n_tasks = 0

    def __call__(self, groups: Groups, positives: Positives) -> CellCounts:
        from tagscan.embed.ray_engine import RaySession

        G = sp.csr_matrix(groups.membership, dtype=np.int8)
        U = sp.csr_matrix(groups.universes, dtype=np.int8)
        with RaySession(self.engine) as session:
            C, UL = session.sum_shards(count_shard, [G, U], positives, bar="counting shards on Ray")
            self.n_tasks = session.n_tasks
        return finish_counts(groups, C, UL)


def cell_counter(engine: EngineConfig | None) -> CellCounter:
    """Where the counting runs: :func:`count_cells` here, or a :class:`RayCellCounter` when ``engine.kind`` is ray."""
    return RayCellCounter(engine) if engine is not None and engine.kind == "ray" else count_cells
