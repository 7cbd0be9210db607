"""The command line: parse, call one pipeline function, render. Exit codes follow SPEC.

0 success; 1 open findings at or above ``--fail-on``; 2 bad input, config or usage; 3 an external
service failed. Results go to stdout, progress and diagnostics to stderr. One module per command group
registers its commands here.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from tagscan.cli import demo, explore, history, review, scan

__all__ = ["app", "main"]


def _click_class(name: str) -> type[Exception]:
    """The click exception class ``name`` that typer raises, found through typer's public
    ``BadParameter`` (typer 0.2x vendors click as a private ``typer._click``; older typer re-exports
    click's own classes), so no private module path is imported."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise ImportError(f"typer.BadParameter does not derive from click's {name}")  # pragma: no cover


_UsageError = _click_class("UsageError")
_ClickException = _click_class("ClickException")


def _one_line(message: str) -> str:
    return " ".join(message.split()).replace("Value error, ", "").rstrip(".")


class _OneLineErrors(TyperGroup):
    """Command-line mistakes (unknown option, bad value, missing argument) as one line on stderr, exit 2.

    Click would print a usage block and a boxed message; the SPEC asks for one line naming the option
    and the fix. ``tagscan`` alone still prints the help.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `tagscan` alone (click 8.2+): the help
                exc.show()
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "tagscan"
            msg = _one_line(exc.format_message())
            sep = " " if msg.endswith("?") else "; "  # "Did you mean 'scan'? see ...", not "?;"
            print(f"tagscan: error: {msg}{sep}see '{where} --help'", file=sys.stderr)
            sys.exit(exc.exit_code)
        except _ClickException as exc:
            print(f"tagscan: error: {_one_line(exc.format_message())}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except typer.Abort:
            print("tagscan: aborted", file=sys.stderr)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="tagscan",
    help="QA for classifiers with huge output spaces: find labels applied to groups of inputs where they do harm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(scan.scan)
app.command()(scan.report)
app.command()(scan.embed)
app.command()(explore.labels)
app.command()(explore.neighbors)
app.command()(history.runs)
app.command()(history.diff)
app.command()(demo.demo)
app.add_typer(review.review_app, name="review")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not to the stream of the first call:
    a process that runs the CLI more than once (a test runner, a notebook) swaps stderr between calls,
    and a handler holding a closed stream prints '--- Logging error ---' for every later record."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("tagscan: %(message)s"))
    root = logging.getLogger("tagscan")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="Progress on stderr (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
) -> None:
    _configure_logging(0 if quiet else verbose)


def main() -> None:
    # Models are never downloaded at run time; keep the hub offline and its progress bars quiet.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
