"""Moved to :mod:`tagscan.outputs` (terminal, jsonout, format, pairs); these names stay until the CLI imports
from there."""

from __future__ import annotations

from tagscan.outputs.format import watch_text
from tagscan.outputs.jsonout import findings_json, scan_json
from tagscan.outputs.pairs import group_pairs
from tagscan.outputs.terminal import print_summary, untested_note
from tagscan.runs import Counts

__all__ = ["findings_json", "group_pairs", "print_summary", "scan_json", "watch_text"]


def _untested_note(counts: dict) -> str:
    """:func:`tagscan.outputs.terminal.untested_note` of a run.json ``counts`` mapping."""
    return untested_note(Counts.from_json(counts))
