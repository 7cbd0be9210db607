"""tagscan.outputs: every rendering of a run, selected by ``--format`` from one registry.

``get_renderer("text")`` (rich tables on the terminal), ``get_renderer("json")`` (one JSON document per
view) and ``get_renderer("html")`` (the self-contained report) implement :class:`Renderer`: one method
per view the CLI shows (``scan``, ``table``, ``runs``, ``diff``, ``review_pull``; the html renderer makes
``report``). Numbers, p-values and levels are formatted in :mod:`tagscan.outputs.format` only.
Renderers read a run through :class:`tagscan.runs.RunRecord` (or its run.json mapping), never the
pipeline's internals.
"""

from __future__ import annotations

from rich.console import Console

from tagscan.errors import UsageError
from tagscan.outputs.base import Renderer, RunLike, as_record
from tagscan.outputs.html import HtmlRenderer, build_report, write_report
from tagscan.outputs.jsonout import JsonRenderer, findings_json, scan_json
from tagscan.outputs.pairs import group_pairs
from tagscan.outputs.terminal import TextRenderer, print_summary, stdout_console

__all__ = [
    "FORMATS",
    "HtmlRenderer",
    "JsonRenderer",
    "Renderer",
    "RunLike",
    "TextRenderer",
    "as_record",
    "build_report",
    "cli_formats",
    "findings_json",
    "get_renderer",
    "group_pairs",
    "print_summary",
    "register",
    "scan_json",
    "stdout_console",
    "write_report",
]

_RENDERERS: dict[str, type[Renderer]] = {}


def register(cls: type[Renderer]) -> type[Renderer]:
    """Add a renderer under its ``name``; a second class under a taken name is refused."""
    if not cls.name:
        raise ValueError(f"renderer class {cls.__name__} has no name")
    if cls.name in _RENDERERS and _RENDERERS[cls.name] is not cls:
        raise ValueError(f"an output format named '{cls.name}' is already registered ({_RENDERERS[cls.name].__name__})")
    _RENDERERS[cls.name] = cls
    return cls


for _cls in (TextRenderer, JsonRenderer, HtmlRenderer):
    register(_cls)

#: The names ``get_renderer`` accepts.
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def cli_formats() -> tuple[str, ...]:
    """The formats the command line's ``--format`` offers: those that show its views (not the report-only html)."""
    return tuple(name for name, cls in _RENDERERS.items() if cls.shows_cli_views)


def get_renderer(fmt: str, *, console: Console | None = None) -> Renderer:
    """The renderer of format ``fmt`` (``text``, ``json`` or ``html``).

    ``console``: where the text renderer prints and the JSON renderer writes (its file); default: the
    current stdout at each call.
    """
    name = getattr(fmt, "value", fmt)  # an Enum of format names (the CLI's --format) works as its value
    try:
        renderer = _RENDERERS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown output format {name!r}; valid formats: {', '.join(FORMATS)}") from None
    return renderer(console)
