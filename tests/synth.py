"""Shared seeded generators of small audit sets with planted effects, for the tests.

``write_audit_set`` writes samples, predictions, optional vocabulary/truth, precomputed embeddings
and a config into a folder, and returns the config path. Planted effects are (label, attribute,
value, rate) tuples: members of the group get the label at ``rate``; everyone else at ``base``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


@dataclass
class Planted:
    label: str
    where: dict[str, str]  # attribute -> value, all must hold
    rate: float


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
    rng = np.random.default_rng(spec.seed)
    n = spec.n
    ids = np.array([f"s{i:05d}" for i in range(n)], dtype=object)
    person = rng.random(n) >= spec.null_share
    samples = pd.DataFrame({"sample_id": ids, "text": [f"sample number {i}" for i in range(n)]})
    for a, vals in spec.attributes.items():
        col = np.array(rng.choice(vals, size=n), dtype=object)
        col[~person] = None
        samples[a] = col
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


def write_audit_set(
    folder: Path,
    spec: SynthSpec | None = None,
    *,
    fmt: str = "parquet",
    config: dict | None = None,
    vocabulary: bool = True,
) -> Path:
    spec = spec or SynthSpec()
    folder.mkdir(parents=True, exist_ok=True)
    samples, pred, vec = make_tables(spec)
    ext = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}[fmt]

    def write(df: pd.DataFrame, name: str) -> str:
        path = folder / f"{name}.{ext}"
        if fmt == "parquet":
            df.to_parquet(path, index=False)
        elif fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_json(path, orient="records", lines=True)
        return path.name

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
