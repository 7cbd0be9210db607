"""Expected associations: findings whose label restates the group's own value, or that users listed as benign.

A label that names its group's value ('man' on gender=man, 'child' on age_group=child) is over-represented
there by construction: it is not harm, and ranking it medium costs review time. :func:`expected_reasons`
recognises it through the label index (the label's id or name equals one of the group's values, or it is
among the nearest labels of the label that does, standing out by the watchlist's expansion rule), and applies
the user's ``scan.benign`` rules (a label id, an optional group, a reason). Pure: arrays in, reasons out.
Watchlist labels are never recognised as restating a value (a harmful label is not made benign by
resembling a group's name); only an explicit ``scan.benign`` rule covers them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tagscan.errors import DataError
from tagscan.scan.watchlist import normalise_term, standout_neighbours

__all__ = ["BenignLike", "expected_reasons", "restating_pairs"]

log = logging.getLogger(__name__)

#: A neighbour of a value's label restates the value when it stands out this far (the watchlist defaults).
NEIGHBOUR_CLOSENESS = 0.8
NEIGHBOUR_ZSCORE = 3.0
NEIGHBOURS = 5


class BenignLike(Protocol):
    label: str
    group: str | None
    reason: str


def _parts(group: str) -> list[tuple[str, str]]:
    out = []
    for part in str(group).split(" & "):
        if "=" in part:
            a, v = part.split("=", 1)
            out.append((a.strip(), v.strip()))
    return out


def expected_reasons(
    labels: np.ndarray,
    label_names: np.ndarray,
    label_idx: np.ndarray,
    group_ids: np.ndarray,
    group_kinds: np.ndarray,
    *,
    label_vectors: np.ndarray | None = None,
    watch_mask: np.ndarray | None = None,
    benign: Sequence[BenignLike] = (),
) -> np.ndarray:
    """Per finding (``label_idx`` into ``labels``, ``group_ids`` / ``group_kinds`` of its group): why its
    association is expected, or None.

    A ``scan.benign`` rule applies to its label on its group, on every group that contains its group's values
    (``gender=man`` covers ``gender=man & skin_tone=dark``), or on every group when it names none. A rule
    whose label is not in the vocabulary raises :class:`DataError`.
    """
    labels = np.asarray(labels, dtype=object)
    n = len(label_idx)
    out = np.full(n, None, dtype=object)
    index = {str(lab): j for j, lab in enumerate(labels)}
    rules: dict[int, list[BenignLike]] = {}
    for i, rule in enumerate(benign):
        if str(rule.label) not in index:
            raise DataError(
                f"config key scan.benign[{i}]: label '{rule.label}' is not in the vocabulary; "
                "use a label id from data.vocabulary or remove the rule"
            )
        rules.setdefault(index[str(rule.label)], []).append(rule)
    # Labels that name a value, and their stand-out neighbours (by the label index).
    by_name: dict[str, list[int]] = {}
    for j, (lab, name) in enumerate(zip(labels, label_names)):
        for key in {normalise_term(lab), normalise_term(name)}:
            by_name.setdefault(key, []).append(j)
    values = {normalise_term(v) for g, k in zip(group_ids, group_kinds) if k != "cluster" for _, v in _parts(g)}
    restates: dict[str, dict[int, str]] = {}
    for v in values:
        own = by_name.get(v, [])
        restates[v] = {j: f"label '{labels[j]}' names the group's value '{v}'" for j in own}
        if own and label_vectors is not None and len(labels) > 1:
            sims = label_vectors[own] @ label_vectors.T
            rows, cols, _ = standout_neighbours(
                sims, min_closeness=NEIGHBOUR_CLOSENESS, min_zscore=NEIGHBOUR_ZSCORE, k=NEIGHBOURS + 1
            )
            for r, j in zip(rows, cols):
                restates[v].setdefault(
                    int(j), f"label '{labels[j]}' is among the nearest labels of '{labels[own[r]]}' "
                    f"(cosine {float(sims[r, j]):.2f}), which names the group's value '{v}'"
                )
    watch = np.zeros(len(labels), bool) if watch_mask is None else np.asarray(watch_mask, bool)
    for t in range(n):
        j, gid, kind = int(label_idx[t]), str(group_ids[t]), str(group_kinds[t])
        parts = set(_parts(gid))
        for rule in rules.get(j, ()):
            if rule.group is None or (parts and set(_parts(rule.group)) <= parts) or rule.group == gid:
                out[t] = f"benign (scan.benign): {rule.reason}"
                break
        if out[t] is not None or kind == "cluster" or watch[j]:
            continue
        for _, v in sorted(parts):
            why = restates.get(normalise_term(v), {}).get(j)
            if why is not None:
                out[t] = f"expected: {why}"
                break
    return out


def restating_pairs(
    labels: np.ndarray,
    label_names: np.ndarray,
    group_ids: np.ndarray,
    group_kinds: np.ndarray,
    watch_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(group index, label index) of every pair whose label's id or name is one of the group's own values.

    Such a label is explained by the group itself ('man' on gender=man): a detector that asks whether
    something other than the group explains the label (alignment_gap's similarity) has nothing to test there.
    Clusters have no values; watchlist labels are never paired (as in :func:`expected_reasons`).
    """
    by_name: dict[str, list[int]] = {}
    watch = np.zeros(len(labels), bool) if watch_mask is None else np.asarray(watch_mask, bool)
    for j, (lab, name) in enumerate(zip(labels, label_names)):
        if watch[j]:
            continue
        for key in {normalise_term(lab), normalise_term(name)}:
            by_name.setdefault(key, []).append(j)
    gs, ls = [], []
    for g, (gid, kind) in enumerate(zip(group_ids, group_kinds)):
        if kind == "cluster":
            continue
        for j in sorted({j for _, v in _parts(str(gid)) for j in by_name.get(normalise_term(v), ())}):
            gs.append(g)
            ls.append(j)
    return np.asarray(gs, dtype=np.int64), np.asarray(ls, dtype=np.int64)
