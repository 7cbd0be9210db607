"""The demo's word lists, read once from the package's data files, and the tagger's vocabulary.

The lists live in ``tagscan/demo/data/*.yaml``: ``vocabulary.yaml`` (the tag vocabulary, by section),
``scenes.yaml``, ``people.yaml``, ``animals.yaml`` and ``things.yaml`` (what the photos show and the
tags that go with it). :func:`content` reads them on first use and keeps them; nothing is read at import.

A tag list ("tags" in the data files) is ``"name, name:p, ..."``: each name is a vocabulary name the
photo carries with probability ``p`` (1 when no ``p`` is given). :func:`check_content` verifies that
every name in every tag list is in the vocabulary and that every scene and vehicle mode referred to
exists.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from tagscan.yamlio import safe_load_yaml

__all__ = [
    "Activity",
    "AnimalClass",
    "DemoContent",
    "VocabularyRecord",
    "cap",
    "check_content",
    "content",
    "demo_vocabulary",
    "parse_tags",
    "slug",
    "vocabulary_records",
    "words",
]

_DATA_FILES = ("vocabulary", "scenes", "people", "animals", "things")


@dataclass(frozen=True)
class Activity:
    """What a person or an animal is doing: the phrase of the description, its tags and its scene."""

    phrase: str
    tags: str
    scene: str
    weight: float = 1.0  # relative to the rest of its list


@dataclass(frozen=True)
class AnimalClass:
    """A class of animals: its share of animal photos, species, tags and actions."""

    weight: float
    species: tuple[str, ...]
    tags: str
    actions: tuple[Activity, ...]


@dataclass(frozen=True)
class VocabularyRecord:
    label: str
    name: str
    description: str
    section: str


@dataclass(frozen=True)
class DemoContent:
    """Everything the demo's data files hold, as tuples, frozensets and read-only lookups."""

    sections: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, description, names)
    combos: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...]  # (modifiers, bases, description)
    materials: dict[str, str]
    popular_head: tuple[str, ...]
    never_popular: frozenset[str]
    scenes: dict[str, str]
    activities: dict[str, tuple[Activity, ...]]  # "shared", "child", "adult", "senior"
    clothes: dict[tuple[str, str], tuple[tuple[str, float], ...]]  # (age group, gender) -> (name, p)
    colours: tuple[str, ...]
    colourable: frozenset[str]
    plural_items: frozenset[str]
    number_words: dict[int, str]
    decades: dict[str, tuple[str, ...]]  # "adult", "senior"
    time_pads: tuple[str, ...]
    animal_classes: dict[str, AnimalClass]
    generic_species: frozenset[str]
    apes: frozenset[str]
    monkeys: frozenset[str]
    proper_words: frozenset[str]
    places: tuple[tuple[str, str], ...]
    foods: tuple[tuple[str, str], ...]
    food_settings: tuple[tuple[str, str], ...]
    food_extras: tuple[tuple[str, str], ...]
    objects: tuple[tuple[str, str], ...]
    object_settings: tuple[tuple[str, str], ...]
    large_objects: frozenset[str]
    large_settings: tuple[int, ...]  # indices into object_settings
    object_extras: tuple[tuple[str, str], ...]
    vehicles: tuple[tuple[str, str, str], ...]  # (vehicle, tags, mode)
    vehicle_settings: dict[str, tuple[tuple[str, str], ...]]

    def section(self, name: str) -> tuple[str, ...]:
        for sec, _, names in self.sections:
            if sec == name:
                return names
        raise RuntimeError(f"tagscan.demo: no vocabulary section '{name}' in vocabulary.yaml")


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def slug(name: str) -> str:
    """The label id of a tag name: 'Golden Retriever' -> 'golden_retriever'."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    s = s.replace("'", "")
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


def words(text: str) -> list[str]:
    """The names of a comma-separated list."""
    return [w.strip() for w in text.replace("\n", " ").split(",") if w.strip()]


def parse_tags(spec: str) -> tuple[tuple[str, float], ...]:
    """'a, b:0.5' -> (('a', 1.0), ('b', 0.5)): each tag with the probability that a photo carries it."""
    out = []
    for item in words(spec):
        name, _, p = item.partition(":")
        out.append((name.strip(), float(p) if p else 1.0))
    return tuple(out)


class _File:
    """One data file's top-level mapping; a missing key names the file and the key."""

    def __init__(self, name: str):
        self.name = f"{name}.yaml"
        path = resources.files(__package__).joinpath("data", self.name)
        doc = safe_load_yaml(path, "demo data file", RuntimeError)
        if not isinstance(doc, dict):
            raise RuntimeError(f"{path}: is not a mapping of lists; reinstall tagscan (a demo data file is broken)")
        self.path = path
        self.doc = doc

    def __getitem__(self, key: str) -> Any:
        try:
            return self.doc[key]
        except KeyError:
            raise RuntimeError(
                f"{self.path}: key '{key}' is missing; reinstall tagscan (a demo data file is broken)"
            ) from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(words(text))


def _activities(items: list[dict]) -> tuple[Activity, ...]:
    return tuple(
        Activity(phrase=a["phrase"], tags=a["tags"], scene=a["scene"], weight=float(a.get("weight", 1.0)))
        for a in items
    )


def _pairs(items: list[dict], first: str) -> tuple[tuple[str, str], ...]:
    return tuple((x[first], x["tags"]) for x in items)


@cache
def content() -> DemoContent:
    """The demo's word lists, read from the package's data files on first use."""
    voc, scn, ppl, ani, thg = (_File(name) for name in _DATA_FILES)
    sections = tuple((s["name"], s["description"], _names(s["words"])) for s in voc["sections"])
    generic = frozenset(_names(ani["generic_species"]))
    by_section = {name: names for name, _, names in sections}
    classes = {}
    for cls, spec in ani["classes"].items():
        if "species_from" in spec:
            species = tuple(x for x in by_section[spec["species_from"]] if x not in generic)
        else:
            species = _names(spec["species"])
        classes[cls] = AnimalClass(
            weight=float(spec["weight"]), species=species, tags=spec["tags"], actions=_activities(spec["actions"])
        )
    object_settings = _pairs(thg["object_settings"], "phrase")
    setting_index = {phrase: i for i, (phrase, _) in enumerate(object_settings)}
    missing = [s for s in thg["large_object_settings"] if s not in setting_index]
    if missing:
        raise RuntimeError(f"{thg.path}: large_object_settings {missing} are not object_settings phrases; fix the file")
    activities = ppl["activities"]
    return DemoContent(
        sections=sections,
        combos=tuple((_names(c["modifiers"]), _names(c["bases"]), c["description"]) for c in voc["combos"]),
        materials=dict(voc["materials"]),
        popular_head=_names(voc["popular_head"]),
        never_popular=frozenset(_names(voc["never_popular"])),
        scenes=dict(scn["scenes"]),
        activities={age: _activities(activities[age]) for age in ("shared", "child", "adult", "senior")},
        clothes={
            (age, gender): tuple((name, float(p)) for name, p in items.items())
            for age, by_gender in ppl["clothes"].items()
            for gender, items in by_gender.items()
        },
        colours=_names(ppl["colours"]),
        colourable=frozenset(_names(ppl["colourable"])),
        plural_items=frozenset(_names(ppl["plural_items"])),
        number_words={int(k): v for k, v in ppl["number_words"].items()},
        decades={age: _names(v) for age, v in ppl["decades"].items()},
        time_pads=tuple(ppl["time_pads"]),
        animal_classes=classes,
        generic_species=generic,
        apes=frozenset(_names(ani["apes"])),
        monkeys=frozenset(_names(ani["monkeys"])),
        proper_words=frozenset(_names(ani["proper_words"])),
        places=_pairs(thg["places"], "text"),
        foods=_pairs(thg["foods"], "dish"),
        food_settings=_pairs(thg["food_settings"], "phrase"),
        food_extras=_pairs(thg["food_extras"], "phrase"),
        objects=_pairs(thg["objects"], "thing"),
        object_settings=object_settings,
        large_objects=frozenset(thg["large_objects"]),
        large_settings=tuple(setting_index[s] for s in thg["large_object_settings"]),
        object_extras=_pairs(thg["object_extras"], "phrase"),
        vehicles=tuple((v["vehicle"], v["tags"], v["mode"]) for v in thg["vehicles"]),
        vehicle_settings={mode: _pairs(items, "phrase") for mode, items in thg["vehicle_settings"].items()},
    )


@cache
def vocabulary_records() -> tuple[VocabularyRecord, ...]:
    """Every tag of the vocabulary, in order; the first occurrence of a label id wins."""
    c = content()
    seen: dict[str, VocabularyRecord] = {}
    for section, desc, names in c.sections:
        for name in names:
            label = slug(name)
            if label not in seen:
                seen[label] = VocabularyRecord(label, name, f"{cap(name)}: {desc}.", section)
    for mods, bases, desc in c.combos:
        for mod in mods:
            for base in bases:
                name = f"{mod} {base}"
                label = slug(name)
                if label not in seen:
                    what = f"made of {c.materials[mod]}" if mod in c.materials else f"in {mod}"
                    seen[label] = VocabularyRecord(label, name, f"{cap(name)}: {desc} ({base}) {what}.", "combos")
    return tuple(seen.values())


def demo_vocabulary() -> pd.DataFrame:
    """The demo tagger's vocabulary: ``label`` (slug id), ``name`` and ``description``."""
    recs = vocabulary_records()
    return pd.DataFrame(
        {
            "label": pd.array([r.label for r in recs], dtype="string"),
            "name": pd.array([r.name for r in recs], dtype="string"),
            "description": pd.array([r.description for r in recs], dtype="string"),
        }
    )


def _tag_specs(c: DemoContent) -> list[str]:
    """Every tag list of the content model."""
    specs: list[str] = list(c.scenes.values())
    for acts in c.activities.values():
        specs.extend(a.tags for a in acts)
    for animal in c.animal_classes.values():
        specs.append(animal.tags)
        specs.extend(a.tags for a in animal.actions)
    for pairs in (c.places, c.foods, c.food_settings, c.food_extras, c.objects, c.object_settings, c.object_extras):
        specs.extend(t for _, t in pairs)
    specs.extend(t for _, t, _ in c.vehicles)
    for settings in c.vehicle_settings.values():
        specs.extend(t for _, t in settings)
    specs.append(", ".join(c.popular_head))
    for clothes in c.clothes.values():
        specs.extend(name for name, _ in clothes)
    return specs


def check_content(label_of: dict[str, str]) -> None:
    """Refuse content whose tag lists name a tag outside the vocabulary (``label_of``: slug -> label id),
    or that refers to a scene or vehicle mode the data files do not define."""
    c = content()
    missing = sorted({name for spec in _tag_specs(c) for name, _ in parse_tags(spec) if slug(name) not in label_of})
    if missing:
        raise RuntimeError(f"tagscan.demo: content tags missing from the demo vocabulary: {missing}")
    scenes = {a.scene for acts in c.activities.values() for a in acts}
    scenes |= {a.scene for animal in c.animal_classes.values() for a in animal.actions}
    modes = {mode for _, _, mode in c.vehicles}
    unknown = sorted(scenes - set(c.scenes)) + sorted(modes - set(c.vehicle_settings))
    if unknown:
        raise RuntimeError(f"tagscan.demo: scenes or vehicle modes used but not defined in the data files: {unknown}")
