"""Progress bars on stderr, shown only when stderr is a terminal (never in logs or CI output), and stage timings.

Off a terminal a long step logs one line when it starts and one when it ends, on the ``tagscan.progress``
logger at INFO: shown with ``-v``, and by ``tagscan demo`` unless ``-q``, so that a first run piped into a
file or a CI log is not silent for a minute.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["PROGRESS_LOGGER", "Timer", "progress_bar"]

#: The logger of the start and end lines a progress bar writes when stderr is not a terminal.
PROGRESS_LOGGER = "tagscan.progress"
log = logging.getLogger(PROGRESS_LOGGER)


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a transient rich progress bar on a terminal, else logs a line before and
    after (``PROGRESS_LOGGER``, INFO) with the count and the seconds taken."""
    if total <= 0:
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        log.info("%s: %s to do ...", description, f"{total:,}")
        start = time.perf_counter()
        yield lambda n: None
        log.info("%s: %s done in %.0f s", description, f"{total:,}", time.perf_counter() - start)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class Timer:
    """Wall time per named stage: ``with timer("embed"): ...`` adds to ``timer.timings["embed"]`` (seconds)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t, 4)
