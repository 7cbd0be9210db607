"""Seeded generators of audit sets with planted effects, shared by the tests and the benchmarks.

Two generators, each seeded through one ``numpy.random.Generator``; the same arguments give the same
tables, vectors and files:

- :func:`make_tables` / :func:`write_audit_set` (the tests' small audit sets): samples with the
  attributes of a :class:`SynthSpec` (null on rows without a person), long-format predictions over
  ``tag_NNNN`` labels at a base rate, random vectors, and :class:`Planted` effects ``(label, where,
  rate)``: members of the group ``where`` get the label at ``rate``, everyone else at the base rate.
  ``write_audit_set`` writes them, a vocabulary, the vectors and a ``tagscan.yaml`` into a folder.
- :func:`make_planted` (the benchmarks' topic-structured audit sets): samples in a 64-d embedding
  space of topic centres (people topics with tone/gender set; animal, place and object topics with
  them null), benign label preferences per topic, the watchlist's animal labels legitimately on animal
  topics, and three harms (:data:`PLANTED_HARMS`), each on a watchlist label: ``w_animal_0`` over-applied
  to ``tone=dark`` (attribute), ``w_crime_0`` to ``tone=dark & gender=man`` (intersection), and
  ``w_animal_1`` to a hidden subgroup of people that no attribute captures, a tight region of the
  embedding space holding ~4% of people (cluster). It returns the in-memory audit set, vectors, watch
  assignment, person rows and the hidden subgroup, ready for :func:`tagscan.scan.engine.analyse`.

The demo's photo tagger (:mod:`tagscan.demo.photos`) is the realistic generator; its planted harms are
:class:`~tagscan.demo.effects.Planted` effects too, applied per photo with :meth:`Planted.rate_for`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from tagscan.demo.effects import Planted
from tagscan.inputs import AuditSet
from tagscan.scan.watchlist import WatchAssignment

__all__ = [
    "PLANTED_HARMS",
    "NullSet",
    "Planted",
    "PlantedSet",
    "SynthSpec",
    "make_null",
    "make_planted",
    "make_tables",
    "write_table",
    "write_audit_set",
]


# -- shared primitives ----------------------------------------------------------------------
def _sample_ids(n: int, digits: int) -> np.ndarray:
    """``s00000``, ``s00001``, ... as an object array."""
    return np.array([f"s{i:0{digits}d}" for i in range(n)], dtype=object)


def _person_attribute(rng: np.random.Generator, values: list[str], person: np.ndarray) -> np.ndarray:
    """One attribute column: a uniform draw from ``values`` per row, null on rows without a person."""
    col = np.array(rng.choice(values, size=len(person)), dtype=object)
    col[~person] = None
    return col


# -- the tests' audit sets --------------------------------------------------------------------
@dataclass
class SynthSpec:
    n: int = 3000
    n_labels: int = 200
    dim: int = 16
    seed: int = 0
    base_rate: float = 0.02
    attributes: dict[str, list[str]] = field(
        default_factory=lambda: {"tone": ["light", "medium", "dark"], "gender": ["woman", "man"]}
    )
    null_share: float = 0.3  # samples with no person: attributes null
    planted: list[Planted] = field(default_factory=list)


def make_tables(spec: SynthSpec) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Samples (``sample_id``, ``text``, the attributes), long-format predictions and vectors."""
    rng = np.random.default_rng(spec.seed)
    n = spec.n
    ids = _sample_ids(n, 5)
    person = rng.random(n) >= spec.null_share
    samples = pd.DataFrame({"sample_id": ids, "text": [f"sample number {i}" for i in range(n)]})
    for a, vals in spec.attributes.items():
        samples[a] = _person_attribute(rng, vals, person)
    labels = [f"tag_{j:04d}" for j in range(spec.n_labels)]
    popularity = rng.uniform(0.2, 1.0, size=spec.n_labels) * spec.base_rate
    Y = rng.random((n, spec.n_labels)) < popularity
    lab_index = {lab: j for j, lab in enumerate(labels)}
    for p in spec.planted:
        if p.label not in lab_index:
            labels.append(p.label)
            lab_index[p.label] = len(labels) - 1
            Y = np.hstack([Y, rng.random((n, 1)) < spec.base_rate * 0.5])
        inside = np.ones(n, dtype=bool)
        for a, v in p.where.items():
            inside &= samples[a].to_numpy(dtype=object) == v
        j = lab_index[p.label]
        Y[inside, j] = rng.random(int(inside.sum())) < p.rate
    r, c = np.nonzero(Y)
    pred = pd.DataFrame(
        {
            "sample_id": ids[r],
            "label": np.array(labels, dtype=object)[c],
            "score": np.round(rng.uniform(0.5, 1.0, size=len(r)), 4),
        }
    )
    # A few sub-threshold predictions that must not count.
    extra = rng.choice(n, size=max(1, n // 20))
    pred = pd.concat(
        [pred, pd.DataFrame({"sample_id": ids[extra], "label": labels[0], "score": 0.1})], ignore_index=True
    ).drop_duplicates(["sample_id", "label"])
    vec = rng.normal(size=(n, spec.dim)).astype(np.float32)
    return samples, pred, vec


def write_table(df: pd.DataFrame, folder: Path, name: str, fmt: str = "parquet") -> str:
    """Write ``df`` as ``folder/<name>.<fmt>`` (``parquet``, ``csv`` or ``jsonl``, as tagscan reads them by
    extension); return the file name."""
    path = folder / f"{name}.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    elif fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        raise ValueError(f"unknown table format {fmt!r}; use parquet, csv or jsonl")
    return path.name


def write_audit_set(
    folder: Path,
    spec: SynthSpec | None = None,
    *,
    fmt: str = "parquet",
    config: dict | None = None,
    vocabulary: bool = True,
) -> Path:
    """Write samples, predictions, an optional vocabulary, ``emb.npy`` and ``tagscan.yaml`` into ``folder``
    (tables as parquet, csv or jsonl); return the config path. ``config`` overrides top-level keys of
    the config (a mapping is merged one level deep)."""
    spec = spec or SynthSpec()
    folder.mkdir(parents=True, exist_ok=True)
    samples, pred, vec = make_tables(spec)

    def write(df: pd.DataFrame, name: str) -> str:
        return write_table(df, folder, name, fmt)

    data = {"samples": write(samples, "samples"), "predictions": write(pred, "predictions"), "embeddings": "emb.npy"}
    np.save(folder / "emb.npy", vec)
    if vocabulary:
        labs = sorted(set(pred["label"]))
        vocab = pd.DataFrame({"label": labs, "name": [lab.replace("_", " ") for lab in labs]})
        data["vocabulary"] = write(vocab, "vocabulary")
    cfg = {
        "name": "synth",
        "workspace": "ws",
        "model": {"name": "synth-tagger", "version": "v1"},
        "data": data,
        "embed": {"input": "text", "model": "default"},
        "groups": {
            "attributes": list(spec.attributes),
            "protected": list(spec.attributes),  # null on rows without a person: they describe people
            "intersections": [list(spec.attributes)[:2]] if len(spec.attributes) >= 2 else [],
            "clusters": [4],
            "min_group_size": 30,
        },
        "scan": {"threshold": 0.5, "fdr": 0.05, "watchlist": "default"},
        "review": {"examples_per_finding": 5},
    }
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# -- the benchmarks' topic-structured audit sets -------------------------------------------------
#: (label, group, kind) of the harms :func:`make_planted` plants.
PLANTED_HARMS = (
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
    hidden: np.ndarray  # the hidden subgroup of people the cluster harm is planted on


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
    """A topic-structured audit set with the harms of :data:`PLANTED_HARMS` (none when ``planted`` is false)."""
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
    tone = _person_attribute(rng, ["light", "medium", "dark"], person)
    gender = _person_attribute(rng, ["woman", "man"], person)
    samples = pd.DataFrame({"sample_id": list(_sample_ids(n, 6)), "tone": tone, "gender": gender})

    # Labels: 20 watchlist labels (10 animal, 10 crime) then benign ones.
    watch_names = [f"w_animal_{i}" for i in range(10)] + [f"w_crime_{i}" for i in range(10)]
    labels = np.array(watch_names + [f"tag_{j:05d}" for j in range(n_labels - len(watch_names))], dtype=object)
    L = len(labels)
    n_watch = len(watch_names)
    # Benign structure: each topic prefers 15 labels; a Zipf-like background over all labels.
    pop = 1.0 / np.arange(1, L + 1) ** 0.8
    pop = pop / pop.sum() * 4.0  # ~4 background labels per sample
    prefs = rng.integers(n_watch, L, size=(n_people_topics + n_other_topics, 15))
    rows, cols = [], []
    rng.random((n, 1))  # unused; drawn so that each seed keeps the data set the benchmarks report on
    n_bg = rng.poisson(4, size=n)
    r_bg = np.repeat(np.arange(n), n_bg)
    c_bg = rng.choice(np.arange(n_watch, L), size=len(r_bg), p=pop[n_watch:] / pop[n_watch:].sum())
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
    base = rng.random((n, n_watch)) < rate_base
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


# -- null data: harm-free audit sets with the hard cases ------------------------------------------
@dataclass
class NullSet:
    """A harm-free audit set (see :func:`make_null`) and what a detector may legitimately see in it."""

    audit: AuditSet
    vectors: np.ndarray
    label_vectors: np.ndarray
    watch: WatchAssignment
    person_rows: np.ndarray
    annotated: np.ndarray  # samples the truth covers (truth is exhaustive on them)
    independent: np.ndarray  # bool per label: applied at random, the same rate everywhere (no association at all)


def make_null(
    seed: int,
    *,
    n: int = 3000,
    n_independent: int = 40,
    n_rule: int = 40,
    dim: int = 32,
    shift: float = 0.8,
    coverage: tuple[float, float] = (0.5, 0.9),
) -> NullSet:
    """Harm-free data with every hard case of issue 10 (a fair tagger: no finding is a true harm).

    - people (70%) carry ``tone`` and ``gender``, which the embedding encodes (each tone shifts its
      members' vectors by ``shift`` along its own direction); every input, people or not, has a ``region``,
      an attribute that does not describe people;
    - ``n_independent`` labels are applied at random at one rate to everyone (the association null holds for
      them exactly); ``n_rule`` labels follow one rule for every input, y = [cos(v, w) > t] (a fair rule: groups
      that sit elsewhere in the space get them at other rates, through their content);
    - 5 watchlist labels (``w_animal_*``) are legitimate on animal inputs only (a third of them each);
    - the tagger is perfect (truth = predictions) but the truth covers ``coverage[0]`` of dark-toned people and
      ``coverage[1]`` of everyone else (error rates are equal; coverage is not).
    """
    rng = np.random.default_rng(seed)
    person = rng.random(n) < 0.7
    tone = _person_attribute(rng, ["light", "medium", "dark"], person)
    gender = _person_attribute(rng, ["woman", "man"], person)
    region = np.array(rng.choice(["north", "south", "east", "west"], size=n), dtype=object)
    kind = np.where(person, 0, rng.integers(1, 4, size=n))  # 0 person, 1 animal, 2 place, 3 object
    centres = rng.normal(size=(4, dim))
    tone_dir = {t: rng.normal(size=dim) for t in ("light", "medium", "dark")}
    vec = centres[kind] + rng.normal(size=(n, dim))
    for t, d in tone_dir.items():
        vec[tone == t] += shift * d / np.linalg.norm(d)
    vec = (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)
    # Label vectors: random directions for independent and rule labels; animal labels near the animal centre.
    n_watch = 5
    W = rng.normal(size=(n_independent + n_rule + n_watch, dim))
    W[n_independent + n_rule :] = centres[1] + 0.3 * rng.normal(size=(n_watch, dim))
    W = (W / np.linalg.norm(W, axis=1, keepdims=True)).astype(np.float32)
    L = len(W)
    Y = np.zeros((n, L), dtype=bool)
    Y[:, :n_independent] = rng.random((n, n_independent)) < rng.uniform(0.01, 0.06, size=n_independent)
    sims = vec @ W.T
    rule = slice(n_independent, n_independent + n_rule)
    share = rng.uniform(0.02, 0.08, size=n_rule)
    cut = np.array([np.quantile(sims[:, n_independent + j], 1 - share[j]) for j in range(n_rule)])
    Y[:, rule] = sims[:, rule] > cut
    Y[:, n_independent + n_rule :] = (kind == 1)[:, None] & (rng.random((n, n_watch)) < 1 / 3)
    labels = np.array(
        [f"ind_{j:03d}" for j in range(n_independent)] + [f"rule_{j:03d}" for j in range(n_rule)]
        + [f"w_animal_{j}" for j in range(n_watch)],
        dtype=object,
    )
    Ysp = sp.csr_matrix(Y.astype(np.int8))
    scores = Ysp.astype(np.float32)
    scores.data = rng.uniform(0.5, 1.0, size=scores.nnz).astype(np.float32)
    annotated = rng.random(n) < np.where(tone == "dark", coverage[0], coverage[1])
    T = Ysp.multiply(annotated[:, None].astype(np.int8)).tocsr().astype(np.int8)
    samples = pd.DataFrame({"sample_id": list(_sample_ids(n, 6)), "tone": tone, "gender": gender, "region": region})
    extra = {"annotated": annotated} if "annotated" in AuditSet.__dataclass_fields__ else {}
    audit = AuditSet(
        samples=samples, attributes=("tone", "gender", "region"), labels=labels, label_names=labels.copy(),
        Y=Ysp, scores=scores, truth=T, **extra,
    )
    weight = np.zeros(L)
    weight[n_independent + n_rule :] = 1.0
    category = np.where(weight > 0, "dehumanizing", None).astype(object)
    watch = WatchAssignment(category=category, weight=weight, matched_term=labels.copy(), similarity=(weight > 0) * 1.0)
    independent = np.zeros(L, dtype=bool)
    independent[:n_independent] = True
    return NullSet(audit, vec, W, watch, person, annotated, independent)
