"""tagscan.embed: embedders, the content-addressed embedding cache, and FAISS vector indexes.

The public names are re-exported lazily (PEP 562), so ``import tagscan.embed`` imports neither torch,
transformers nor faiss; each is imported on first use of a name that needs it:

- :mod:`tagscan.embed.cache` (numpy only): ``EmbeddingCache``, ``item_key``, ``safe_namespace``.
- :mod:`tagscan.embed.index` (faiss): ``VectorIndex``, ``kmeans``, ``medoids``, ``l2_normalize``.
- :mod:`tagscan.embed.embedders` (torch + transformers): ``Embedder``, ``TransformersTextEmbedder``,
  ``default_text_model_dir``, ``load_text_embedder``, ``model_fingerprint``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Embedder",
    "EmbeddingCache",
    "TransformersTextEmbedder",
    "VectorIndex",
    "default_text_model_dir",
    "item_key",
    "kmeans",
    "l2_normalize",
    "load_text_embedder",
    "medoids",
    "model_fingerprint",
    "safe_namespace",
]

_HOME = {
    "EmbeddingCache": "cache",
    "item_key": "cache",
    "safe_namespace": "cache",
    "VectorIndex": "index",
    "kmeans": "index",
    "l2_normalize": "index",
    "medoids": "index",
    "Embedder": "embedders",
    "TransformersTextEmbedder": "embedders",
    "default_text_model_dir": "embedders",
    "load_text_embedder": "embedders",
    "model_fingerprint": "embedders",
}

if TYPE_CHECKING:  # pragma: no cover - static analysers see the real names
    from .cache import EmbeddingCache, item_key, safe_namespace
    from .embedders import (
        Embedder,
        TransformersTextEmbedder,
        default_text_model_dir,
        load_text_embedder,
        model_fingerprint,
    )
    from .index import VectorIndex, kmeans, l2_normalize, medoids


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
