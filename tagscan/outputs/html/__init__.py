"""tagscan.outputs.html: the self-contained HTML report of a run.

Split by concern: :mod:`~.page` (assembly, assets, writing), :mod:`~.summary` (count cards, families,
detectors), :mod:`~.findings` (the findings table and each pair's evidence), :mod:`~.plots` (volcano
plot and heatmap), :mod:`~.examples` (example texts and thumbnails), :mod:`~.markup` (escaping).
The page template, CSS and JavaScript are files in ``assets/``, inlined at render time.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import ClassVar

import pandas as pd

from tagscan.outputs.base import Renderer, RunLike
from tagscan.outputs.html.page import build_report, testing_sentence, write_report

__all__ = ["HtmlRenderer", "build_report", "testing_sentence", "write_report"]


class HtmlRenderer(Renderer):
    """``html``: the report of one run (``tagscan report``); the CLI's other views are text or JSON."""

    name: ClassVar[str] = "html"
    shows_cli_views: ClassVar[bool] = False

    def report(
        self,
        run: RunLike,
        findings: pd.DataFrame,
        *,
        samples: pd.DataFrame | None = None,
        image_root: str | PathLike | None = None,
        max_findings: int = 500,
        thumbnail_px: int = 96,
    ) -> str:
        """The report as one HTML document (see :func:`build_report`)."""
        return build_report(
            run, findings, samples=samples, image_root=image_root, max_findings=max_findings, thumbnail_px=thumbnail_px
        )

    def write(self, path: str | PathLike, html: str) -> Path:
        """Write a report atomically (see :func:`write_report`)."""
        return write_report(path, html)
