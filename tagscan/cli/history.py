"""tagscan runs and diff: the runs of a workspace and what changed between two of them."""

from __future__ import annotations

from typing import Annotated

import typer

from tagscan.cli.common import ConfigArg, OutputFormat, guard, load, resolve_config, shift_config


def runs(
    config: ConfigArg = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    all_configs: Annotated[
        bool,
        typer.Option("--all", help="Every config's runs in the workspace (models sharing it), with a config column."),
    ] = False,
) -> None:
    """List the runs of this config in its workspace: model, findings by severity and status."""
    from tagscan.outputs import get_renderer
    from tagscan.runs import Workspace

    cfg = load(config)
    ws = guard(lambda: Workspace(cfg.workspace_dir))
    df = guard(lambda: ws.run_summaries(None if all_configs else cfg.name))
    get_renderer(format).runs(df, all_configs=all_configs, workspace=cfg.workspace_dir, config=resolve_config(config))


def diff(
    config: ConfigArg = None,
    run_a: Annotated[
        str | None,
        typer.Argument(
            help="The earlier run (id or prefix; may be another config's, in the workspace).", metavar="RUN_A", show_default=False
        ),
    ] = None,
    run_b: Annotated[str | None, typer.Argument(help="The later run (id or prefix).", metavar="RUN_B", show_default=False)] = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    top: Annotated[int, typer.Option("--top", help="Rows shown in the text table.", min=1)] = 50,
) -> None:
    """Compare the findings of two runs: new in RUN_B, gone from it, and in both with their effects. The runs may be
    of two models (two configs sharing the workspace)."""
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import run_diff

    config, (run_a, run_b) = shift_config(config, run_a, run_b, names=("RUN_A", "RUN_B"))
    cfg = load(config)
    df = guard(lambda: run_diff(cfg, run_a, run_b))
    get_renderer(format).diff(df, run_a=run_a, run_b=run_b, top=top)
