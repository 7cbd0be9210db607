"""tagscan labels and neighbors: look around the output space and the inputs through their indexes."""

from __future__ import annotations

from typing import Annotated

import typer

from tagscan.cli.common import ConfigArg, OutputFormat, guard, load, shift_config


def labels(
    like: Annotated[str, typer.Option("--like", help="Text to look up in the output space.")],
    config: ConfigArg = None,
    k: Annotated[int, typer.Option("-k", help="How many labels.", min=1)] = 10,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
) -> None:
    """The labels nearest to a text in the output space (through the label index)."""
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import run_labels_like

    cfg = load(config)
    df = guard(lambda: run_labels_like(cfg, like, k=k))
    get_renderer(format).table(df)


def neighbors(
    config: ConfigArg = None,
    sample_id: Annotated[
        str | None, typer.Argument(help="A sample_id of the samples table.", metavar="SAMPLE_ID", show_default=False)
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many neighbours.", min=1)] = 10,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
) -> None:
    """The inputs nearest to a sample (through the input index), with their predicted labels."""
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import run_neighbors

    config, (sample_id,) = shift_config(config, sample_id, names=("SAMPLE_ID",))
    cfg = load(config)
    df = guard(lambda: run_neighbors(cfg, sample_id, k=k))
    get_renderer(format).table(df)
