"""Severity: how much harm a finding may do, for ranking.

severity = 100 x harm x sensitivity x (0.5 + 0.5 x effect), in [0, 100]:

- harm: the watchlist category weight of the label (0 < w <= 1); ``DISCOVERY_HARM`` for other labels,
  for under-representation (a label applied less often is not the label's harm) and for a watchlist hit
  on people whose conservative effect stays below ``scan.watchlist_min_effect`` (default 1.5).
- sensitivity: 1 for a group about people, ``NON_PERSON_SENSITIVITY`` otherwise. A group is about people
  when at least 3 in 4 of its members show people (:func:`groups_about_people`): a protected attribute
  (``groups.protected``) is set, or a person label of the watchlist was predicted. Groups of protected
  attributes and their intersections are about people by definition (all their members have a protected
  value); a group of any other attribute (region, source, device) or a cluster is about people only when
  most of its members are.
- effect: the conservative effect ratio the finding's own detector tested (``findings.conservative_effect``:
  a detector's ``effect_low`` when it gives one; else DuMouchel's EB05, the 5th posterior percentile of the
  shrunk observed / expected; else the lower confidence bound of the lift; for "under", the reciprocal of
  the lift's upper bound), scaled so that 16x or more counts fully: clip(log2(ratio) / 4, 0, 1). Being a
  lower bound after shrinkage, one hit where 0.01 were expected scores no effect at all.

The score saturates at 100 from 16x, so the ranking (``scan.findings``) breaks ties by the conservative
effect, then by q: among strong findings the stronger comes first. A watchlist hit on a group of people
with a material effect (conservative effect >= ``scan.watchlist_min_effect``) is ranked before every other
finding. Levels: critical >= 60, high >= 35, medium >= 15, else low.
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


def groups_about_people(membership: sp.csc_matrix, person_rows: np.ndarray, *, share: float = PEOPLE_SHARE) -> np.ndarray:
    """Per group: True when at least ``share`` (3 in 4) of its members show people.

    ``person_rows`` (bool per sample) marks samples with a protected attribute value or a person label
    (:func:`tagscan.scan.engine.person_rows`), so a protected attribute's groups and their intersections
    are about people by definition. A group of another attribute (region) or a cluster mixing people and
    animal photos is not: an animal tag there may well belong to the animals.
    """
    M = sp.csc_matrix(membership, dtype=np.int64)
    sizes = np.diff(M.indptr)
    people = M.T @ np.asarray(person_rows, dtype=np.int64)
    frac = np.divide(people, sizes, out=np.zeros(len(sizes)), where=sizes > 0)
    return (frac >= share) & (sizes > 0)


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
