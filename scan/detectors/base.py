"""Detector protocol, scan context and the registry.

A detector is a class with a unique ``name``, the inputs it ``requires``, and a
``run(context) -> DataFrame`` that returns candidate findings and mutates nothing. Registration
refuses duplicate names; asking for an unknown name lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.scan.counts import CellCounts
from tagscan.scan.groups import Groups

__all__ = [
    "Detector",
    "ScanContext",
    "available_detectors",
    "cell_table",
    "get_detector",
    "register",
    "sparse_values_at",
]


@dataclass(frozen=True, eq=False)
class ScanContext:
    """Everything a detector may read. Arrays are shared: detectors must not modify them.

    ``watch_weight`` / ``watch_category`` are per label (0 / None outside the watchlist).
    """

    Y: sp.csr_matrix
    scores: sp.csr_matrix
    labels: np.ndarray
    label_names: np.ndarray
    groups: Groups
    counts: CellCounts
    watch_weight: np.ndarray
    watch_category: np.ndarray
    fdr: float = 0.05
    truth: sp.csr_matrix | None = None
    vectors: np.ndarray | None = None
    label_vectors: np.ndarray | None = None
    group_about_people: np.ndarray | None = None  # bool per group; None = every group
    options: dict = field(default_factory=dict)

    def people_groups(self) -> np.ndarray:
        """Bool per group: is the group about people (set by the engine before detectors run)."""
        if self.group_about_people is None:
            return np.ones(len(self.groups), dtype=bool)
        return self.group_about_people

    def family_blocks(self, label_mask: np.ndarray | None = None) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        """The two error budgets as unions of (label mask, group mask) blocks.

        ``watchlist``: watchlist labels on groups of people (where a watchlist label does harm);
        ``discovery``: every other (label, group) pair, including watchlist labels on groups that
        are not about people (an animal tag on animal photos is an association, not a harm).
        """
        lm = np.ones(len(self.labels), dtype=bool) if label_mask is None else label_mask
        watch = self.watch_weight > 0
        people = self.people_groups()
        return {
            "watchlist": [(watch & lm, people)],
            "discovery": [(~watch & lm, np.ones(len(people), dtype=bool)), (watch & lm, ~people)],
        }

    def has(self, need: str) -> bool:
        """Whether an input (truth, vectors, label_vectors) or a switched-on option is present."""
        inputs = {
            "truth": self.truth is not None,
            "vectors": self.vectors is not None,
            "label_vectors": self.label_vectors is not None,
        }
        if need in inputs:
            return inputs[need]
        return bool(self.options.get(need))


def sparse_values_at(M: sp.spmatrix, rows: np.ndarray, cols: np.ndarray, *, dtype=np.float64) -> np.ndarray:
    """Values of a sparse matrix at (row, col) pairs (0 where nothing is stored), by sorted keys."""
    C = sp.coo_matrix(M)
    C.sum_duplicates()  # canonical: sorted by (row, col), no duplicates
    keys = C.row.astype(np.int64) * M.shape[1] + C.col
    want = np.asarray(rows, dtype=np.int64) * M.shape[1] + cols
    out = np.zeros(len(want), dtype=dtype)
    if len(keys) and len(want):
        at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = keys[at] == want
        out[hit] = C.data[at[hit]]
    return out


def cell_table(
    *,
    detector: str,
    family: str,
    group_index: np.ndarray,
    label_index: np.ndarray,
    k: np.ndarray,
    n: np.ndarray,
    K: np.ndarray,
    N: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    family_size: int,
    eb05: np.ndarray | float = np.nan,
    ebgm: np.ndarray | float = np.nan,
    **extra,
) -> pd.DataFrame:
    """The rows every detector returns for its significant cells: counts of the 2x2 table (``k`` of
    ``n`` in the group, ``K`` of ``N`` in the universe), rates with Wilson intervals, the lift with its
    Katz interval, the tests, and any ``extra`` detector-specific columns."""
    from tagscan.scan import stats

    out_k, out_n = K - k, N - n
    lift, lift_lo, lift_hi = stats.rate_ratio_ci(k, n, out_k, out_n)
    in_lo, in_hi = stats.wilson_interval(k, n)
    out_lo, out_hi = stats.wilson_interval(out_k, out_n)
    return pd.DataFrame(
        {
            "detector": detector,
            "family": family,
            "group_index": group_index,
            "label_index": label_index,
            "count": k,
            "group_size": n,
            "label_count": K,
            "universe_size": N,
            "expected": n * K / N,
            "rate_in_group": k / n,
            "rate_in_low": in_lo,
            "rate_in_high": in_hi,
            "rate_outside": np.divide(out_k, out_n, out=np.zeros(len(k)), where=out_n > 0),
            "rate_outside_low": out_lo,
            "rate_outside_high": out_hi,
            "lift": lift,
            "lift_low": lift_lo,
            "lift_high": lift_hi,
            "eb05": eb05,
            "ebgm": ebgm,
            "p_value": p,
            "q_value": q,
            "family_size": family_size,
            **extra,
        }
    )


class Detector:
    """Base class. Subclasses set ``name`` and ``requires`` and implement ``run``."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()

    def missing(self, ctx: ScanContext) -> list[str]:
        """What this detector needs and the context lacks, in words a user can act on."""
        return [_NEEDS.get(r, r) for r in self.requires if not ctx.has(r)]

    def run(self, ctx: ScanContext) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError


_NEEDS = {
    "truth": "ground truth (data.truth)",
    "vectors": "input embeddings",
    "label_vectors": "label embeddings",
    "under_representation": "scan.under_representation switched on",
    "shared_space": "inputs and labels embedded by the same model",
}

_REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if not cls.name:
        raise ValueError(f"detector class {cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a detector named '{cls.name}' is already registered ({_REGISTRY[cls.name].__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def get_detector(name: str) -> type[Detector]:
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown detector '{name}'; valid detectors: {valid}") from None


def available_detectors() -> dict[str, type[Detector]]:
    return dict(_REGISTRY)


DetectorFactory = Callable[[], Detector]
