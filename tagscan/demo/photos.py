"""The demo's simulated photo tagger: one photo's description and predicted tags at a time.

The tagger is a decent one: it predicts what is in the photo (the subject, the scene and the tags
that go with them) with high scores, adds a few popular generic tags (Zipf-like popularity over the
vocabulary) and some low-score noise. Its associations with age and gender are benign and true to
the content (toys on children's photos, canes on seniors', dresses on women's). Two harmful
associations are planted (:data:`PLANTED`). All randomness comes from one ``numpy.random.Generator``;
the word lists come from :func:`tagscan.demo.vocabulary.content`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tagscan.demo.effects import Planted
from tagscan.demo.vocabulary import Activity, DemoContent, cap, content, parse_tags, slug, vocabulary_records

__all__ = ["DEMO_ATTRIBUTES", "PLANTED", "PhotoGenerator", "PlantedAssociation"]

DEMO_ATTRIBUTES = ("skin_tone", "gender", "age_group")


@dataclass
class PlantedAssociation(Planted):
    """A harmful (label, group) association planted in the demo predictions: a :class:`Planted` effect with
    the score range of its predictions and a description."""

    scores: tuple[float, float] = (0.55, 0.9)
    description: str = ""


# Rates of the planted errors (probability that a person photo gets the tag with a score >= 0.5).
PLANTED: tuple[PlantedAssociation, ...] = (
    PlantedAssociation(
        label="gorilla",
        where={"skin_tone": "dark"},
        rate=0.04,
        base=0.001,
        scores=(0.55, 0.93),
        description=(
            "The animal tag 'gorilla' is applied to about 4% of photos of dark-skinned people, against about 0.1% "
            "of photos of other people; it is also, correctly, applied to photos of gorillas."
        ),
    ),
    PlantedAssociation(
        label="mugshot",
        where={"skin_tone": "dark", "gender": "man"},
        rate=0.05,
        base=0.002,
        scores=(0.55, 0.9),
        description=(
            "The crime tag 'mugshot' is applied to about 5% of photos of dark-skinned men, against about 0.2% of "
            "photos of other people (dark-skinned women and men of other skin tones included), so the marginal "
            "groups, all dark-skinned people and all men, are elevated only through their share of dark-skinned men."
        ),
    ),
)

_MIN_ROWS, _MAX_ROWS = 8, 15  # predicted rows per photo


def _article(phrase: str) -> str:
    w = phrase.lower()
    if w.startswith(("uni", "use", "usu", "ukul", "eu", "one")):
        return "a"
    if w.startswith(("hour", "honest", "heir")) or w[:1] in "aeiou":
        return "an"
    return "a"


def _with_article(phrase: str) -> str:
    return f"{_article(phrase)} {phrase}"


def _display(name: str, proper: frozenset[str]) -> str:
    """A species name as it reads in a sentence: 'german shepherd' -> 'German shepherd'."""
    text = " ".join(w.capitalize() if w in proper else w for w in name.split())
    return text.replace("Cavalier king Charles", "Cavalier King Charles")


class PhotoGenerator:
    """One pass over the samples; all randomness comes from ``rng``.

    ``label_of`` maps a tag name's slug to its label id, ``section_of`` a label id to its vocabulary
    section. Each photo method returns the description and the predictions (label id -> score).
    """

    def __init__(self, rng: np.random.Generator, label_of: dict[str, str], section_of: dict[str, str]):
        c: DemoContent = content()
        self.c = c
        self.rng = rng
        self.label_of = label_of
        self.labels = np.array(sorted(set(label_of.values())), dtype=object)
        self._tag_cache: dict[str, tuple[tuple[str, float], ...]] = {}
        self.section_of_name = {r.name: r.section for r in vocabulary_records()}
        self.animal_classes = list(c.animal_classes)
        w = np.array([c.animal_classes[k].weight for k in self.animal_classes])
        self.animal_cdf = np.cumsum(w / w.sum())
        self.animal_cdf[-1] = 1.0
        # Popularity: the generic head in order, then every other eligible label in a seeded order.
        head = [label_of[slug(n)] for n in c.popular_head]
        head = list(dict.fromkeys(head))
        in_head = set(head)
        rest = sorted(lab for lab, sec in section_of.items() if sec not in c.never_popular and lab not in in_head)
        rest = [rest[i] for i in rng.permutation(len(rest))]
        self.n_head = len(head)
        self.popular = np.array(head + rest, dtype=object)
        w = 1.0 / np.power(np.arange(len(self.popular)) + 3.0, 1.1)
        self.popular_cdf = np.cumsum(w / w.sum())

    # -- small helpers ------------------------------------------------------------------
    def choice(self, seq: Sequence):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def tags(self, spec: str) -> tuple[tuple[str, float], ...]:
        got = self._tag_cache.get(spec)
        if got is None:
            got = tuple((self.label_of[slug(n)], p) for n, p in parse_tags(spec))
            self._tag_cache[spec] = got
        return got

    def add(self, out: dict[str, float], spec: str) -> None:
        """Add the tags of ``spec`` (each with its probability) with content-level scores."""
        for label, p in self.tags(spec):
            if p < 1.0 and not self.chance(p):
                continue
            if self.chance(0.12):  # a true tag the tagger is unsure about
                score = self.rng.uniform(0.15, 0.49)
            else:
                score = 0.5 + 0.49 * self.rng.beta(5.0, 2.0)
            out[label] = max(out.get(label, 0.0), float(score))

    def put(self, out: dict[str, float], name: str, lo: float, hi: float) -> None:
        label = self.label_of[slug(name)]
        out[label] = max(out.get(label, 0.0), float(self.rng.uniform(lo, hi)))

    def pad(self, text: str) -> str:
        """Bring a sentence to at least 8 words with a neutral time-of-day phrase."""
        if len(text.split()) < 8:
            text = f"{text} {self.choice(self.c.time_pads)}"
        return text

    # -- people -------------------------------------------------------------------------
    def subject(self, tone: str, gender: str, age: str) -> str:
        """A neutral noun phrase for the person, e.g. 'a dark-skinned man in his forties'."""
        pron = "her" if gender == "woman" else "his"
        if age == "child":
            noun = "girl" if gender == "woman" else "boy"
            adj = self.choice(("young", "little", "", ""))
            tail = f" of about {self.c.number_words[int(self.rng.integers(5, 12))]}" if self.chance(0.25) else ""
        elif age == "adult":
            noun = gender
            r = self.rng.random()
            adj, tail = ("", f" in {pron} {self.choice(self.c.decades['adult'])}") if r < 0.4 else (
                (self.choice(("young", "middle-aged")), "") if r < 0.75 else ("", ""))
        else:
            noun = gender
            if self.chance(0.65):
                adj, tail = self.choice(("older", "elderly", "senior")), ""
            else:
                adj, tail = "", f" in {pron} {self.choice(self.c.decades['senior'])}"
        form = int(self.rng.integers(3))
        if form == 0:
            core = " ".join(x for x in (adj, f"{tone}-skinned", noun) if x) + tail
        elif form == 1:
            core = " ".join(x for x in (adj, noun) if x) + f"{tail} with {tone} skin"
        else:
            core = " ".join(x for x in (adj, noun) if x) + f"{tail} with a {tone} skin tone"
        return _with_article(core)

    def person(self, tone: str, gender: str, age: str) -> tuple[str, dict[str, float]]:
        c = self.c
        out: dict[str, float] = {}
        self.put(out, "person", 0.9, 0.995)
        noun = {"child": "girl" if gender == "woman" else "boy", "adult": gender, "senior": gender}[age]
        self.put(out, noun, 0.75, 0.98)
        if age == "child":
            self.put(out, "child", 0.7, 0.97)
        elif age == "senior":
            self.put(out, self.choice(("senior", "elderly person")), 0.6, 0.95)
            self.add(out, "gray hair:0.6")
        else:
            self.add(out, "adult:0.4, young adult:0.1")
        if gender == "man" and age != "child":
            self.add(out, "beard:0.25, mustache:0.05")
        self.add(out, "face:0.35, portrait:0.2, smile:0.25, hair:0.15")

        own = c.activities[age]
        acts: tuple[Activity, ...] = own if self.chance(0.72) else c.activities["shared"] + own
        weights = np.array([a.weight for a in acts])
        cdf = np.cumsum(weights / weights.sum())
        act = acts[min(int(np.searchsorted(cdf, self.rng.random(), side="right")), len(acts) - 1)]
        phrase = act.phrase
        if "{dog}" in phrase:
            breed = self.choice(c.section("dog_breeds")[:60]) if self.chance(0.6) else "dog"
            phrase = phrase.replace("{dog}", _display(breed, c.proper_words))
            if breed != "dog":
                self.put(out, breed, 0.6, 0.95)
        self.put(out, parse_tags(act.tags)[0][0], 0.8, 0.99)
        self.add(out, act.tags)
        self.add(out, c.scenes[act.scene])

        worn = [name for name, p in c.clothes[(age, gender)] if self.chance(p)]
        mention = ""
        for name in worn:
            colour = self.choice(c.colours) if name in c.colourable and self.chance(0.6) else ""
            self.put(out, name, 0.55, 0.95)
            if colour:
                self.put(out, f"{colour} {name}", 0.5, 0.9)
            if not mention and self.chance(0.5):
                item = f"{colour} {name}".strip()
                mention = item if name in c.plural_items else _with_article(item)

        subj = self.subject(tone, gender, age)
        form = int(self.rng.integers(6))
        if form == 1 and mention:
            text = f"{cap(subj)}, wearing {mention}, {phrase}."
        elif form == 2 and mention:
            text = f"{cap(subj)} {phrase}, wearing {mention}."
        elif form == 3:
            text = f"Portrait of {subj} {phrase}."
            self.put(out, "portrait", 0.6, 0.95)
        elif form == 4:
            text = f"Candid photo of {subj} {phrase}."
            self.add(out, "candid:0.5")
        elif form == 5:
            text = f"{cap(subj)} smiling while {phrase}."
            self.put(out, "smile", 0.7, 0.98)
        else:
            text = f"{cap(subj)} {phrase}."
        if len(text.split()) > 25:
            text = f"{cap(subj)} {phrase}."
        if len(text.split()) < 8:
            text = self.pad(text[:-1]) + "."
        return text, out

    # -- everything else ------------------------------------------------------------------
    def animal(self) -> tuple[str, dict[str, float]]:
        c = self.c
        out: dict[str, float] = {}
        cls = self.animal_classes[int(np.searchsorted(self.animal_cdf, self.rng.random(), side="right"))]
        animal = c.animal_classes[cls]
        species = self.choice(animal.species)
        self.put(out, species, 0.82, 0.995)
        self.add(out, animal.tags)
        if self.section_of_name.get(species) == "birds":
            self.add(out, "bird:0.9")
        if cls == "primate":
            # A good tagger still hedges between related primates, with low scores.
            for near in ("ape", "monkey", "gorilla", "chimpanzee"):
                if near != species and self.chance(0.25):
                    self.put(out, near, 0.1, 0.45)
            if "gorilla" in species:
                self.put(out, "gorilla", 0.8, 0.99)
                self.add(out, "ape:0.7")
            elif species in c.apes:
                self.add(out, "ape:0.7")
            elif "monkey" in species or species in c.monkeys:
                self.add(out, "monkey:0.7")
        act = self.choice(animal.actions)
        phrase = act.phrase
        self.add(out, act.tags)
        self.add(out, c.scenes[act.scene])
        noun = _display(species, c.proper_words)
        wild = cls not in {"dog", "cat", "farm", "small_pet"}
        form = int(self.rng.integers(5))
        if form == 0:
            text = f"{cap(_with_article(noun))} {phrase}"
        elif form == 1:
            text = f"Close-up of {_with_article(noun)} {phrase}"
            self.add(out, "close-up:0.7")
        elif form == 2:
            text = f"{'Wildlife photo' if wild else 'Photo'} of {_with_article(noun)} {phrase}"
            if wild:
                self.add(out, "wildlife photography:0.5")
        elif form == 3:
            adj = self.choice(("curious", "beautiful", "lone", "young") if wild else ("young", "playful", "sleepy"))
            text = f"{cap(_with_article(adj + ' ' + noun))} {phrase}"
        else:
            text = f"{cap(_with_article(noun))} {phrase}, seen from a low angle"
            self.add(out, "low angle view:0.6")
        return self.pad(text) + ".", out

    def place(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        text, tags = self.choice(self.c.places)
        self.add(out, tags)
        first = parse_tags(tags)[0][0]
        self.put(out, first, 0.85, 0.995)
        if self.chance(0.35):
            text = f"{text}, {self.choice(('photographed from above', 'in a wide panoramic shot', 'on a calm day', 'with no one around'))}"
            if "above" in text:
                self.add(out, "aerial view:0.7, aerial photography:0.4")
            elif "panoramic" in text:
                self.add(out, "panorama:0.7")
        return text + ".", out

    def food(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        dish, tags = self.choice(self.c.foods)
        setting, stags = self.choice(self.c.food_settings)
        self.add(out, tags)
        self.put(out, parse_tags(tags)[0][0], 0.85, 0.995)
        self.add(out, "food:0.8, meal:0.3")
        self.add(out, stags)
        text = f"{cap(dish)} {setting}"
        if self.chance(0.6):
            extra, etags = self.choice(self.c.food_extras)
            text = f"{text}, {extra}"
            self.add(out, etags)
        return self.pad(text) + ".", out

    def object(self) -> tuple[str, dict[str, float]]:
        c = self.c
        out: dict[str, float] = {}
        thing, tags = self.choice(c.objects)
        if thing in c.large_objects:
            setting, stags = c.object_settings[self.choice(c.large_settings)]
        else:
            setting, stags = self.choice(c.object_settings)
        self.add(out, tags)
        self.put(out, parse_tags(tags)[0][0], 0.85, 0.995)
        self.add(out, stags)
        text = f"{cap(thing)} {setting}"
        if self.chance(0.6):
            extra, etags = self.choice(c.object_extras)
            text = f"{text} {extra}"
            self.add(out, etags)
        self.add(out, "still life:0.2, indoor:0.4")
        return self.pad(text) + ".", out

    def vehicle(self) -> tuple[str, dict[str, float]]:
        out: dict[str, float] = {}
        thing, tags, mode = self.choice(self.c.vehicles)
        setting, stags = self.choice(self.c.vehicle_settings[mode])
        self.add(out, tags)
        self.put(out, parse_tags(tags)[0][0], 0.85, 0.995)
        self.add(out, stags)
        self.add(out, "vehicle:0.6, outdoor:0.5")
        form = int(self.rng.integers(3))
        if form == 0:
            text = f"{cap(_with_article(thing))} {setting}"
        elif form == 1:
            text = f"Photo of {_with_article(thing)} {setting}"
        else:
            text = f"{cap(_with_article(thing))} {setting}, {self.choice(('seen from the side', 'seen from the front', 'in sharp focus', 'with motion blur'))}"
            if "side" in text:
                self.add(out, "side view:0.6")
            elif "motion blur" in text:
                self.add(out, "motion blur:0.7")
        return self.pad(text) + ".", out

    # -- tagger-wide effects ------------------------------------------------------------
    def popular_and_noise(self, out: dict[str, float]) -> None:
        """A few popular tags (Zipf-like over the vocabulary), then low-score noise over all of it.

        Generic tags at the head of the ranking get mid-range scores (about half pass the threshold);
        a tag from the long tail is a stray guess and scores low.
        """
        for _ in range(int(self.rng.integers(1, 3))):
            i = min(int(np.searchsorted(self.popular_cdf, self.rng.random(), side="right")), len(self.popular) - 1)
            lab = self.popular[i]
            if lab not in out:
                out[lab] = float(self.rng.beta(2.2, 2.4) if i < self.n_head else self.rng.uniform(0.05, 0.55))
        for _ in range(int(self.rng.integers(1, 4))):
            lab = self.labels[int(self.rng.integers(len(self.labels)))]
            if lab not in out:
                out[lab] = float(self.rng.uniform(0.01, 0.35))

    def fit_size(self, out: dict[str, float], keep: frozenset[str] = frozenset()) -> None:
        """Keep a photo's predictions between _MIN_ROWS and _MAX_ROWS: drop the lowest scores (never a
        label in ``keep``), or add noise."""
        if len(out) > _MAX_ROWS:
            ranked = sorted((kv for kv in out.items() if kv[0] not in keep), key=lambda kv: (kv[1], kv[0]))
            for label, _ in ranked[: len(out) - _MAX_ROWS]:
                del out[label]
        while len(out) < _MIN_ROWS:
            lab = self.labels[int(self.rng.integers(len(self.labels)))]
            if lab not in out:
                out[lab] = float(self.rng.uniform(0.01, 0.35))

    def plant(self, out: dict[str, float], tone: str, gender: str) -> frozenset[str]:
        """The planted harms (:data:`PLANTED`), each drawn at its rate for this person's attributes.

        Returns the labels planted on this photo (they always score above the threshold).
        """
        planted = []
        attributes = {"skin_tone": tone, "gender": gender}
        for p in PLANTED:
            if self.chance(p.rate_for(attributes)):
                self.put(out, p.label, *p.scores)
                planted.append(p.label)
        return frozenset(planted)
