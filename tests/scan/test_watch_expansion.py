"""Watchlist expansion is relative to the embedder: a label joins a term only when it stands out among the
term's similarities to the whole vocabulary (issue 10, item 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from tagscan.scan.watchlist import Watchlist, assign_watch_categories, load_watchlist, watch_labels

BENIGN = ["beach", "tree", "cat", "car", "sky", "bicycle", "pizza", "guitar", "mountain", "river", "bridge", "cloud"]


def _all_high_space(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """A CLIP-like space: every pair of vectors above 0.8; 'silverback' is a true synonym of 'gorilla'."""
    rng = np.random.default_rng(seed)
    dim = 256
    common = rng.normal(size=dim)
    common /= np.linalg.norm(common)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v)

    def noisy(scale: float) -> np.ndarray:
        return unit(common + scale * rng.normal(size=dim) / np.sqrt(dim))

    names = [f"{w}{i}" if i else w for i in range(3) for w in BENIGN] + ["silverback", "gorilla"]
    vecs = {n: noisy(rng.uniform(0.3, 0.42)) for n in names if n not in ("silverback", "gorilla")}
    vecs["gorilla"] = noisy(0.38)
    vecs["silverback"] = unit(vecs["gorilla"] + 0.05 * rng.normal(size=dim) / np.sqrt(dim))
    labels = [n for n in names if n != "gorilla"]  # the vocabulary has the synonym, not the term itself
    V = np.stack([vecs[n] for n in labels])
    return vecs, V, labels


def _watchlist_file(tmp_path: Path, expand: dict) -> Path:
    p = tmp_path / "wl.yaml"
    p.write_text(yaml.safe_dump({"expand": expand, "categories": {"dehumanizing": {"weight": 1.0, "terms": ["gorilla"]}}}))
    return p


def test_every_pair_is_above_0_8_yet_only_the_synonym_joins(tmp_path):
    vecs, V, labels = _all_high_space()
    sims = V @ V.T
    assert sims.min() > 0.8 and (V @ vecs["gorilla"]).min() > 0.8  # the hard case: all pairs high
    out = watch_labels(
        _watchlist_file(tmp_path, {"min_closeness": 0.8, "min_zscore": 3.0, "max_per_term": 10}),
        np.array(labels), np.array(labels),
        embed_terms=lambda terms: np.stack([vecs[t] for t in terms]), label_vectors=V,
    )
    joined = set(np.array(labels)[out.assignment.mask])
    assert joined == {"silverback"}
    assert out.labels_expanded == 1 and out.labels_matched == 0


def test_old_watchlist_with_only_min_similarity_still_loads_and_no_longer_decides_alone(tmp_path):
    vecs, V, labels = _all_high_space(seed=1)
    path = _watchlist_file(tmp_path, {"min_similarity": 0.8, "max_per_term": 10})
    wl = load_watchlist(path)
    assert wl.expand.min_similarity == 0.8 and wl.expand.min_closeness == 0.8
    sims = (np.stack([vecs["gorilla"]]) @ V.T)
    wa = assign_watch_categories(wl, np.array(labels), np.array(labels), term_sims=sims)
    assert set(np.array(labels)[wa.mask]) == {"silverback"}  # old code: 10 benign labels joined at >= 0.8


def test_min_similarity_is_an_extra_floor():
    wl = Watchlist.model_validate(
        {"expand": {"min_similarity": 0.9995}, "categories": {"dehumanizing": {"weight": 1.0, "terms": ["gorilla"]}}}
    )
    vecs, V, labels = _all_high_space(seed=2)
    wa = assign_watch_categories(wl, np.array(labels), np.array(labels), term_sims=vecs["gorilla"][None] @ V.T)
    assert not wa.mask.any()


def test_a_small_vocabulary_does_not_expand():
    wl = Watchlist.model_validate({"categories": {"dehumanizing": {"weight": 1.0, "terms": ["gorilla"]}}})
    labels = np.array(["silverback", "beach", "tree"])
    wa = assign_watch_categories(wl, labels, labels, term_sims=np.array([[0.99, 0.1, 0.1]]))
    assert not wa.mask.any()
