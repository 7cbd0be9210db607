"""The JSON renderings (``--format json``): a scan, findings, and any table as records.

Conventions of every JSON output: a number that is missing (NaN) or infinite (a lift, or its upper
bound, with nothing outside the group: ``rate_outside`` is 0) is ``null``, never a string nor a
``NaN``/``Infinity`` token, so strict JSON parsers read every document and a number column holds numbers
or null only; ``null`` in a diff also means the run lacks the finding.
"""

from __future__ import annotations

import json
import sys
from os import PathLike
from typing import TextIO

import pandas as pd
from rich.console import Console

from tagscan.outputs.base import Renderer, RunLike, as_record
from tagscan.outputs.format import jsonable

__all__ = ["JsonRenderer", "diff_json", "findings_json", "records_json", "scan_json"]


def findings_json(findings: pd.DataFrame) -> list[dict]:
    """One JSON-safe mapping per finding, columns as keys, in frame order."""
    return [{k: jsonable(v) for k, v in row.items()} for row in findings.to_dict(orient="records")]


def scan_json(run: RunLike, findings: pd.DataFrame, *, run_dir: str | PathLike | None = None) -> str:
    """A scan's result as one JSON document: the run's identity, counts, families, detectors, where the stages
    ran (``engine``) and findings."""
    record, folder = as_record(run, run_dir=run_dir)
    payload = {
        "run_id": record.run_id,
        "run_dir": folder,
        "config_name": record.config_name,
        "model": record.model.to_json(),
        "created_at": record.created_at,
        "baseline": record.baseline,
        "baseline_model": record.baseline_model.to_json() if record.baseline_model else None,
        "comparison": record.comparison,
        "counts": record.counts.to_json(),
        "families": [f.to_json() for f in record.families],
        "detectors": dict(record.detectors),
        "engine": record.engine.to_json(),
        "findings": findings_json(findings),
    }
    return json.dumps(jsonable(payload), indent=2, default=str, allow_nan=False)


def diff_json(changes: pd.DataFrame) -> str:
    """Every row of a diff, on one line (the scan's conventions for NaN and infinity)."""
    return json.dumps(findings_json(changes), allow_nan=False)


def records_json(rows: pd.DataFrame) -> str:
    """A table as a JSON array of row objects, on one line (pandas' ``orient="records"``, which writes NaN
    and infinities as null)."""
    return rows.to_json(orient="records")


class JsonRenderer(Renderer):
    """``--format json``: one JSON document per view, written to ``file``, else to the file of ``console``,
    else to the current stdout at each call."""

    name = "json"

    def __init__(self, console: Console | None = None, *, file: TextIO | None = None):
        super().__init__(console)
        self._file = file if file is not None else (console.file if console is not None else None)

    def _write(self, text: str) -> None:
        out = self._file if self._file is not None else sys.stdout
        out.write(text + "\n")

    def scan(self, run: RunLike, findings: pd.DataFrame, *, run_dir: str | PathLike | None = None, top: int = 20) -> None:
        self._write(scan_json(run, findings, run_dir=run_dir))

    def table(self, rows: pd.DataFrame) -> None:
        self._write(records_json(rows))

    def runs(
        self,
        runs: pd.DataFrame,
        *,
        all_configs: bool = False,
        workspace: str | PathLike | None = None,
        config: str | PathLike | None = None,
    ) -> None:
        self._write(records_json(runs))

    def diff(self, changes: pd.DataFrame, *, run_a: str, run_b: str, top: int = 50) -> None:
        self._write(diff_json(changes))

    def review_pull(self, verdicts: pd.DataFrame) -> None:
        self._write(records_json(verdicts))
