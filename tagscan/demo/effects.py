"""A planted effect: a label applied at one rate inside a group of samples and at another outside it.

The one description of a planted harm that every generator uses: the demo's photo tagger
(:data:`tagscan.demo.PLANTED`), the tests' audit sets (:func:`tagscan.demo.planted.write_audit_set`), and
the checks that a scan finds what was planted (``group`` is the group id tagscan gives it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Planted"]


@dataclass
class Planted:
    """Members of the group ``where`` (attribute -> value, all must hold) get ``label`` at ``rate``; everyone
    else at ``base`` (None: the generator's own rate for the label)."""

    label: str
    where: dict[str, str]
    rate: float
    base: float | None = None

    @property
    def group(self) -> str:
        """The group's id as tagscan names it: ``tone=dark``, ``tone=dark & gender=man``."""
        return " & ".join(f"{a}={v}" for a, v in self.where.items())

    @property
    def kind(self) -> str:
        """``attribute`` (one attribute) or ``intersection`` (several)."""
        return "attribute" if len(self.where) == 1 else "intersection"

    def inside(self, attributes: Mapping[str, object]) -> bool:
        return all(attributes.get(a) == v for a, v in self.where.items())

    def rate_for(self, attributes: Mapping[str, object]) -> float:
        """The chance that a sample with these ``attributes`` gets the label."""
        if self.inside(attributes):
            return self.rate
        if self.base is None:
            raise ValueError(f"planted {self.label!r} has no base rate outside {self.group}")
        return self.base
