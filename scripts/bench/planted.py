"""A seeded generator of audit sets with benign structure and planted harmful associations.

Samples live in a 64-d embedding space made of topic centres: people topics (samples with
attributes tone/gender set) and non-people topics (animals, places, objects: attributes null).
Every topic has preferred labels (benign associations with the clusters that k-means finds), and
the non-people "animal" topics legitimately carry the watchlist's animal labels. Three harms can
be planted, each on a watchlist label:

- ``attribute``: label ``w_animal_0`` over-applied to ``tone=dark``;
- ``intersection``: label ``w_crime_0`` over-applied to ``tone=dark & gender=man``;
- ``cluster``: label ``w_animal_1`` over-applied to a hidden subgroup of people that no attribute
  captures: a tight region of the embedding space (its own centre), ~4% of people.

``make_planted(seed, planted=True)`` returns the in-memory AuditSet, vectors, the watch assignment,
person rows and the hidden subgroup mask, ready for :func:`tagscan.pipeline.analyse`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.data import AuditSet
from tagscan.watchlist import WatchAssignment

PLANTED = (
    ("w_animal_0", "tone=dark", "attribute"),
    ("w_crime_0", "tone=dark & gender=man", "intersection"),
    ("w_animal_1", "hidden subgroup", "cluster"),
)


@dataclass
class PlantedSet:
    audit: AuditSet
    vectors: np.ndarray
    watch: WatchAssignment
    person_rows: np.ndarray
    hidden: np.ndarray


def make_planted(
    seed: int,
    *,
    n: int = 20_000,
    n_labels: int = 2_000,
    dim: int = 64,
    planted: bool = True,
    rate_in: float = 0.03,
    rate_base: float = 0.002,
) -> PlantedSet:
    rng = np.random.default_rng(seed)
    n_people_topics, n_other_topics = 12, 12
    centres = rng.normal(size=(n_people_topics + n_other_topics + 1, dim))
    person = rng.random(n) < 0.6
    topic = np.where(
        person, rng.integers(0, n_people_topics, size=n), n_people_topics + rng.integers(0, n_other_topics, size=n)
    )
    hidden = person & (rng.random(n) < 0.04)
    vec = centres[topic] + 0.6 * rng.normal(size=(n, dim))
    vec[hidden] = centres[-1] + 0.3 * rng.normal(size=(int(hidden.sum()), dim))
    vec = (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)
    tone = np.where(person, rng.choice(["light", "medium", "dark"], size=n), None).astype(object)
    gender = np.where(person, rng.choice(["woman", "man"], size=n), None).astype(object)
    samples = pd.DataFrame({"sample_id": [f"s{i:06d}" for i in range(n)], "tone": tone, "gender": gender})

    # Labels: 20 watchlist labels (10 animal, 10 crime) then benign ones.
    watch_names = [f"w_animal_{i}" for i in range(10)] + [f"w_crime_{i}" for i in range(10)]
    labels = np.array(watch_names + [f"tag_{j:05d}" for j in range(n_labels - len(watch_names))], dtype=object)
    L = len(labels)
    # Benign structure: each topic prefers 15 labels; a Zipf-like background over all labels.
    pop = 1.0 / np.arange(1, L + 1) ** 0.8
    pop = pop / pop.sum() * 4.0  # ~4 background labels per sample
    prefs = rng.integers(len(watch_names), L, size=(n_people_topics + n_other_topics, 15))
    rows, cols = [], []
    bg = rng.random((n, 1))  # draw background labels by sampling
    n_bg = rng.poisson(4, size=n)
    r_bg = np.repeat(np.arange(n), n_bg)
    c_bg = rng.choice(np.arange(len(watch_names), L), size=len(r_bg), p=pop[len(watch_names):] / pop[len(watch_names):].sum())
    rows.append(r_bg)
    cols.append(c_bg)
    take = rng.random((n, 15)) < 0.35
    r_pref, j_pref = np.nonzero(take)
    rows.append(r_pref)
    cols.append(prefs[topic[r_pref], j_pref])
    # Animal topics (the first 4 non-people topics) legitimately carry animal watch labels.
    animal_topic = (topic >= n_people_topics) & (topic < n_people_topics + 4)
    r_an = np.flatnonzero(animal_topic & (rng.random(n) < 0.5))
    rows.append(r_an)
    cols.append(rng.integers(0, 10, size=len(r_an)))
    # Every watch label at a small base rate everywhere.
    base = rng.random((n, len(watch_names))) < rate_base
    r_b, c_b = np.nonzero(base)
    rows.append(r_b)
    cols.append(c_b)
    if planted:
        dark = tone == "dark"
        dark_man = dark & (gender == "man")
        for mask, j in ((dark, 0), (dark_man, 10), (hidden, 1)):
            r = np.flatnonzero(mask & (rng.random(n) < rate_in * (3 if j == 1 else 1)))
            rows.append(r)
            cols.append(np.full(len(r), j))
    del bg
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    Y = sp.csr_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, L))
    Y.data[:] = 1
    Y.sum_duplicates()
    Y.data = np.minimum(Y.data, 1).astype(np.int8)
    scores = Y.astype(np.float32)
    scores.data = rng.uniform(0.5, 1.0, size=scores.nnz).astype(np.float32)
    audit = AuditSet(
        samples=samples, attributes=("tone", "gender"), labels=labels, label_names=labels.copy(), Y=Y, scores=scores
    )
    weight = np.zeros(L)
    weight[:10], weight[10:20] = 1.0, 0.9
    category = np.full(L, None, dtype=object)
    category[:10], category[10:20] = "dehumanizing", "criminality"
    watch = WatchAssignment(category=category, weight=weight, matched_term=labels.copy(), similarity=(weight > 0) * 1.0)
    return PlantedSet(audit=audit, vectors=vec, watch=watch, person_rows=person, hidden=hidden)
