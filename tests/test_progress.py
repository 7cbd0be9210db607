"""Progress bars appear on a terminal only, never in logs or CI output."""

from __future__ import annotations

import io
import sys

from tagscan.progress import progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_draws_on_a_terminal(monkeypatch):
    fake = _Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    with progress_bar(10, "embedding input texts") as advance:
        for _ in range(10):
            advance(1)
    assert "embedding input texts" in fake.getvalue()


def test_no_bar_when_not_a_terminal(monkeypatch):
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    with progress_bar(10, "embedding input texts") as advance:
        advance(10)
    assert plain.getvalue() == ""
