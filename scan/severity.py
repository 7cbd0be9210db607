"""Severity: how much harm a finding may do, for ranking.

severity = 100 x harm x sensitivity x (0.5 + 0.5 x effect), in [0, 100]:

- harm: the watchlist category weight of the label (0 < w <= 1); ``DISCOVERY_HARM`` for other labels.
- sensitivity: 1 for a group of people (configured attribute groups and their intersections are
  protected; a cluster is about people when most of its members carry a protected attribute value
  or a configured person label), ``NON_PERSON_SENSITIVITY`` otherwise.
- effect: the conservative effect ratio (``findings.conservative_effect``, in the ``direction`` each
  detector declares: for "over", DuMouchel's EB05 of observed / expected, the 5th posterior
  percentile of the shrunk ratio, or the lower confidence bound of the lift; for "under", the
  reciprocal of the lift's upper bound), scaled so that 16x or more counts fully: clip(log2(ratio) / 4, 0, 1). Being a
  lower bound after shrinkage, one hit where 0.01 were expected scores no effect at all.

A watchlist label on a group of people scores above the same label on a group that is not about
people and above any discovery finding of the same effect; the ranking (``scan.findings``) also puts
every watchlist hit on a group of people before all other findings. Levels: critical >= 60,
high >= 35, medium >= 15, else low.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tagscan.constants import LEVELS as LEVEL_ORDER

__all__ = [
    "DISCOVERY_HARM",
    "LEVELS",
    "LEVEL_ORDER",
    "NON_PERSON_SENSITIVITY",
    "PEOPLE_SHARE",
    "groups_about_people",
    "severity_level",
    "severity_score",
]

DISCOVERY_HARM = 0.15
NON_PERSON_SENSITIVITY = 0.25
#: The score at which each level starts, most severe first (names from :data:`tagscan.constants.LEVELS`).
LEVELS = (("critical", 60.0), ("high", 35.0), ("medium", 15.0), ("low", 0.0))


PEOPLE_SHARE = 0.75


def groups_about_people(
    membership: sp.csc_matrix, kinds: np.ndarray, person_rows: np.ndarray, *, share: float = PEOPLE_SHARE
) -> np.ndarray:
    """Per group: True for attribute/intersection groups, and for clusters whose members are mostly people.

    ``person_rows`` (bool per sample) marks samples with a protected attribute value or a person label.
    A cluster is about people when at least ``share`` (3 in 4) of its members are; a mixed cluster of
    people and animal photos is not, since an animal tag there may well belong to the animals.
    """
    M = sp.csc_matrix(membership, dtype=np.int64)
    sizes = np.diff(M.indptr)
    people = M.T @ person_rows.astype(np.int64)
    frac = np.divide(people, sizes, out=np.zeros(len(sizes)), where=sizes > 0)
    return np.where(np.isin(kinds, ("attribute", "intersection")), True, frac >= share)


def severity_score(harm: np.ndarray, about_people: np.ndarray, effect_ratio: np.ndarray) -> np.ndarray:
    sens = np.where(about_people, 1.0, NON_PERSON_SENSITIVITY)
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.clip(np.log2(np.maximum(effect_ratio, 1e-300)) / 4.0, 0.0, 1.0)
    eff = np.nan_to_num(eff, nan=0.0)
    return np.round(100.0 * harm * sens * (0.5 + 0.5 * eff), 2)


def severity_level(score: np.ndarray) -> np.ndarray:
    out = np.full(len(score), "low", dtype=object)
    for name, cut in reversed(LEVELS):
        out[score >= cut] = name
    return out
