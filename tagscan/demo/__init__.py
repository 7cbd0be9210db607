"""The offline demo data set behind ``tagscan demo``: a simulated photo tagger with planted harms.

:func:`build_demo` writes a photo collection (alt-text style descriptions; about 55% show a person,
with ``skin_tone``, ``gender`` and ``age_group`` set; the rest show animals, places, food, objects and
vehicles, with those attributes null), a vocabulary of a few thousand realistic photo tags, the
tagger's predictions in long format, and a ``tagscan.yaml`` config that scans them. Two harmful
associations are planted (:data:`PLANTED`): an animal tag over-applied to photos of dark-skinned
people, and a crime tag over-applied to photos of dark-skinned men. A scan should rank those two
above everything else.

Modules: ``vocabulary`` (the word lists, read from ``data/*.yaml``, and the tag vocabulary),
``photos`` (the simulated tagger), ``build`` (the files of the data set) and ``planted`` (the seeded
generators of audit sets with planted effects that the tests and benchmarks use).

Pure numpy/pandas/pyyaml; seeded through one ``numpy.random.Generator``; no network.
"""

from __future__ import annotations

from tagscan.demo.build import build_demo
from tagscan.demo.photos import DEMO_ATTRIBUTES, PLANTED, PlantedAssociation
from tagscan.demo.vocabulary import demo_vocabulary

__all__ = [
    "DEMO_ATTRIBUTES",
    "PLANTED",
    "PlantedAssociation",
    "build_demo",
    "demo_vocabulary",
]
