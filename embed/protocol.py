"""What an embedder is: the :class:`Embedder` and :class:`ImageEmbedder` protocols (numpy only, no torch).

An :class:`Embedder` turns a sequence of texts into an ``(n, dim)`` float32 matrix of L2-normalised
rows; an :class:`ImageEmbedder` also turns image references (absolute paths or http(s) URLs) into
rows of the same space. Its ``name`` is a fingerprint of the model and of the embedding recipe, so it
can be used as the namespace of the content cache (:class:`tagscan.embed.cache.EmbeddingCache`): two
models, or the same model truncated at another length or prompted with other templates, never share
cached vectors.

The built-in embedders live in :mod:`tagscan.embed.embedders` (torch and transformers); your own,
named by ``embed.model: python:module:attr``, is loaded by :mod:`tagscan.embed.plugins`; both are
reached through :func:`tagscan.embed.loader.load_embedder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from tagscan.constants import InputKindName

__all__ = ["DEFAULT_LABEL_PROMPTS", "Embedder", "ImageEmbedder", "InputKind"]

#: The prompt templates label names go through for image inputs (``{label}`` is replaced).
DEFAULT_LABEL_PROMPTS: tuple[str, ...] = ("a photo of a {label}",)
#: The input kinds an embedder can be loaded for.
InputKind = InputKindName  # the names of tagscan.constants.INPUT_KINDS


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds texts into unit-norm float32 rows.

    Attributes:
        name: stable fingerprint id of the model and recipe; used as the cache namespace.
        dim: number of columns of every matrix returned.
    """

    name: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Return a C-contiguous float32 ``(len(texts), dim)`` array of L2-normalised rows.

        An empty ``texts`` gives an array of shape ``(0, dim)``.
        """
        ...


@runtime_checkable
class ImageEmbedder(Embedder, Protocol):
    """An :class:`Embedder` that also embeds images into the same space as its texts."""

    def embed_images(self, images: Sequence[str]) -> np.ndarray:
        """Return a float32 ``(len(images), dim)`` array of L2-normalised rows.

        Each item is an absolute file path or an http(s) URL; an image that cannot be read raises
        :class:`~tagscan.errors.DataError` naming it.
        """
        ...
