"""Policies over a run's findings (no output): which fail the CI gate (``--fail-on LEVEL``), and which go to
review (``review.min_level``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tagscan.constants import GATED_NEW, GATED_OPEN, LEVELS, level_rank

__all__ = ["GateResult", "gate", "pair_level_counts", "select_for_review"]


def pair_level_counts(findings: pd.DataFrame, statuses: tuple[str, ...] | None = None) -> dict[str, int]:
    """(label, group) pairs by severity level, each pair once at the level of its most severe finding.

    Rows resolved since the baseline never count; ``statuses`` keeps only rows with those statuses (e.g.
    :data:`~tagscan.constants.GATED_OPEN`). The run record's ``pairs_by_level`` / ``open_pairs_by_level``,
    the gate and every renderer count pairs with this one function."""
    if len(findings) == 0 or "severity_level" not in findings:
        return {}
    f = findings[findings["status"] != "resolved"] if "status" in findings else findings
    if statuses is not None and "status" in f:
        f = f[f["status"].isin(statuses)]
    if len(f) == 0:
        return {}
    rank = f["severity_level"].map(level_rank)
    top = rank.groupby([f["label"], f["group"]], dropna=False, sort=False).max()
    counts = top.map(lambda r: LEVELS[int(r)]).value_counts()
    return {lv: int(counts[lv]) for lv in reversed(LEVELS) if lv in counts.index}


@dataclass(frozen=True, eq=False)
class GateResult:
    """The open (label, group) pairs at or above ``level`` (one row per pair: its first gated finding) and
    ``n_findings``, the gated findings behind them; ``failed`` when there are any."""

    level: str | None
    statuses: tuple[str, ...]
    gated: pd.DataFrame
    n_findings: int = 0

    @property
    def failed(self) -> bool:
        return len(self.gated) > 0

    @property
    def message(self) -> str:
        """One line for stderr naming how many, their statuses, the top one and the way out."""
        if not self.failed:
            return ""
        by_status = self.gated["status"].value_counts()
        detail = ", ".join(f"{int(by_status[s])} {s}" for s in self.statuses if s in by_status.index)
        top = self.gated.iloc[0]
        return (
            f"{len(self.gated)} (label, group) pair(s) at or above '{self.level}' (from {self.n_findings} detector "
            f"finding(s); pairs {detail}; top: {top['label']} on {top['group']}); "
            "failing as --fail-on asks. Fix them, or dismiss benign ones in review (tagscan review push / pull)"
        )


def gate(findings: pd.DataFrame, fail_on: str | None, *, only_new: bool = False) -> GateResult:
    """Open findings (:data:`~tagscan.constants.GATED_OPEN`: everything still there that no reviewer dismissed;
    with ``only_new``, :data:`~tagscan.constants.GATED_NEW`, a ratchet on what changed) at or above ``fail_on``.
    One (label, group) raised by several detectors counts once. ``fail_on`` None: nothing is gated."""
    statuses = GATED_NEW if only_new else GATED_OPEN
    if fail_on is None or len(findings) == 0:
        return GateResult(fail_on, statuses, findings.iloc[0:0])
    rank = findings["severity_level"].map(level_rank)
    gated = findings[(rank >= level_rank(fail_on)) & findings["status"].isin(statuses)]
    return GateResult(fail_on, statuses, gated.drop_duplicates(subset=["label", "group"]), len(gated))


def select_for_review(findings: pd.DataFrame, min_level: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The open findings (not resolved, not dismissed) at or above ``min_level``, and how many open ones were
    left out per level (most severe first). Raises ValueError for an unknown level."""
    floor = level_rank(min_level)
    open_rows = findings[~findings["status"].isin(["resolved", "dismissed"])]
    rank = open_rows["severity_level"].map(LEVELS.index)
    left_out = open_rows[rank < floor]
    below = {lv: int(n) for lv in reversed(LEVELS) if (n := (left_out["severity_level"] == lv).sum())}
    return open_rows[rank >= floor], below
