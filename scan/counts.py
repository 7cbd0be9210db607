"""Counts of every (group, label) cell from one sparse product.

``C = G.T @ Y`` gives the members of each group that received each label; ``U.T @ Y`` gives each
label's count within each universe (few universes, so that table is small and dense). Only the
non-zero cells of ``C`` are materialised; the dense groups x labels table is never built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagscan.scan.groups import Groups

__all__ = ["CellCounts", "count_cells"]


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


def count_cells(groups: Groups, Y: sp.spmatrix) -> CellCounts:
    """Count every non-zero (group, label) cell of ``Y`` (samples x labels, 0/1)."""
    Yi = sp.csr_matrix(Y, dtype=np.int64)
    G = sp.csc_matrix(groups.membership, dtype=np.int64)
    C = (G.T @ Yi).tocoo()  # groups x labels, int64
    keep = C.data > 0
    g = C.row[keep].astype(np.int64)
    lab = C.col[keep].astype(np.int64)
    cnt = C.data[keep].astype(np.int64)
    order = np.lexsort((lab, g))
    g, lab, cnt = g[order], lab[order], cnt[order]
    U = sp.csc_matrix(groups.universes, dtype=np.int64)
    UL = np.asarray((U.T @ Yi).todense(), dtype=np.int64)  # universes x labels (small)
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
