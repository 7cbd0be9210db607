"""Review backends behind a registry, selected by ``review.backend``: ``label_studio`` (the default).

A new backend is one package or module here implementing :class:`tagscan.review.backend.ReviewBackend`,
decorated with :func:`register`, plus its import below. Everything specific to one labelling tool (its
payloads, URL scheme, storage and HTTP client) lives inside its backend.
"""

from tagscan.review.backends import label_studio  # noqa: F401  (registers the built-in backend)
from tagscan.review.backends.registry import available_backends, backend_from_config, get_backend, register

__all__ = ["available_backends", "backend_from_config", "get_backend", "register"]
