"""Writing the demo data set: the photo tables, the vocabulary and the ``tagscan.yaml`` that scans them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tagscan.demo.photos import DEMO_ATTRIBUTES, PhotoGenerator
from tagscan.demo.vocabulary import check_content, demo_vocabulary, slug, vocabulary_records
from tagscan.errors import UsageError

__all__ = ["build_demo"]

logger = logging.getLogger(__name__)

# Who and what the photos show.
_SKIN_TONES = ("light", "medium", "dark")
_SKIN_P = (0.36, 0.32, 0.32)
_GENDERS = ("woman", "man")
_AGE_GROUPS = ("child", "adult", "senior")
_AGE_P = (0.22, 0.53, 0.25)
_KINDS = ("person", "animal", "place", "food", "object", "vehicle")
_KIND_P = (0.55, 0.14, 0.12, 0.08, 0.06, 0.05)


def _validate(n_samples: object, seed: object) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise UsageError(
            f"build_demo: n_samples must be a positive integer; got {n_samples!r}; pass e.g. n_samples=8000"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"build_demo: seed must be a non-negative integer; got {seed!r}; pass e.g. seed=0")


def _config(name: str = "demo-photo-tagger") -> dict:
    return {
        "name": name,
        "workspace": ".tagscan",
        "model": {"name": name, "version": "v1"},
        "data": {
            "samples": "data/samples.parquet",
            "predictions": "data/predictions.parquet",
            "truth": None,
            "vocabulary": "data/vocabulary.parquet",
            "embeddings": None,
        },
        "embed": {"input": "text", "model": "default"},
        "groups": {
            "attributes": list(DEMO_ATTRIBUTES),
            "protected": list(DEMO_ATTRIBUTES),  # the demo's attributes all describe the people shown
            "intersections": [["skin_tone", "gender"]],
            "clusters": [16, 64],
            "min_group_size": 30,
        },
        "scan": {"threshold": 0.5, "fdr": 0.05, "watchlist": "default"},
        "review": {"url": "http://127.0.0.1:8080", "api_key_env": "LABEL_STUDIO_API_KEY", "examples_per_finding": 8},
    }


def build_demo(out_dir: Path, *, n_samples: int = 8000, seed: int = 0) -> Path:
    """Write data/samples.parquet, data/predictions.parquet, data/vocabulary.parquet and tagscan.yaml
    under ``out_dir``; return the config path.

    The same ``n_samples`` and ``seed`` give byte-identical files. Existing files of the same names
    are overwritten; nothing else under ``out_dir`` is touched.
    """
    _validate(n_samples, seed)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: is a file, not a folder; pass --out a folder for the demo data set")
    recs = vocabulary_records()
    label_of = {slug(r.name): r.label for r in recs}
    section_of = {r.label: r.section for r in recs}
    check_content(label_of)

    rng = np.random.default_rng(int(seed))
    gen = PhotoGenerator(rng, label_of, section_of)
    n = int(n_samples)
    kinds = rng.choice(len(_KINDS), size=n, p=_KIND_P)
    tones = rng.choice(len(_SKIN_TONES), size=n, p=_SKIN_P)
    genders = rng.integers(0, 2, size=n)
    ages = rng.choice(len(_AGE_GROUPS), size=n, p=_AGE_P)

    ids = [f"photo-{i + 1:06d}" for i in range(n)]
    texts: list[str] = []
    col_tone: list[str | None] = []
    col_gender: list[str | None] = []
    col_age: list[str | None] = []
    pred_sid: list[str] = []
    pred_label: list[str] = []
    pred_score: list[float] = []
    for i in range(n):
        kind = _KINDS[kinds[i]]
        if kind == "person":
            tone, gender, age = _SKIN_TONES[tones[i]], _GENDERS[genders[i]], _AGE_GROUPS[ages[i]]
            text, tags = gen.person(tone, gender, age)
            keep = gen.plant(tags, tone, gender)
            col_tone.append(tone)
            col_gender.append(gender)
            col_age.append(age)
        else:
            text, tags = getattr(gen, kind)()
            keep = frozenset()
            col_tone.append(None)
            col_gender.append(None)
            col_age.append(None)
        gen.popular_and_noise(tags)
        gen.fit_size(tags, keep)
        texts.append(text)
        for label, score in sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])):
            pred_sid.append(ids[i])
            pred_label.append(label)
            pred_score.append(min(max(score, 0.0), 1.0))

    samples = pd.DataFrame(
        {
            "sample_id": pd.array(ids, dtype="string"),
            "text": pd.array(texts, dtype="string"),
            "skin_tone": pd.array(col_tone, dtype="string"),
            "gender": pd.array(col_gender, dtype="string"),
            "age_group": pd.array(col_age, dtype="string"),
        }
    )
    predictions = pd.DataFrame(
        {
            "sample_id": pd.array(pred_sid, dtype="string"),
            "label": pd.array(pred_label, dtype="string"),
            "score": np.round(np.asarray(pred_score, dtype=np.float64), 4),
        }
    )
    vocabulary = demo_vocabulary()

    data_dir = out_dir / "data"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{out_dir}: cannot create the demo folder {data_dir} ({exc.strerror or exc}); pass --out a writable folder"
        ) from exc
    samples.to_parquet(data_dir / "samples.parquet", index=False, engine="pyarrow")
    predictions.to_parquet(data_dir / "predictions.parquet", index=False, engine="pyarrow")
    vocabulary.to_parquet(data_dir / "vocabulary.parquet", index=False, engine="pyarrow")
    config_path = out_dir / "tagscan.yaml"
    header = (
        "# tagscan demo: a simulated photo tagger with two planted harmful associations.\n"
        "# Paths are relative to this file. Rebuild with `tagscan demo`.\n"
    )
    config_path.write_text(header + yaml.safe_dump(_config(), sort_keys=False), encoding="utf-8")
    logger.info(
        "demo data set: %d samples (%d showing people), %d predictions, %d labels -> %s",
        n, int(np.sum(kinds == 0)), len(predictions), len(vocabulary), out_dir,
    )
    return config_path
