"""The watchlist: categories of sensitive labels with a harm weight, and its expansion over a vocabulary.

A term matches a vocabulary label when it equals the label id or its name (case-insensitive,
underscores and hyphens read as spaces). The expansion adds vocabulary labels whose name embedding
stands out among the term's similarities to the whole vocabulary of this model: its closeness
``(cos - median) / (1 - median)`` (the share of the way from the term's typical label to identity) is at
least ``expand.min_closeness`` and its robust z-score ``(cos - median) / (1.4826 * MAD)`` at least
``expand.min_zscore``; at most ``expand.max_per_term`` per term, and (optionally) an absolute cosine of at
least ``expand.min_similarity``. The rule is relative to the embedder because absolute cosines are not
comparable across models: CLIP's text tower puts unrelated "a photo of a X" prompts at 0.7-0.9, so an
absolute 0.8 pulled 'beach' and 'tree' into 'dehumanizing'. The caller passes the term and label
vectors (:func:`watch_labels`), so this module stays free of models and indexes.
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
    "MIN_VOCABULARY_FOR_EXPANSION",
    "ExpandConfig",
    "WatchAssignment",
    "WatchCategory",
    "WatchOutcome",
    "Watchlist",
    "assign_watch_categories",
    "load_watchlist",
    "normalise_term",
    "standout_neighbours",
    "watch_labels",
]



class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatchCategory(_Model):
    weight: float = Field(gt=0.0, le=1.0)
    description: str = ""
    terms: list[str] = Field(min_length=1)


class ExpandConfig(_Model):
    """``expand:`` of a watchlist. ``min_closeness``: the share of the way from the term's median cosine over
    the vocabulary to 1 that a label's cosine must cover; ``min_zscore``: how far (in robust standard
    deviations) it must stand out above that median; ``min_similarity``: an extra
    absolute cosine floor (older watchlists set only this one; it no longer decides alone);
    ``max_per_term``: at most this many expanded labels per term (0 switches expansion off)."""

    min_closeness: float = Field(default=0.8, gt=0.0, le=1.0)
    min_zscore: float = Field(default=3.0, ge=0.0)
    min_similarity: float = Field(default=0.0, ge=-1.0, le=1.0)
    max_per_term: int = Field(default=10, ge=0, le=1000)


#: Below this many labels a vocabulary's similarity distribution says too little: no expansion.
MIN_VOCABULARY_FOR_EXPANSION = 20


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


def standout_neighbours(
    sims: np.ndarray, *, min_closeness: float, min_zscore: float, k: int, min_similarity: float = -1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query row of ``sims`` (queries x vocabulary cosines): the labels that stand out.

    A label stands out when, against the row (every label of the vocabulary), its closeness
    ``(cos - median) / (1 - median)`` is at least ``min_closeness``, its robust z-score
    ``(cos - median) / (1.4826 * MAD)`` at least ``min_zscore`` and its cosine at least ``min_similarity``; at most
    ``k`` per row, most similar first. Median and MAD are used (not mean and SD) so that the few true
    neighbours do not widen the spread they are measured against. Returns (row, label, z) arrays, row-major.
    A vocabulary smaller than :data:`MIN_VOCABULARY_FOR_EXPANSION` gives nothing (its spread is not known).
    """
    sims = np.asarray(sims, dtype=np.float64)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if sims.ndim != 2 or sims.shape[1] < MIN_VOCABULARY_FOR_EXPANSION or k <= 0 or sims.shape[0] == 0:
        return empty
    med = np.median(sims, axis=1, keepdims=True)
    mad = 1.4826 * np.median(np.abs(sims - med), axis=1, keepdims=True)
    z = (sims - med) / np.maximum(mad, 1e-6)
    close = (sims - med) / np.maximum(1.0 - med, 1e-6)
    ok = (close >= min_closeness) & (z >= min_zscore) & (sims >= min_similarity)
    rows, cols, zs = [], [], []
    for t in np.flatnonzero(ok.any(axis=1)):
        cand = np.flatnonzero(ok[t])
        cand = cand[np.lexsort((cand, -sims[t, cand]))][:k]
        rows.append(np.full(len(cand), t, np.int64))
        cols.append(cand.astype(np.int64))
        zs.append(z[t, cand])
    if not rows:
        return empty
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(zs)


def assign_watch_categories(
    watchlist: Watchlist,
    labels: np.ndarray,
    label_names: np.ndarray,
    *,
    term_sims: np.ndarray | None = None,
) -> WatchAssignment:
    """Give each label the heaviest watchlist category it matches.

    ``term_sims`` (terms x labels cosines, in the order of ``watchlist.terms()``, every label of the
    vocabulary) drives the expansion (:func:`standout_neighbours` with the watchlist's ``expand``);
    without it only exact matches count. A label matched by several categories takes the heaviest.
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
    ex = watchlist.expand
    if term_sims is not None and ex.max_per_term > 0:
        rows, cols, _ = standout_neighbours(
            term_sims, min_closeness=ex.min_closeness, min_zscore=ex.min_zscore, k=ex.max_per_term, min_similarity=ex.min_similarity
        )
        for t, j in zip(rows, cols):
            offer(int(j), int(t), min(float(term_sims[t, j]), 1.0 - 1e-9))
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
    embed_terms: Callable[[list[str]], np.ndarray] | None = None,
    label_vectors: np.ndarray | None = None,
) -> WatchOutcome:
    """Load the watchlist at ``path`` (None: no watchlist) and assign its categories to ``labels``.

    ``embed_terms(terms)`` embeds texts in the label space and ``label_vectors`` (L2-normalised, one row per
    label) are the label index's vectors: the expansion needs each term's cosine to every label, not only its
    nearest ones. Without them only exact matches count."""
    L = len(labels)
    if path is None:
        empty = WatchAssignment(
            category=np.full(L, None, dtype=object), weight=np.zeros(L), matched_term=np.full(L, None, dtype=object),
            similarity=np.zeros(L),
        )
        return WatchOutcome(empty, (), None, {}, 0, 0)
    wl = load_watchlist(path)
    terms, _ = wl.terms()
    sims = None
    if embed_terms is not None and label_vectors is not None and wl.expand.max_per_term > 0 and len(terms):
        sims = np.asarray(embed_terms(terms), dtype=np.float32) @ np.asarray(label_vectors, dtype=np.float32).T
    wa = assign_watch_categories(wl, labels, label_names, term_sims=sims)
    return WatchOutcome(
        assignment=wa,
        person_labels=tuple(wl.person_labels),
        path=path,
        categories={k: v.weight for k, v in wl.categories.items()},
        labels_matched=int((wa.similarity == 1.0).sum()),
        labels_expanded=int(((wa.similarity < 1.0) & wa.mask).sum()),
    )
