"""Your own embedder, named by ``embed.model: python:module:attr`` (numpy and PIL only, no torch).

Any object with these attributes is an embedder (see :class:`tagscan.embed.protocol.Embedder`):

- ``name: str`` -- a stable id of the model *and* its recipe; it names the cache, so change it
  whenever the vectors would change (new weights, new preprocessing).
- ``dim: int`` -- the width of every row returned.
- ``embed_texts(texts: Sequence[str]) -> array (len(texts), dim)`` -- label names (and, for text
  inputs, the inputs).
- ``embed_images(images: Sequence[str]) -> array (len(images), dim)`` -- for image inputs only; each
  item is an absolute path or an http(s) URL (:func:`tagscan.embed.images.load_image` reads one as an
  RGB ``PIL.Image`` and raises ``DataError`` for a bad one; raise ``DataError`` too, so that skipping
  unreadable images works).
- optional ``batch_size: int`` -- how many items tagscan hands over per call.

``embed.model: python:mypackage.mymodule:make_embedder`` imports ``mypackage.mymodule`` (installed,
or on ``PYTHONPATH``) and calls ``make_embedder()`` with no arguments (a class works too); the result
is checked (attributes, then the shape of one probe call) and wrapped so that every returned batch is
validated and L2-normalised to float32. Loading a numpy embedder this way never imports torch.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tagscan.embed.protocol import InputKind
from tagscan.errors import ConfigError, DataError

__all__ = ["CheckedEmbedder", "load_plugin_embedder"]

_CONFIG_KEY = "embed.model"


def _positive_int(value: object, key: str, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: must be a positive integer, got {value!r}; use e.g. {example}")
    return value


def _user_fix(spec: str) -> str:
    return (
        f"'{spec}' must name an embedder or a factory returning one: an object with name (str), dim (int), "
        "embed_texts(texts) and, for image inputs, embed_images(refs); see 'Your own embedder' in the README"
    )


def _looks_like_embedder(obj: object) -> bool:
    return all(hasattr(obj, attr) for attr in ("name", "dim", "embed_texts")) and not isinstance(obj, type)


def load_plugin_embedder(spec: str, *, input_kind: InputKind = "text", batch_size: int = 64) -> CheckedEmbedder:
    """Import and check the embedder named by ``spec`` (``python:module:attr``), wrapped in a
    :class:`CheckedEmbedder`.

    ``module`` is imported (installed, or on ``PYTHONPATH``); ``attr`` (dotted for nested names) is an
    embedder, or a factory (a class works too) called with no arguments that returns one.

    Raises:
        ConfigError: naming ``embed.model``: ``spec`` is malformed, the module cannot be imported or
            has no such attribute, the factory fails, or the result breaks the protocol.
    """
    target = spec[len("python:") :]
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"{_CONFIG_KEY}: '{spec}' is not of the form python:module:attr; "
            "write e.g. python:mypackage.embedders:make_embedder"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"{_CONFIG_KEY}: '{spec}': module '{module_name}' could not be imported ({error}); "
            "install it or add its folder to PYTHONPATH"
        ) from error
    except Exception as error:  # the user's module failed while importing
        raise ConfigError(
            f"{_CONFIG_KEY}: '{spec}': importing module '{module_name}' failed "
            f"({type(error).__name__}: {error}); fix that module"
        ) from error
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(
                f"{_CONFIG_KEY}: '{spec}': module '{module_name}' has no attribute '{attr}'; "
                "check the name after the last ':'"
            )
        obj = getattr(obj, part)
    if not _looks_like_embedder(obj):
        if not callable(obj):
            raise ConfigError(f"{_CONFIG_KEY}: {_user_fix(spec)}; got {type(obj).__name__}")
        try:
            obj = obj()
        except Exception as error:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{spec}': calling {attr}() failed ({type(error).__name__}: {error}); "
                "the factory is called with no arguments"
            ) from error
    return CheckedEmbedder(obj, spec=spec, input_kind=input_kind, batch_size=batch_size)


class CheckedEmbedder:
    """A user's embedder behind checks: every batch is validated and L2-normalised to float32.

    Construction checks the attributes (``name``, ``dim``, ``embed_texts``, and ``embed_images`` for
    image inputs) and the shape of one probe call per method.

    Raises:
        ConfigError: an attribute is missing or of the wrong type, or a probe call fails or returns
            the wrong shape.
    """

    def __init__(self, inner: object, *, spec: str, input_kind: InputKind, batch_size: int) -> None:
        self._inner = inner
        self.spec = spec
        self.input_kind = input_kind
        missing = [attr for attr in ("name", "dim", "embed_texts") if not hasattr(inner, attr)]
        if input_kind == "image" and not hasattr(inner, "embed_images"):
            missing.append("embed_images")
        if missing:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{spec}' returned a {type(inner).__name__} without {', '.join(missing)}; "
                f"{_user_fix(spec)}"
            )
        name, dim = inner.name, inner.dim  # type: ignore[attr-defined]
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{_CONFIG_KEY}: '{spec}': name must be a non-empty string (it names the cache), got {name!r}; "
                "use the model's name and version"
            )
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"{_CONFIG_KEY}: '{spec}': dim must be a positive integer, got {dim!r}")
        for method in ("embed_texts",) + (("embed_images",) if input_kind == "image" else ()):
            if not callable(getattr(inner, method)):
                raise ConfigError(f"{_CONFIG_KEY}: '{spec}': {method} must be a method; {_user_fix(spec)}")
        self.name = name
        self.dim = int(dim)
        inner_batch = getattr(inner, "batch_size", None)
        self.batch_size = (
            int(inner_batch)
            if isinstance(inner_batch, (int, np.integer))
            and not isinstance(inner_batch, bool)
            and inner_batch > 0
            else _positive_int(batch_size, "embed.batch_size", 64)
        )
        self._probe()

    def __repr__(self) -> str:
        return f"user embedder {self.spec} (name={self.name!r}, dim={self.dim})"

    def _probe(self) -> None:
        calls: list[tuple[str, list[str]]] = [("embed_texts", ["tagscan probe"])]
        with tempfile.TemporaryDirectory(prefix="tagscan-probe-") as folder:
            if self.input_kind == "image":
                from PIL import Image

                path = Path(folder) / "probe.png"
                Image.new("RGB", (32, 32), (128, 64, 32)).save(path)
                calls.append(("embed_images", [str(path)]))
            for method, items in calls:
                try:
                    rows = getattr(self._inner, method)(items)
                except Exception as error:
                    raise ConfigError(
                        f"{_CONFIG_KEY}: '{self.spec}': the probe call {method}({items!r}) failed "
                        f"({type(error).__name__}: {error}); it must return an array of shape (1, {self.dim})"
                    ) from error
                shape = getattr(np.asarray(rows) if rows is not None else None, "shape", None)
                if shape != (1, self.dim):
                    raise ConfigError(
                        f"{_CONFIG_KEY}: '{self.spec}': the probe call {method}({items!r}) returned shape "
                        f"{shape}, expected (1, {self.dim}) (one row of width dim per item)"
                    )

    def _checked(self, rows: object, expected: int, method: str) -> np.ndarray:
        matrix = np.asarray(rows)
        if matrix.shape != (expected, self.dim):
            raise DataError(
                f"{_CONFIG_KEY} '{self.spec}': {method} returned shape {matrix.shape} for {expected} items; "
                f"it must return ({expected}, {self.dim})"
            )
        if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
            raise DataError(
                f"{_CONFIG_KEY} '{self.spec}': {method} returned dtype {matrix.dtype}; return float32"
            )
        matrix = matrix.astype(np.float64, copy=False)
        if not np.isfinite(matrix).all():
            row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
            raise DataError(
                f"{_CONFIG_KEY} '{self.spec}': {method} returned NaN or infinite values in row {row}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if (norms == 0).any():
            row = int(np.flatnonzero(norms[:, 0] == 0)[0])
            raise DataError(
                f"{_CONFIG_KEY} '{self.spec}': {method} returned an all-zero row ({row}), which has no direction"
            )
        return np.ascontiguousarray(matrix / norms, dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return self._checked(self._inner.embed_texts(texts), len(texts), "embed_texts")  # type: ignore[attr-defined]

    def embed_images(self, images: Sequence[str]) -> np.ndarray:
        images = list(images)
        if not hasattr(self._inner, "embed_images"):
            raise ConfigError(f"{_CONFIG_KEY}: '{self.spec}' has no embed_images; {_user_fix(self.spec)}")
        if not images:
            return np.empty((0, self.dim), dtype=np.float32)
        return self._checked(self._inner.embed_images(images), len(images), "embed_images")  # type: ignore[attr-defined]
