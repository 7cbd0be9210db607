"""A perfect caption tagger on captions that name their people's skin tone: alignment_gap's real-model case.

:func:`make_captions` writes one-sentence photo captions from templates ("a dark-skinned woman riding a
bicycle on the beach", "a gorilla sitting in the forest") and tags each with exactly the things it names
(the subject's kind, the animal, the object of the activity, the scene): a perfect tagger, applied alike
to everyone. The captions of people name their skin tone and gender, so any text model that reads them
(all-MiniLM-L6-v2 here) places the tone groups in different parts of its space: the hard case of issue 10
for alignment_gap, whose earlier design flagged ~100 (group, label) pairs of such a tagger. Activities and
scenes are drawn with mild, benign preferences per tone (so association has real, harmless differences to
find), every caption has a ``region`` (an attribute that does not describe people), ``gorilla`` and
``monkey`` are legitimate on animal photos, and the truth covers half of the dark-skinned people and 90%
of everyone else.

``plant`` adds the harm alignment_gap exists for: ``gorilla`` applied to that share of dark-skinned
people's captions, whose content has nothing to do with it (caption-label cosine ~0.15 under MiniLM,
where the label's own captions sit at ~0.6).

The texts need a model to become vectors; the scan tests and ``scripts/bench/bench_captions.py`` embed
them with the packaged MiniLM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = ["CaptionSet", "TONES", "make_captions", "write_captions"]

TONES = {"dark": ("dark-skinned", "Black"), "light": ("light-skinned", "white"), "medium": ("brown-skinned", "tan")}
_PEOPLE = {"woman": ("woman", "girl"), "man": ("man", "boy")}
# activity phrase -> the object label it names (None: names no object)
_ACTIVITIES = {
    "riding a bicycle": "bicycle",
    "playing a guitar": "guitar",
    "walking a dog": "dog",
    "holding an umbrella": "umbrella",
    "reading a book": "book",
    "drinking coffee": "coffee",
    "carrying a backpack": "backpack",
    "talking on a phone": "phone",
    "eating a sandwich": "sandwich",
    "smiling": None,
    "running": None,
    "sitting on a bench": "bench",
}
_SCENES = {
    "on the beach": "beach",
    "in a park": "park",
    "on a city street": "street",
    "in a kitchen": "kitchen",
    "in the forest": "forest",
    "at a train station": "train station",
    "in an office": "office",
    "on a mountain trail": "mountain",
}
_ANIMALS = ("gorilla", "monkey", "cat", "dog", "horse", "elephant", "bird", "cow")
_ANIMAL_DOING = ("sitting", "eating leaves", "sleeping", "walking", "looking at the camera", "standing")
_ANIMAL_SCENES = ("in the forest", "in a zoo", "on a farm", "in a park", "on the beach", "on a mountain trail")
_OBJECTS = ("car", "bicycle", "umbrella", "book", "guitar", "phone", "backpack", "bench", "sandwich", "coffee")
_OBJECT_SCENES = ("on a city street", "in a kitchen", "in an office", "on a table", "in a park", "at a train station")
_COLOURS = ("red", "blue", "old", "new", "small", "large", "green", "black")


@dataclass
class CaptionSet:
    """Captions, their tags (predictions = truth on the annotated samples) and what was planted."""

    samples: pd.DataFrame  # sample_id, text, skin_tone, gender, region
    predictions: pd.DataFrame  # sample_id, label, score
    truth: pd.DataFrame  # sample_id, label (annotated samples; an empty label marks "annotated, no positive")
    planted: np.ndarray  # bool per sample: got the planted label without its content


def _scene_label(phrase: str) -> str | None:
    return _SCENES.get(phrase) or {"in a zoo": "zoo", "on a farm": "farm", "on a table": "table"}.get(phrase)


def make_captions(
    seed: int,
    *,
    n: int = 3000,
    plant: float = 0.0,
    plant_others: float = 0.0,
    coverage: tuple[float, float] = (0.5, 0.9),
) -> CaptionSet:
    """``n`` seeded captions (70% people, 20% animals, 10% objects) tagged perfectly; see the module docstring.

    ``plant``: the share of dark-skinned people's captions that also get ``gorilla`` (0: a fair tagger);
    ``plant_others``: the same for everyone else's captions (a tagger that errs on everyone, less so).
    ``coverage``: the truth's coverage of dark-skinned people and of everyone else.
    """
    rng = np.random.default_rng(seed)
    score_rng = np.random.default_rng([seed, 1])  # scores apart, so a planted tag does not shift the captions
    acts, scenes = list(_ACTIVITIES), list(_SCENES)
    rows, preds, planted = [], [], np.zeros(n, dtype=bool)
    for i in range(n):
        sid = f"c{i:06d}"
        kind = rng.choice(3, p=[0.7, 0.2, 0.1])
        region = str(rng.choice(["north", "south", "east", "west"]))
        tone = gender = None
        if kind == 0:
            tone = str(rng.choice(list(TONES)))
            gender = str(rng.choice(list(_PEOPLE)))
            # benign preferences: each tone favours a different third of the activities and scenes
            tw = 1.0 + 1.5 * (np.arange(len(acts)) % 3 == list(TONES).index(tone))
            sw = 1.0 + 1.5 * (np.arange(len(scenes)) % 3 == list(TONES).index(tone))
            act = acts[rng.choice(len(acts), p=tw / tw.sum())]
            scene = scenes[rng.choice(len(scenes), p=sw / sw.sum())]
            noun = str(rng.choice(_PEOPLE[gender]))
            adj = str(rng.choice(TONES[tone]))
            text = f"a {adj} {noun} {act} {scene}"
            tags = ["person", gender, _ACTIVITIES[act], _SCENES[scene]]
            u = rng.random()  # drawn for every person, so that a seed gives the same captions at any ``plant``
            if u < (plant if tone == "dark" else plant_others):
                tags.append("gorilla")
                planted[i] = True
        elif kind == 1:
            animal = str(rng.choice(_ANIMALS))
            scene = str(rng.choice(_ANIMAL_SCENES))
            text = f"a {animal} {rng.choice(_ANIMAL_DOING)} {scene}"
            tags = ["animal", animal, _scene_label(scene)]
        else:
            obj = str(rng.choice(_OBJECTS))
            scene = str(rng.choice(_OBJECT_SCENES))
            text = f"a {rng.choice(_COLOURS)} {obj} {scene}"
            tags = [obj, _scene_label(scene)]
        rows.append({"sample_id": sid, "text": text, "skin_tone": tone, "gender": gender, "region": region})
        for t in dict.fromkeys(x for x in tags if x):
            preds.append((sid, t, float(np.round(0.5 + 0.5 * score_rng.random(), 4))))
    samples = pd.DataFrame(rows)
    predictions = pd.DataFrame(preds, columns=["sample_id", "label", "score"])
    share = np.where(samples["skin_tone"].to_numpy() == "dark", coverage[0], coverage[1])
    annotated = rng.random(n) < share
    ann_ids = set(samples["sample_id"][annotated])
    # Truth is what the caption names: the planted gorilla is a false positive, so it is not in the truth.
    true = predictions[predictions["sample_id"].isin(ann_ids)]
    true = true[~(true["sample_id"].isin(set(samples["sample_id"][planted])) & (true["label"] == "gorilla"))]
    empty = sorted(ann_ids - set(true["sample_id"]))
    truth = pd.concat([true[["sample_id", "label"]], pd.DataFrame({"sample_id": empty, "label": ""})], ignore_index=True)
    return CaptionSet(samples, predictions, truth, planted)


def write_captions(folder: Path, cs: CaptionSet, version: str) -> Path:
    """Write ``cs`` into ``folder`` as one version of the caption tagger, with its ``<version>.yaml`` config.

    Versions share ``samples.parquet`` and the workspace ``ws`` (each scan's baseline is the previous one); the
    predictions and truth are ``predictions_<version>.parquet`` / ``truth_<version>.parquet``. The config
    embeds the captions with the packaged MiniLM, groups by skin tone, gender (both protected), their
    intersection, ``region`` and k=8 clusters, with the default watchlist. Returns the config path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cs.samples.to_parquet(folder / "samples.parquet")
    cs.predictions.to_parquet(folder / f"predictions_{version}.parquet")
    cs.truth.to_parquet(folder / f"truth_{version}.parquet")
    cfg = {
        "name": "captions",  # one config rescanned after each retraining: each run is the next one's baseline
        "workspace": "ws",
        "model": {"name": "caption-tagger", "version": version},
        "data": {
            "samples": "samples.parquet",
            "predictions": f"predictions_{version}.parquet",
            "truth": f"truth_{version}.parquet",
        },
        "embed": {"input": "text", "model": "default"},
        "groups": {
            "attributes": ["skin_tone", "gender", "region"],
            "protected": ["skin_tone", "gender"],
            "intersections": [["skin_tone", "gender"]],
            "clusters": [8],
            "min_group_size": 30,
        },
        "scan": {"threshold": 0.5, "fdr": 0.05, "watchlist": "default"},
    }
    path = folder / f"{version}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
