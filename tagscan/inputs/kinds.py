"""The kinds of input a scan reads (``embed.input``), in one registry: one entry per kind says where its
inputs are in the samples table, whether they are files, and how reviewers and the report show one.

The embedder of each kind is :mod:`tagscan.embed`'s (``load_embedder(spec, input_kind=...)``); a review
backend and the HTML report choose their widget from :attr:`InputKind.shows_as`. Adding a kind is an entry
here and its name in :data:`tagscan.constants.INPUT_KINDS`, an embedder in :mod:`tagscan.embed`, and a widget
for its ``shows_as`` in the review backend and the report when none fits yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["InputKind", "input_kind", "input_kinds", "sample_columns"]


@dataclass(frozen=True)
class InputKind:
    """One kind of input.

    - ``name``: the value of ``embed.input``;
    - ``column``: the samples column that holds each sample's input;
    - ``is_path``: the values are file paths (relative to the samples table's folder or absolute) or URLs;
    - ``shows_as``: how one input is shown to a reviewer and in the report (``text`` or ``image``);
    - ``noun``: the input named in messages ("text", "image").
    """

    name: str
    column: str
    is_path: bool
    shows_as: Literal["text", "image"]
    noun: str


_KINDS: dict[str, InputKind] = {
    "text": InputKind(name="text", column="text", is_path=False, shows_as="text", noun="text"),
    "image": InputKind(name="image", column="image", is_path=True, shows_as="image", noun="image"),
}


def input_kind(name: str) -> InputKind:
    """The registered kind ``name``; a KeyError lists the valid ones."""
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown input kind {name!r}; valid kinds: {', '.join(_KINDS)}") from None


def input_kinds() -> tuple[InputKind, ...]:
    return tuple(_KINDS.values())


def sample_columns() -> tuple[str, ...]:
    """The samples columns that hold inputs (never group attributes), in registry order."""
    return tuple(dict.fromkeys(k.column for k in _KINDS.values()))
