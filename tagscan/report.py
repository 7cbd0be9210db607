"""Moved to :mod:`tagscan.outputs.html`; these names stay until the pipeline imports from there."""

from __future__ import annotations

from tagscan.outputs.html import build_report, write_report

__all__ = ["build_report", "write_report"]
