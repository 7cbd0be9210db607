"""The registry of review backends, selected by name with ``review.backend``.

A backend is a class implementing :class:`tagscan.review.backend.ReviewBackend`, with a unique ``name``,
registered with :func:`register` when its module is imported (the built-in ones by
:mod:`tagscan.review.backends`). Registering another class under a taken name is refused; an unknown
name is a :class:`ConfigError` listing the valid ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tagscan.errors import ConfigError

if TYPE_CHECKING:
    from tagscan.config import ReviewConfig
    from tagscan.review.backend import ReviewBackend

__all__ = ["available_backends", "backend_from_config", "get_backend", "register"]

_REGISTRY: dict[str, type] = {}

B = TypeVar("B", bound=type)


def register(cls: B) -> B:
    """Class decorator: make ``cls`` available as ``review.backend: <cls.name>``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"review backend class {cls.__name__} has no name")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"a review backend named '{name}' is already registered ({_REGISTRY[name].__name__})")
    _REGISTRY[name] = cls
    return cls


def get_backend(name: str, *, source: str | Path | None = None) -> type[ReviewBackend]:
    """The backend class registered as ``name``; a one-line :class:`ConfigError` naming ``review.backend``
    (in ``source``, the config file, when given), the closest valid name and every valid one otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        valid = sorted(_REGISTRY)
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        where = f"{source}: " if source is not None else ""
        raise ConfigError(
            f"{where}key 'review.backend': unknown review backend {name!r}; {hint}"
            f"valid backends: {', '.join(valid) or 'none'}; set review.backend to one of them"
        ) from None


def available_backends() -> dict[str, type[ReviewBackend]]:
    """Every registered backend class by name."""
    return dict(_REGISTRY)


def backend_from_config(
    review: ReviewConfig, *, source: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> ReviewBackend:
    """The backend selected by ``review.backend``, built from the config's ``review`` section (its secrets
    read from ``environ``, default the process environment). No request is made."""
    return get_backend(review.backend, source=source).from_config(review, source=source, environ=environ)
