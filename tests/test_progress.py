"""Progress bars appear on a terminal only, never in logs or CI output; off a terminal a long step logs a start
and an end line instead."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest

from tagscan.progress import PROGRESS_LOGGER, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def default_logging():
    """tagscan's loggers as a CLI run without -v leaves them (an earlier test may have run with -v)."""
    root = logging.getLogger("tagscan")
    before = root.level
    root.setLevel(logging.WARNING)
    yield
    root.setLevel(before)


def test_bar_draws_on_a_terminal(monkeypatch):
    fake = _Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    with progress_bar(10, "embedding input texts") as advance:
        for _ in range(10):
            advance(1)
    assert "embedding input texts" in fake.getvalue()


def test_no_bar_when_not_a_terminal(monkeypatch, default_logging):
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    with progress_bar(10, "embedding input texts") as advance:
        advance(10)
    assert plain.getvalue() == ""


def test_off_a_terminal_a_step_logs_when_it_starts_and_ends(monkeypatch, caplog):
    """Piped into a file or a CI log there is no bar, but the progress logger says what is being done, so a
    long embedding is never silent (shown with -v, and by `tagscan demo`)."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        with progress_bar(6564, "embedding input texts") as advance:
            assert [r.getMessage() for r in caplog.records] == ["embedding input texts: 6,564 to do ..."]
            advance(6564)
    assert [r.name for r in caplog.records] == [PROGRESS_LOGGER] * 2
    assert re.fullmatch(r"embedding input texts: 6,564 done in \d+ s", caplog.records[1].getMessage())


def test_nothing_to_do_logs_nothing(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        with progress_bar(0, "embedding input texts"):
            pass
    assert caplog.records == []


@pytest.mark.parametrize("args", [["demo"], ["-q", "demo"], ["demo", "-q"]])
def test_demo_shows_progress_lines_unless_quiet(args, default_logging, tmp_path, monkeypatch):
    """`tagscan demo` turns the progress lines on for its scan (a log at INFO from tagscan.progress reaches
    stderr), unless -q; afterwards the logger is back to its default."""
    from typer.testing import CliRunner

    import tagscan.pipeline
    from tagscan.cli import app
    from tagscan.errors import DataError

    logger = logging.getLogger(PROGRESS_LOGGER)
    seen = []

    def scan(cfg, **kw):  # the scan itself is not what this is about: note the logger and stop
        seen.append(logger.isEnabledFor(logging.INFO))
        logger.info("embedding input texts: 485 to do ...")
        raise DataError("stopped by the test")

    monkeypatch.setattr(tagscan.pipeline, "run_scan", scan)
    assert not logger.isEnabledFor(logging.INFO)  # the default: progress lines only with -v
    res = CliRunner().invoke(app, [*args, "--samples", "500", "--out", str(tmp_path / "demo")])  # -q before or after
    assert res.exit_code == 2 and "stopped by the test" in res.stderr
    quiet = "-q" in args
    assert seen == [not quiet]
    assert ("tagscan: embedding input texts: 485 to do ..." in res.stderr) is not quiet
    assert not logger.isEnabledFor(logging.INFO)  # back to the default after the demo
