"""The watchlist: categories of sensitive labels with a harm weight, and its expansion over a vocabulary.

A term matches a vocabulary label when it equals the label id or its name (case-insensitive,
underscores and hyphens read as spaces). The expansion adds vocabulary labels whose name embedding
is within ``expand.min_similarity`` (cosine) of a term, at most ``expand.max_per_term`` per term:
the caller does the nearest-neighbour search on the label index and passes the results in, so this
module stays free of models and indexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tagscan.config import DEFAULT_WATCHLIST
from tagscan.errors import DataError
from tagscan.yamlio import safe_load_yaml

__all__ = [
    "DEFAULT_WATCHLIST",
    "ExpandConfig",
    "WatchAssignment",
    "WatchCategory",
    "WatchOutcome",
    "Watchlist",
    "assign_watch_categories",
    "load_watchlist",
    "normalise_term",
    "watch_labels",
]



class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatchCategory(_Model):
    weight: float = Field(gt=0.0, le=1.0)
    description: str = ""
    terms: list[str] = Field(min_length=1)


class ExpandConfig(_Model):
    min_similarity: float = Field(default=0.7, ge=0.0, le=1.0)
    max_per_term: int = Field(default=10, ge=0, le=1000)


class Watchlist(_Model):
    version: int = 1
    expand: ExpandConfig = Field(default_factory=ExpandConfig)
    person_labels: list[str] = Field(default_factory=list)
    categories: dict[str, WatchCategory] = Field(min_length=1)
    path: Path | None = Field(default=None, exclude=True)

    def terms(self) -> tuple[list[str], list[str]]:
        """All (term, category) pairs, flattened, in file order."""
        terms, cats = [], []
        for name, cat in self.categories.items():
            for t in cat.terms:
                terms.append(t)
                cats.append(name)
        return terms, cats


_SEP = re.compile(r"[\s_\-]+")


def normalise_term(s: str) -> str:
    return _SEP.sub(" ", str(s).strip().lower())


def load_watchlist(path: Path) -> Watchlist:
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a watchlist file (config key scan.watchlist); point it at a YAML file or use 'default'")
    if not path.is_file():
        raise DataError(f"{path}: watchlist file not found (config key scan.watchlist); fix the path or use 'default'")
    raw = safe_load_yaml(path, "watchlist", DataError)
    if raw is None:
        raise DataError(f"{path}: the watchlist is empty; write a mapping with a 'categories' key (see configs/watchlist.yaml)")
    if not isinstance(raw, dict):
        raise DataError(f"{path}: a watchlist is a YAML mapping with a 'categories' key; found {type(raw).__name__}")
    try:
        wl = Watchlist.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            raise DataError(f"{path}: unknown watchlist key '{key}'; remove it (see configs/watchlist.yaml)") from exc
        raise DataError(f"{path}: watchlist key '{key}': {err.get('msg')}; fix it (see configs/watchlist.yaml)") from exc
    return wl.model_copy(update={"path": path})


@dataclass(frozen=True)
class WatchAssignment:
    """Per label of the label index: its watchlist category (None if none), weight, and why."""

    category: np.ndarray  # object array: category name or None
    weight: np.ndarray  # float64, 0 where no category
    matched_term: np.ndarray  # object array: the term that matched, or None
    similarity: np.ndarray  # float64: 1.0 for exact matches, cosine for expanded ones, 0 otherwise

    @property
    def mask(self) -> np.ndarray:
        return self.weight > 0


def assign_watch_categories(
    watchlist: Watchlist,
    labels: np.ndarray,
    label_names: np.ndarray,
    *,
    neighbor_ids: np.ndarray | None = None,
    neighbor_sims: np.ndarray | None = None,
) -> WatchAssignment:
    """Give each label the heaviest watchlist category it matches.

    ``neighbor_ids`` / ``neighbor_sims`` (terms x k, from a search of the label index with the term
    embeddings, in the order of ``watchlist.terms()``) drive the expansion; without them only exact
    matches count. A label matched by several categories takes the heaviest.
    """
    terms, cats = watchlist.terms()
    L = len(labels)
    category = np.full(L, None, dtype=object)
    weight = np.zeros(L, dtype=np.float64)
    matched = np.full(L, None, dtype=object)
    sim = np.zeros(L, dtype=np.float64)

    def offer(j: int, t: int, s: float) -> None:
        w = watchlist.categories[cats[t]].weight
        if w > weight[j] or (w == weight[j] and s > sim[j]):
            category[j], weight[j], matched[j], sim[j] = cats[t], w, terms[t], s

    lookup: dict[str, list[int]] = {}
    for j, (lab, name) in enumerate(zip(labels, label_names)):
        for key in {normalise_term(lab), normalise_term(name)}:
            lookup.setdefault(key, []).append(j)
    for t, term in enumerate(terms):
        for j in lookup.get(normalise_term(term), ()):
            offer(j, t, 1.0)
    if neighbor_ids is not None and neighbor_sims is not None and watchlist.expand.max_per_term > 0:
        k = min(watchlist.expand.max_per_term, neighbor_ids.shape[1])
        for t in range(len(terms)):
            for j, s in zip(neighbor_ids[t, :k], neighbor_sims[t, :k]):
                if j >= 0 and s >= watchlist.expand.min_similarity:
                    offer(int(j), t, float(s))
    return WatchAssignment(category=category, weight=weight, matched_term=matched, similarity=sim)


@dataclass(frozen=True)
class WatchOutcome:
    """The watchlist applied to one label index: the assignment, the watchlist's person labels, and what it did."""

    assignment: WatchAssignment
    person_labels: tuple[str, ...]
    path: Path | None
    categories: dict[str, float]
    labels_matched: int
    labels_expanded: int


def watch_labels(
    path: Path | None,
    labels: np.ndarray,
    label_names: np.ndarray,
    *,
    search: Callable[[list[str], int], tuple[np.ndarray, np.ndarray]] | None = None,
) -> WatchOutcome:
    """Load the watchlist at ``path`` (None: no watchlist) and assign its categories to ``labels``.

    ``search(terms, k)`` returns the (similarities, label ids) of each term's ``k`` nearest labels in the label
    index; without it only exact matches count."""
    L = len(labels)
    if path is None:
        empty = WatchAssignment(
            category=np.full(L, None, dtype=object), weight=np.zeros(L), matched_term=np.full(L, None, dtype=object),
            similarity=np.zeros(L),
        )
        return WatchOutcome(empty, (), None, {}, 0, 0)
    wl = load_watchlist(path)
    terms, _ = wl.terms()
    ids = sims = None
    if search is not None and wl.expand.max_per_term > 0 and len(terms):
        sims, ids = search(terms, min(wl.expand.max_per_term, L))
    wa = assign_watch_categories(wl, labels, label_names, neighbor_ids=ids, neighbor_sims=sims)
    return WatchOutcome(
        assignment=wa,
        person_labels=tuple(wl.person_labels),
        path=path,
        categories={k: v.weight for k, v in wl.categories.items()},
        labels_matched=int((wa.similarity == 1.0).sum()),
        labels_expanded=int(((wa.similarity < 1.0) & wa.mask).sum()),
    )
