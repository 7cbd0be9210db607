"""tagscan.embed: embedders, the content-addressed embedding cache, FAISS vector indexes, and the stage.

The public names are re-exported lazily (PEP 562), so ``import tagscan.embed`` imports neither torch,
transformers nor faiss; each is imported on first use of a name that needs it. Modules, lightest first
(each imports only modules above it, or lazily):

- :mod:`tagscan.embed.protocol` (numpy only): ``Embedder``, ``ImageEmbedder``, ``InputKind``,
  ``DEFAULT_LABEL_PROMPTS``.
- :mod:`tagscan.embed.plugins` (numpy only): your own ``python:module:attr`` embedder:
  ``load_plugin_embedder``, ``CheckedEmbedder``.
- :mod:`tagscan.embed.loader` (no torch of its own): ``load_embedder``, the one entry point from an
  ``embed.model`` value to an embedder; imports :mod:`tagscan.embed.embedders` only for a model.
- :mod:`tagscan.embed.identity` (hashlib only): ``model_files``, ``hash_model_files``,
  ``content_key`` (a model folder's content hash, remembered against ``stat``).
- :mod:`tagscan.embed.deferred` (no torch): ``DeferredEmbedder``: text and CLIP embedders whose
  identity is recorded load their model only when something is not cached.
- :mod:`tagscan.embed.cache` (numpy only): ``EmbeddingCache``, ``item_key``, ``safe_namespace``.
- :mod:`tagscan.embed.images` (PIL and numpy only): ``load_image``, ``resolve_image_refs``,
  ``image_key``, ``ImageEmbeddingJob``, ``embed_image_refs``, ``ImageEmbeddings``, ``SkippedImage``.
- :mod:`tagscan.embed.index` (faiss): ``VectorIndex`` (exact below ``EXACT_THRESHOLD`` rows, IVF
  above), ``save_index`` / ``SavedIndex``, ``ivf_nlist``, ``ivf_nprobe``, ``kmeans``,
  ``assign_to_centroids``, ``medoids``, ``l2_normalize``.
- :mod:`tagscan.embed.stage` (no torch or faiss at import): ``embed_audit_set``, ``EmbedOutcome``,
  ``TermEmbedder``: the embedding stage of a scan.
- :mod:`tagscan.embed.embedders` (torch + transformers): ``TransformersTextEmbedder``,
  ``ClipEmbedder``, ``default_text_model_dir``, ``load_text_embedder``, ``model_fingerprint``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "CheckedEmbedder",
    "ClipEmbedder",
    "DEFAULT_LABEL_PROMPTS",
    "DeferredEmbedder",
    "EXACT_THRESHOLD",
    "EmbedOutcome",
    "Embedder",
    "EmbeddingCache",
    "ImageEmbedder",
    "ImageEmbeddingJob",
    "ImageEmbeddings",
    "InputKind",
    "SavedIndex",
    "SkippedImage",
    "TermEmbedder",
    "TransformersTextEmbedder",
    "VectorIndex",
    "assign_to_centroids",
    "content_key",
    "default_text_model_dir",
    "embed_audit_set",
    "embed_image_refs",
    "hash_model_files",
    "image_key",
    "item_key",
    "ivf_nlist",
    "ivf_nprobe",
    "kmeans",
    "l2_normalize",
    "load_embedder",
    "load_image",
    "load_plugin_embedder",
    "load_text_embedder",
    "medoids",
    "model_files",
    "model_fingerprint",
    "resolve_image_refs",
    "safe_namespace",
    "save_index",
]

_HOME = {
    "DEFAULT_LABEL_PROMPTS": "protocol",
    "Embedder": "protocol",
    "ImageEmbedder": "protocol",
    "InputKind": "protocol",
    "CheckedEmbedder": "plugins",
    "load_plugin_embedder": "plugins",
    "load_embedder": "loader",
    "content_key": "identity",
    "hash_model_files": "identity",
    "model_files": "identity",
    "DeferredEmbedder": "deferred",
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
    "SavedIndex": "index",
    "VectorIndex": "index",
    "assign_to_centroids": "index",
    "ivf_nlist": "index",
    "ivf_nprobe": "index",
    "kmeans": "index",
    "l2_normalize": "index",
    "medoids": "index",
    "save_index": "index",
    "EmbedOutcome": "stage",
    "TermEmbedder": "stage",
    "embed_audit_set": "stage",
    "ClipEmbedder": "embedders",
    "TransformersTextEmbedder": "embedders",
    "default_text_model_dir": "embedders",
    "load_text_embedder": "embedders",
    "model_fingerprint": "embedders",
}

if TYPE_CHECKING:  # pragma: no cover - static analysers see the real names
    from .cache import (
        EmbeddingCache,
        item_key,
        safe_namespace,
    )
    from .deferred import (
        DeferredEmbedder,
    )
    from .embedders import (
        ClipEmbedder,
        TransformersTextEmbedder,
        default_text_model_dir,
        load_text_embedder,
        model_fingerprint,
    )
    from .identity import (
        content_key,
        hash_model_files,
        model_files,
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
        SavedIndex,
        VectorIndex,
        assign_to_centroids,
        ivf_nlist,
        ivf_nprobe,
        kmeans,
        l2_normalize,
        medoids,
        save_index,
    )
    from .loader import (
        load_embedder,
    )
    from .plugins import (
        CheckedEmbedder,
        load_plugin_embedder,
    )
    from .protocol import (
        DEFAULT_LABEL_PROMPTS,
        Embedder,
        ImageEmbedder,
        InputKind,
    )
    from .stage import (
        EmbedOutcome,
        TermEmbedder,
        embed_audit_set,
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
