"""One entry point from an ``embed.model`` value to an embedder (no torch import of its own).

:func:`load_embedder` checks the value and the input kind, then routes it: ``python:module:attr`` to
:mod:`tagscan.embed.plugins` (numpy only, torch is never imported), ``default`` or a model folder to
:mod:`tagscan.embed.embedders` (torch and transformers, imported only then).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tagscan.constants import INPUT_KINDS
from tagscan.embed.plugins import load_plugin_embedder
from tagscan.embed.protocol import DEFAULT_LABEL_PROMPTS, InputKind
from tagscan.errors import ConfigError

__all__ = ["load_embedder"]

_CONFIG_KEY = "embed.model"


def load_embedder(
    spec: str,
    *,
    input_kind: InputKind = "text",
    batch_size: int = 64,
    label_prompts: Sequence[str] = DEFAULT_LABEL_PROMPTS,
    device: str | None = None,
) -> Any:
    """Build the embedder named by the config value ``embed.model`` for inputs of ``input_kind``.

    - ``"default"``: the packaged all-MiniLM-L6-v2 for text inputs; image inputs have no default.
    - a folder whose ``config.json`` says ``model_type: clip``: a
      :class:`~tagscan.embed.embedders.ClipEmbedder`; label names go through ``label_prompts`` for
      image inputs, as they are (``"{label}"``) for text inputs.
    - any other model folder: a :class:`~tagscan.embed.embedders.TransformersTextEmbedder` (text
      inputs only).
    - ``"python:module:attr"``: your own embedder (see :mod:`tagscan.embed.plugins`), checked and
      wrapped; ``label_prompts`` and ``device`` do not apply, and torch is not imported.

    Raises:
        ConfigError: naming ``embed.model`` or ``embed.input``, the rule and the fix, for an unknown
            input kind, ``default`` with image inputs, a missing or non-model folder, a text model
            for image inputs, or a user embedder that cannot be imported or breaks the protocol.
    """
    if input_kind not in INPUT_KINDS:
        raise ConfigError(f"embed.input: must be {' or '.join(repr(k) for k in INPUT_KINDS)}, got {input_kind!r}")
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(
            f"{_CONFIG_KEY}: must be 'default', a model folder or 'python:module:attr', got {spec!r}"
        )
    if spec.startswith("python:"):
        return load_plugin_embedder(spec, input_kind=input_kind, batch_size=batch_size)
    from tagscan.embed.embedders import load_model_embedder  # torch and transformers: only for a model

    return load_model_embedder(
        spec, input_kind=input_kind, batch_size=batch_size, label_prompts=label_prompts, device=device
    )
