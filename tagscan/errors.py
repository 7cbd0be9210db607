"""The exception hierarchy of tagscan: every user-facing failure is one of these.

Each message names the file, row or key, the rule that was broken, what was found, and the fix.
The CLI maps ``exit_code`` to the process exit status (SPEC: 2 bad input, 3 external service).
"""

from __future__ import annotations

__all__ = ["TagscanError", "ConfigError", "DataError", "UsageError", "ServiceError", "ReviewError"]


class TagscanError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class ConfigError(TagscanError):
    """The YAML config is missing, malformed, or has an unknown or invalid key."""


class DataError(TagscanError):
    """An input table, embedding file or watchlist breaks the data contract."""


class UsageError(TagscanError):
    """The command line asks for something that cannot be done (unknown run, bad option)."""


class ServiceError(TagscanError):
    """An external service (Label Studio) failed: unreachable, bad token, missing project."""

    exit_code = 3


class ReviewError(ServiceError):
    """The review backend failed."""
