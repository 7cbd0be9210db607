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
    "findings_json",
    "get_renderer",
    "group_pairs",
    "print_summary",
    "scan_json",
    "stdout_console",
    "write_report",
]

_RENDERERS: dict[str, type[Renderer]] = {r.name: r for r in (TextRenderer, JsonRenderer, HtmlRenderer)}
#: The names ``get_renderer`` accepts.
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


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
