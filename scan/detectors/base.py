"""Detector protocol, scan context, typed results and the registry.

A detector is a class with a unique ``name``, a pydantic ``Config`` (its settings, read from
``scan.detectors.<name>`` in the YAML config; defaults are what it does when nothing is set), the
inputs it ``requires``, the ``direction`` of the effect its rows carry (``"over"``: severity reads the
lower bound of the ratio; ``"under"``: the reciprocal of its upper bound), and a
``run(context, config) -> DetectorResult`` that mutates nothing. Registration refuses duplicate
names; asking for an unknown name lists the valid ones.

Adding a detector is one module in this package (the class, decorated with :func:`register`) and one
import in the package ``__init__``: its settings are validated by :func:`tagscan.scan.detectors.resolve`,
it is run by :func:`tagscan.scan.findings.scan`, and its families and facts land in run.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict
from scipy import special

from tagscan.inputs.shards import InMemoryPositives, Positives
from tagscan.scan.counts import CellCounts
from tagscan.scan.groups import Groups
from tagscan.scan.stats import GPSPrior

__all__ = [
    "Change",
    "Detector",
    "DetectorConfig",
    "DetectorResult",
    "Direction",
    "FamilyRecord",
    "NEEDS",
    "ScanContext",
    "available_detectors",
    "cell_table",
    "gap_change",
    "get_detector",
    "rate_change",
    "register",
    "sparse_values_at",
]

Direction = Literal["over", "under"]

#: What a detector may require, and how a skipped detector names it to the user.
NEEDS = {
    "truth": "ground truth (data.truth)",
    "vectors": "input embeddings",
    "label_vectors": "label embeddings",
    "shared_space": "inputs and labels embedded by the same model",
}

CORRECTIONS = ("bh", "by")


@dataclass(frozen=True, eq=False)
class ScanContext:
    """Everything a detector may read. Arrays are shared: detectors must not modify them.

    ``watch_weight`` / ``watch_category`` are per label (0 / None outside the watchlist). Shared by every
    detector: ``fdr`` and ``correction`` (``"bh"`` Benjamini-Hochberg, ``"by"`` Benjamini-Yekutieli) of
    each family, and ``shared_space`` (inputs and labels were embedded by the same model, so their
    vectors can be compared). ``truth_rows`` (bool per sample, optional) marks the samples that have
    ground truth (None: every sample). ``gps_prior`` (optional) is a DuMouchel prior fitted elsewhere,
    used instead of fitting one on this scan's cells. ``positives`` (optional) is where the predictions
    live when they are read shard by shard (out of core); ``Y`` and ``scores`` are then None, and
    detectors read them through :meth:`positive_store`, :meth:`score_columns` or :meth:`matrices`.
    """

    Y: sp.csr_matrix | None
    scores: sp.csr_matrix | None
    labels: np.ndarray
    label_names: np.ndarray
    groups: Groups
    counts: CellCounts
    watch_weight: np.ndarray
    watch_category: np.ndarray
    fdr: float = 0.05
    correction: str = "bh"
    truth: sp.csr_matrix | None = None
    truth_rows: np.ndarray | None = None
    vectors: np.ndarray | None = None
    label_vectors: np.ndarray | None = None
    shared_space: bool = False
    group_about_people: np.ndarray | None = None  # bool per group; None = every group
    gps_prior: GPSPrior | None = None
    detectors_run: tuple[str, ...] = ()  # the detectors of this scan (set by the engine), for shared work
    positives: Positives | None = None

    def positive_store(self) -> Positives:
        """The predictions, shard by shard (one shard when they are in memory)."""
        if self.positives is not None:
            return self.positives
        return InMemoryPositives(self.Y, self.scores)

    def matrices(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``Y`` and ``scores`` whole, in memory (out of core, this reads every shard: memory grows with
        the prediction rows)."""
        if self.Y is not None:
            return sp.csr_matrix(self.Y), sp.csr_matrix(self.scores)
        return self.positive_store().materialise()

    def score_columns(self, cols: np.ndarray) -> sp.csc_matrix:
        """The scores as (samples x labels) CSC with (at least) the labels ``cols`` filled."""
        if self.Y is not None:
            return sp.csc_matrix(self.scores)
        return self.positive_store().columns(cols)[1]

    def shape(self) -> tuple[int, int]:
        """(samples, labels) of the predictions."""
        return tuple(self.Y.shape) if self.Y is not None else tuple(self.positive_store().shape)

    def __post_init__(self) -> None:
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"ScanContext.correction must be 'bh' or 'by'; found {self.correction!r}. Use 'bh' "
                "(Benjamini-Hochberg) or 'by' (Benjamini-Yekutieli, for arbitrary dependence)."
            )

    def people_groups(self) -> np.ndarray:
        """Bool per group: is the group about people (set by the engine before detectors run)."""
        if self.group_about_people is None:
            return np.ones(len(self.groups), dtype=bool)
        return self.group_about_people

    def people_views(self) -> tuple[np.ndarray, np.ndarray]:
        """(is a people view, has a people view): bool per group (see :func:`tagscan.scan.groups.people_views`)."""
        n = len(self.groups)
        view_of = self.groups.view_of
        if view_of is None:
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        is_view = view_of >= 0
        has_view = np.zeros(n, dtype=bool)
        has_view[view_of[is_view]] = True
        return is_view, has_view

    def family_blocks(self, label_mask: np.ndarray | None = None) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        """The two error budgets as unions of (label mask, group mask) blocks.

        ``watchlist``: watchlist labels on groups of people (where a watchlist label does harm), each
        compared with other people: a group about people whose universe also holds inputs without people
        (a cluster, a group of a non-protected attribute) is tested through its people view;
        ``discovery``: every other (label, group) pair, including watchlist labels on groups that
        are not about people (an animal tag on animal photos is an association, not a harm). People
        views carry watchlist labels only.
        """
        lm = np.ones(len(self.labels), dtype=bool) if label_mask is None else label_mask
        watch = self.watch_weight > 0
        people = self.people_groups()
        is_view, has_view = self.people_views()
        return {
            "watchlist": [(watch & lm, people & ~has_view)],
            "discovery": [(~watch & lm, ~is_view), (watch & lm, ~people & ~is_view)],
        }

    def has(self, need: str) -> bool:
        """Whether an input (one of :data:`NEEDS`) is present."""
        present = {
            "truth": self.truth is not None,
            "vectors": self.vectors is not None,
            "label_vectors": self.label_vectors is not None,
            "shared_space": bool(self.shared_space),
        }
        return present[need]


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


@dataclass(frozen=True)
class FamilyRecord:
    """One family of hypotheses, as recorded in run.json's ``families``.

    ``n_pairs``: every (tested group, label with K > 0 in the universe) pair; ``n_testable``: after
    Tarone's filter, the family size used by the correction (``tarone_level`` None for a test without
    that filter).
    """

    name: str
    n_labels: int
    n_pairs: int
    n_testable: int
    tarone_level: float | None
    n_significant: int
    correction: str = "bh"
    alternative: str = "greater"


@dataclass(frozen=True, eq=False)
class DetectorResult:
    """What one detector found.

    ``findings``: its significant cells (:func:`cell_table` rows plus any extra columns); ``families``:
    one record per family it tested (a :class:`FamilyRecord` or a dict with its keys and any more), in
    run.json's ``families``; ``facts``: anything else worth recording (a fitted prior, a summary), in
    run.json's ``detector_facts`` as ``<detector>.<key>``.
    """

    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    families: tuple[FamilyRecord | dict, ...] = ()
    facts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.findings)


class DetectorConfig(BaseModel):
    """Settings of a detector (``scan.detectors.<name>``): unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(NamedTuple):
    """How a finding moved since the baseline run: ``p``, one-sided p-value that it got worse (1 when it
    cannot be judged); ``worse``, whether the estimate moved the harmful way; ``basis``, what was compared
    (for run.json and the report)."""

    p: float
    worse: bool
    basis: str


def rate_change(prev, cur, paired: tuple[int, int] | None, *, worse: str = "up", what: str = "in-group rate") -> Change:
    """The change of a row's ``count`` / ``group_size`` between two runs, ``worse`` ``"up"`` or ``"down"``.

    ``paired`` (lost, gained): the group's members whose prediction of the row's label was lost / gained
    between the runs (same samples): an exact one-sided McNemar test. None: a one-sided Fisher test of the
    two rates (unpaired; conservative when the runs share samples)."""
    from tagscan.scan import stats

    up = worse == "up"
    if paired is not None:
        lost, gained = int(paired[0]), int(paired[1])
        bad, good = (gained, lost) if up else (lost, gained)
        p = float(stats.mcnemar_exact(good, bad))
        return Change(p, bad > good, f"{what} {worse} is worse; paired McNemar ({gained} gained, {lost} lost)")
    k1, n1 = int(cur["count"]), int(cur["group_size"])
    k0, n0 = int(prev["count"]), int(prev["group_size"])
    if up:
        p, bad = float(stats.rate_increase_pvalue(k1, n1, k0, n0)), k1 * n0 > k0 * n1
    else:
        p, bad = float(stats.rate_increase_pvalue(k0, n0, k1, n1)), k0 * n1 > k1 * n0
    return Change(p, bool(bad), f"{what} {worse} is worse; unpaired Fisher ({k0}/{n0} then {k1}/{n1})")


_GAP = re.compile(r"difference ([-+]?[\d.]+) \(95% CI ([-+]?[\d.]+) to ([-+]?[\d.]+)\).*?df=(\d+)")


def _gap(row) -> tuple[float, float] | None:
    """(gap, its standard error) of a finding row: columns when present, else parsed from ``detail``."""
    d, se = row.get("similarity_diff"), row.get("similarity_diff_se")
    if d is not None and se is not None and np.isfinite(d) and np.isfinite(se):
        return float(d), float(se)
    m = _GAP.search(str(row.get("detail") or ""))
    if m is None:
        return None
    d, lo, hi, df = float(m[1]), float(m[2]), float(m[3]), float(m[4])
    return d, (hi - lo) / 2.0 / float(special.stdtrit(max(df, 1.0), 0.975))


def gap_change(prev, cur) -> Change:
    """Rescans of alignment_gap: a one-sided z-test that the similarity gap fell (in-group inputs look even less like the label than before)."""
    a, b = _gap(prev), _gap(cur)
    if a is None or b is None:
        return Change(1.0, False, "similarity gap not recorded in both runs; not compared")
    se = float(np.hypot(a[1], b[1]))
    z = (a[0] - b[0]) / se if se > 0 else 0.0
    return Change(float(special.ndtr(-z)), b[0] < a[0], f"similarity gap down is worse; z-test ({a[0]:+.3f} then {b[0]:+.3f})")


class Detector:
    """Base class. Subclasses set ``name`` (and ``Config``, ``requires``, ``direction``, ``legacy`` when
    they have them) and implement ``run``.

    ``legacy`` maps a setting to the top-level ``scan.<key>`` that set it before detectors had their own
    settings; that key keeps working, and setting both is an error.

    Rescans: :meth:`change` says whether a finding got worse since the baseline. The default reads the row's
    ``count`` / ``group_size`` with ``rate_worse`` (``"up"``: a higher in-group rate is worse; ``"down"``:
    a lower one) and, when ``pairs_predictions`` (the row counts the group's own predictions of its label)
    and both runs scanned the same samples, pairs them (McNemar); a detector whose statistic is something
    else overrides :meth:`change`.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    requires: ClassVar[tuple[str, ...]] = ()
    direction: ClassVar[Direction] = "over"
    legacy: ClassVar[dict[str, str]] = {}
    rate_worse: ClassVar[Literal["up", "down"]] = "up"
    pairs_predictions: ClassVar[bool] = True

    def change(self, prev, cur, paired: tuple[int, int] | None) -> Change:
        """Did the finding get worse from ``prev`` (the baseline's row) to ``cur`` (this run's)? Rows are
        mappings with the findings table's columns; ``paired`` (lost, gained) predictions of the row's label
        among the group's members when both runs scanned the same samples, else None."""
        return rate_change(prev, cur, paired if self.pairs_predictions else None, worse=self.rate_worse)

    def missing(self, ctx: ScanContext, config: DetectorConfig) -> list[str]:
        """What this detector needs and the context (or its settings) lack, in words a user can act on."""
        return [NEEDS[r] for r in self.requires if not ctx.has(r)]

    def run(self, ctx: ScanContext, config: DetectorConfig) -> DetectorResult:  # pragma: no cover - abstract
        raise NotImplementedError


_REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Add a detector class to the registry (a class decorator). Refuses a second class of the same name."""
    if not cls.name:
        raise ValueError(f"detector class {cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a detector named '{cls.name}' is already registered ({_REGISTRY[cls.name].__name__})")
    unknown = [r for r in cls.requires if r not in NEEDS]
    if unknown:
        raise ValueError(
            f"detector '{cls.name}' requires {unknown[0]!r}, which is not an input; requires lists inputs "
            f"only ({', '.join(NEEDS)}); a switch belongs in its Config"
        )
    if cls.rate_worse not in ("up", "down"):
        raise ValueError(f"detector '{cls.name}': rate_worse must be 'up' or 'down', found {cls.rate_worse!r}")
    if cls.direction not in ("over", "under"):
        raise ValueError(f"detector '{cls.name}': direction must be 'over' or 'under', found {cls.direction!r}")
    if not (isinstance(cls.Config, type) and issubclass(cls.Config, DetectorConfig)):
        raise ValueError(f"detector '{cls.name}': Config must be a subclass of DetectorConfig")
    _REGISTRY[cls.name] = cls
    return cls


def get_detector(name: str) -> type[Detector]:
    """The registered class of that name; a KeyError lists the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown detector '{name}'; valid detectors: {valid}") from None


def available_detectors() -> dict[str, type[Detector]]:
    """Every registered detector class by name."""
    return dict(_REGISTRY)
