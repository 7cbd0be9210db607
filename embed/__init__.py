"""tagscan.embed: embedders, the content-addressed embedding cache, and FAISS vector indexes.

The public names are re-exported lazily (PEP 562), so ``import tagscan.embed`` imports neither torch,
transformers nor faiss; each is imported on first use of a name that needs it:

- :mod:`tagscan.embed.cache` (numpy only): ``EmbeddingCache``, ``item_key``, ``safe_namespace``.
- :mod:`tagscan.embed.images` (PIL and numpy only): ``load_image``, ``resolve_image_refs``,
  ``image_key``, ``ImageEmbeddingJob``, ``embed_image_refs``, ``ImageEmbeddings``, ``SkippedImage``.
- :mod:`tagscan.embed.deferred` (no torch): text embedders whose identity is recorded load their
  model only when some text is not cached.
- :mod:`tagscan.embed.index` (faiss): ``VectorIndex`` (exact below ``EXACT_THRESHOLD`` rows, IVF
  above), ``ivf_nlist``, ``ivf_nprobe``, ``kmeans``, ``assign_to_centroids``, ``medoids``,
  ``l2_normalize``.
- :mod:`tagscan.embed.embedders` (torch + transformers): ``Embedder``, ``ImageEmbedder``,
  ``TransformersTextEmbedder``, ``ClipEmbedder``, ``DEFAULT_LABEL_PROMPTS``, ``load_embedder``,
  ``default_text_model_dir``, ``load_text_embedder``, ``model_fingerprint``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ClipEmbedder",
    "DEFAULT_LABEL_PROMPTS",
    "EXACT_THRESHOLD",
    "Embedder",
    "EmbeddingCache",
    "ImageEmbedder",
    "ImageEmbeddingJob",
    "ImageEmbeddings",
    "SkippedImage",
    "TransformersTextEmbedder",
    "VectorIndex",
    "assign_to_centroids",
    "default_text_model_dir",
    "embed_image_refs",
    "image_key",
    "item_key",
    "ivf_nlist",
    "ivf_nprobe",
    "kmeans",
    "l2_normalize",
    "load_embedder",
    "load_image",
    "load_text_embedder",
    "medoids",
    "model_fingerprint",
    "resolve_image_refs",
    "safe_namespace",
]

_HOME = {
    "EmbeddingCache": "cache",
    "item_key": "cache",
    "safe_namespace": "cache",
    "ImageEmbeddingJob": "images",
    "ImageEmbeddings": "images",
    "SkippedImage": "images",
    "embed_image_refs": "images",
    "image_key": "images",
    "load_image": "images",
    "resolve_image_refs": "images",
    "EXACT_THRESHOLD": "index",
    "VectorIndex": "index",
    "assign_to_centroids": "index",
    "ivf_nlist": "index",
    "ivf_nprobe": "index",
    "kmeans": "index",
    "l2_normalize": "index",
    "medoids": "index",
    "DEFAULT_LABEL_PROMPTS": "embedders",
    "ClipEmbedder": "embedders",
    "Embedder": "embedders",
    "ImageEmbedder": "embedders",
    "TransformersTextEmbedder": "embedders",
    "default_text_model_dir": "embedders",
    "load_embedder": "embedders",
    "load_text_embedder": "embedders",
    "model_fingerprint": "embedders",
}

if TYPE_CHECKING:  # pragma: no cover - static analysers see the real names
    from .cache import EmbeddingCache, item_key, safe_namespace
    from .embedders import (
        DEFAULT_LABEL_PROMPTS,
        ClipEmbedder,
        Embedder,
        ImageEmbedder,
        TransformersTextEmbedder,
        default_text_model_dir,
        load_embedder,
        load_text_embedder,
        model_fingerprint,
    )
    from .images import (
        ImageEmbeddingJob,
        ImageEmbeddings,
        SkippedImage,
        embed_image_refs,
        image_key,
        load_image,
        resolve_image_refs,
    )
    from .index import (
        EXACT_THRESHOLD,
        VectorIndex,
        assign_to_centroids,
        ivf_nlist,
        ivf_nprobe,
        kmeans,
        l2_normalize,
        medoids,
    )


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
