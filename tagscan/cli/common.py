"""What every command shares: error handling (TagscanError -> one line and its exit code), config loading,
the option types and the stdout console."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from tagscan.errors import TagscanError
from tagscan.outputs import cli_formats

__all__ = ["EXIT_FINDINGS", "EXIT_INTERNAL", "ConfigArg", "Level", "OutputFormat", "guard", "load", "stdout"]

T = TypeVar("T")

EXIT_FINDINGS = 1
EXIT_INTERNAL = 4


#: ``--format``: the output formats of the renderer registry that show the commands' views (text, json).
OutputFormat = Enum("OutputFormat", {name: name for name in cli_formats()}, type=str)


class Level(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


ConfigArg = Annotated[Path, typer.Argument(help="The scan's YAML config.", show_default=False, metavar="CONFIG")]


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


def load(config: Path):
    """The validated config, or one error line and exit 2."""
    from tagscan.pipeline import load_config

    return guard(lambda: load_config(config))
