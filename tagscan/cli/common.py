"""What every command shares: error handling (TagscanError -> one line and its exit code), config loading
(``./tagscan.yaml`` when no CONFIG is given), the option types, the -v/-q options every command accepts
(:class:`TagscanCommand`), logging to stderr and the stdout console."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from tagscan.errors import TagscanError
from tagscan.outputs import cli_formats

__all__ = [
    "DEFAULT_CONFIG",
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "ConfigArg",
    "Level",
    "OutputFormat",
    "QuietOpt",
    "TagscanCommand",
    "VerboseOpt",
    "configure_logging",
    "guard",
    "load",
    "plain_flags",
    "resolve_config",
    "shift_config",
    "stdout",
]

T = TypeVar("T")

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 4
#: The config a command reads when CONFIG is left out (as git finds its repository, ruff its pyproject).
DEFAULT_CONFIG = Path("tagscan.yaml")


#: ``--format``: the output formats of the renderer registry that show the commands' views (text, json).
OutputFormat = Enum("OutputFormat", {name: name for name in cli_formats()}, type=str)


class Level(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


ConfigArg = Annotated[
    Path | None,
    typer.Argument(
        help=f"The scan's YAML config (default: ./{DEFAULT_CONFIG} when it exists).", show_default=False, metavar="CONFIG"
    ),
]


#: The running command ('tagscan diff'), named in usage errors raised inside it.
_command_path: str | None = None


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


def configure_logging(verbose: int) -> None:
    """tagscan's log records on stderr: warnings (0), progress (1) or debug (2 and more)."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("tagscan: %(message)s"))
    root = logging.getLogger("tagscan")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _log_option(ctx: typer.Context, param: typer.CallbackParam, value: int | bool) -> int | bool:
    """-v / -q wherever they are given (before the command, after it, or both): the most verbose -v
    counts, and -q anywhere wins. The context's ``meta`` is shared by the root and the command."""
    if param.name == "verbose":
        ctx.meta["tagscan.verbose"] = max(int(value or 0), ctx.meta.get("tagscan.verbose", 0))
    elif value:
        ctx.meta["tagscan.quiet"] = True
    configure_logging(0 if ctx.meta.get("tagscan.quiet") else ctx.meta.get("tagscan.verbose", 0))
    return value


VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose", "-v", count=True, help="Progress on stderr (-vv: debug).", callback=_log_option, show_default=False
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.", callback=_log_option)
]


def _log_options() -> list:
    """Fresh -v and -q options (click parameters) for one command, made by typer from the same
    annotations as the root's, and not passed to the command's callback (``expose_value`` off)."""
    probe = typer.Typer(add_completion=False)

    @probe.command()
    def _probe(verbose: VerboseOpt = 0, quiet: QuietOpt = False) -> None:  # pragma: no cover - never run
        pass

    params = typer.main.get_command(probe).params
    for p in params:
        p.expose_value = False
    return params


def plain_flags(params: list) -> list:
    """``params`` with the type column of a plain flag (``--quiet``, ``--help``, ``-v``) left empty in the
    help: typer would write ``<bool>`` or ``<int>``, which reads as if the flag took a value."""
    for p in params:
        if getattr(p, "is_flag", False) or getattr(p, "count", False):
            p.display_type_rich = lambda ctx: None
    return params


class TagscanCommand(TyperCommand):
    """Every tagscan command: accepts -v/-q after its arguments too (``tagscan scan x.yaml -v``), and shows
    plain flags without a type in its help."""

    def __init__(self, *args, params: list | None = None, **kwargs) -> None:
        super().__init__(*args, params=[*(params or []), *_log_options()], **kwargs)

    def get_params(self, ctx):
        return plain_flags(super().get_params(ctx))

    def invoke(self, ctx):
        global _command_path
        _command_path = ctx.command_path  # for the usage errors of resolve_config and shift_config
        return super().invoke(ctx)


class TagscanGroup(TyperGroup):
    """A command group (``tagscan review``) whose help shows plain flags without a type."""

    def get_params(self, ctx):
        return plain_flags(super().get_params(ctx))


def stdout() -> Console:
    from tagscan.outputs.terminal import stdout_console

    return stdout_console()


def guard(fn: Callable[[], T]) -> T:
    """Run a pipeline call; a TagscanError becomes one line on stderr and its exit code."""
    try:
        return fn()
    except TagscanError as exc:
        print(f"tagscan: error: {exc}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("tagscan: interrupted; nothing half-written was kept", file=sys.stderr)
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - an unexpected failure still gets one clear line
        if os.environ.get("TAGSCAN_DEBUG"):
            raise
        print(
            f"tagscan: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug; rerun with TAGSCAN_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def resolve_config(config: Path | None) -> Path:
    """``config``, or ``./tagscan.yaml`` when it is left out; without either, one error line and exit 2."""
    if config is not None:
        return config
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    where = _command_path or "tagscan COMMAND"
    print(
        f"tagscan: error: no CONFIG given and no ./{DEFAULT_CONFIG} in {Path.cwd()}; pass the config file "
        f"('{where} path/to/{DEFAULT_CONFIG}') or run it from the config's folder",
        file=sys.stderr,
    )
    raise typer.Exit(EXIT_USAGE)


def shift_config(config: Path | None, *rest: str | None, names: tuple[str, ...]) -> tuple[Path | None, tuple[str, ...]]:
    """Positional arguments after an optional CONFIG: when the last is missing, CONFIG was left out and the
    values move one place right (``tagscan diff A B`` is ``tagscan diff ./tagscan.yaml A B``). A value
    still missing is a usage error naming it."""
    values: list[str | None] = list(rest)
    if values and values[-1] is None and config is not None:
        values = [str(config), *values[:-1]]
        config = None
    for name, v in zip(names, values):
        if v is None:
            where = _command_path or "tagscan"
            print(f"tagscan: error: Missing argument '{name}'; see '{where} --help'", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE)
    return config, tuple(values)  # type: ignore[arg-type]


def load(config: Path | None):
    """The validated config (``./tagscan.yaml`` when ``config`` is None), or one error line and exit 2."""
    from tagscan.pipeline import load_config

    path = resolve_config(config)
    return guard(lambda: load_config(path))
