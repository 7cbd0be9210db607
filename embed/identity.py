"""Model identity: which files decide a model's output, their content hash, and a stat-keyed memo of it.

A model's identity is a sha256 over the bytes of the files that decide what it computes (config,
tokenizer, weights: :func:`model_files`), fed by :func:`hash_model_files` and used both by the
embedders' cache names (:func:`tagscan.embed.embedders.model_fingerprint`) and by the record of known
models (:mod:`tagscan.embed.deferred`). Hashing a multi-GB model costs seconds, so
:func:`content_key` remembers the hash (``model_files.json`` in the cache folder) against what
``stat`` says of the files, as git's index does: a rescan reads no weights unless a file was
rewritten.

No torch, no transformers: hashlib, json and the file system only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "IDENTITY_VERSION",
    "IMAGE_PROCESSOR_FILES",
    "TEXT_RECIPE",
    "TOKENIZER_FILES",
    "WEIGHT_PATTERNS",
    "content_key",
    "hash_model_files",
    "model_files",
    "read_memo",
    "write_json",
]

log = logging.getLogger(__name__)

# Bump when the text recipe (pooling, normalisation, fingerprint) changes: old records then miss.
IDENTITY_VERSION = 1
# Model folder stat key -> content key, so a rescan need not re-read gigabytes of weights to learn
# that they did not change (git's index does the same for the working tree).
_STAT_MEMO = "model_files.json"
_STAT_MEMO_MAX = 256  # entries kept (one per model folder state; the oldest go first)
# A file modified within this long before it was hashed may share its stat with a later rewrite on
# a coarse-clock file system ("racy git"); such a state is hashed again next time, not recorded.
_RACY_NS = 2_000_000_000
# The text recipe's key prefix; unchanged since IDENTITY_VERSION 1 so existing records still match.
TEXT_RECIPE = f"tagscan-text-identity:{IDENTITY_VERSION};max_length=default"

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
# Files that may hold a CLIP folder's image processor settings: ``preprocessor_config.json`` (written by
# ``CLIPImageProcessor.save_pretrained()``) and ``processor_config.json`` (``CLIPProcessor.save_pretrained()``
# in transformers 5 nests the image processor there). Hashed when present; a folder with only the older
# layout keeps its identity.
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
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


def read_memo(path: Path) -> dict:
    """The JSON object in ``path``; ``{}`` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # missing or unreadable: a miss, rewritten on the next load
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def content_key(
    model_dir: Path, *, cache_root: Path, recipe: str = TEXT_RECIPE, extra_files: Sequence[str] = ()
) -> str:
    """The identity key of a model folder's bytes (those :func:`model_files` lists) and ``recipe``.

    Hashing a multi-GB model costs seconds, so the key is remembered in ``cache_root`` against the
    folder's stat key (:func:`_stat_key`); an unchanged folder is then known from ``stat`` alone.
    """
    files = model_files(model_dir, extra_files)
    stat_key, newest = _stat_key(model_dir, files, recipe)
    stat_memo = Path(cache_root) / _STAT_MEMO
    known = read_memo(stat_memo).get(stat_key)
    if isinstance(known, str):
        return known
    started = time.time_ns()
    digest = hashlib.sha256(recipe.encode("utf-8") + b"\0")
    hash_model_files(digest, model_dir, extra_files)
    key = digest.hexdigest()[:24]
    if newest < started - _RACY_NS:
        data = read_memo(stat_memo)
        data.pop(stat_key, None)
        data[stat_key] = key
        try:
            write_json(stat_memo, dict(list(data.items())[-_STAT_MEMO_MAX:]))
        except OSError as error:  # a read-only cache only costs the next scan a hash
            log.debug("could not record the model files' key in %s: %s", stat_memo, error)
    return key
