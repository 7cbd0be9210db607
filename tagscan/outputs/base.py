"""The interface every renderer implements, and the run record at the renderers' boundary."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import ClassVar

import pandas as pd
from rich.console import Console

from tagscan.errors import DataError, UsageError
from tagscan.runs import RunRecord

__all__ = ["Renderer", "RunLike", "as_record"]

#: A run as renderers accept it: the typed record, or its run.json mapping (read with RunRecord.from_json).
RunLike = RunRecord | Mapping


def as_record(run: RunLike, *, run_dir: str | PathLike | None = None) -> tuple[RunRecord, str | None]:
    """``(record, run_dir)`` of a run given as a :class:`RunRecord` or as its run.json mapping.

    A mapping may carry the run's folder as an extra ``run_dir`` key (it is not part of run.json); the
    ``run_dir`` argument wins over it.
    """
    if isinstance(run, RunRecord):
        record, extra = run, None
    elif isinstance(run, Mapping):
        d = dict(run)
        extra = d.pop("run_dir", None)
        try:
            record = RunRecord.from_json(d)
        except ValueError as exc:
            raise DataError(
                f"run record: {exc}; pass a RunRecord or the run.json of a run written by 'tagscan scan'"
            ) from exc
    else:
        raise TypeError(f"run must be a tagscan.runs.RunRecord or its run.json mapping; found {type(run).__name__}")
    folder = run_dir if run_dir is not None else extra
    return record, None if folder is None else str(folder)


class Renderer:
    """What the CLI shows, one method per view; a renderer writes the view to its output.

    ``name`` is the ``--format`` value that selects it (:func:`tagscan.outputs.get_renderer`); ``console``
    is where it writes (None: the current stdout at each call). A view a format cannot show raises
    :class:`~tagscan.errors.UsageError` naming the formats that can.
    """

    name: ClassVar[str] = ""
    #: Whether ``--format <name>`` is offered by the commands (the html renderer only makes reports).
    shows_cli_views: ClassVar[bool] = True

    def __init__(self, console: Console | None = None):
        self._console = console

    def _unsupported(self, view: str) -> UsageError:
        return UsageError(f"--format {self.name} cannot show {view}; use --format text or --format json")

    def scan(self, run: RunLike, findings: pd.DataFrame, *, run_dir: str | PathLike | None = None, top: int = 20) -> None:
        """A scan's result: the run's counts, families and detectors, and its findings (``top`` pairs in text)."""
        raise self._unsupported("a scan")

    def table(self, rows: pd.DataFrame) -> None:
        """Rows of a lookup (``tagscan labels``, ``tagscan neighbors``), one line each, columns as given."""
        raise self._unsupported("a table")

    def runs(
        self,
        runs: pd.DataFrame,
        *,
        all_configs: bool = False,
        workspace: str | PathLike | None = None,
        config: str | PathLike | None = None,
    ) -> None:
        """The catalogue (:meth:`tagscan.runs.Workspace.run_summaries`); ``all_configs`` adds a config column.
        ``workspace`` and ``config`` name what to run when there is no run yet."""
        raise self._unsupported("the runs")

    def diff(self, changes: pd.DataFrame, *, run_a: str, run_b: str, top: int = 50) -> None:
        """The changes between two runs (``tagscan diff``): ``top`` rows in text, every row in JSON."""
        raise self._unsupported("a diff")

    def review_pull(self, verdicts: pd.DataFrame) -> None:
        """Reviewers' verdicts per pushed finding (``tagscan review pull``)."""
        raise self._unsupported("review verdicts")
