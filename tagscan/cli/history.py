"""tagscan runs and diff: the runs of a workspace and what changed between two of them."""

from __future__ import annotations

import json
from typing import Annotated

import pandas as pd
import typer

from tagscan.cli.common import ConfigArg, OutputFormat, guard, load, print_table, stdout


def runs(
    config: ConfigArg,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    all_configs: Annotated[
        bool,
        typer.Option("--all", help="Every config's runs in the workspace (models sharing it), with a config column."),
    ] = False,
) -> None:
    """List the runs of this config in its workspace: model, findings by severity and status."""
    from tagscan.runs import Workspace

    cfg = load(config)
    ws = guard(lambda: Workspace(cfg.workspace_dir))
    df = guard(lambda: ws.run_summaries(None if all_configs else cfg.name))
    if format is OutputFormat.json:
        print(df.to_json(orient="records"))
        return
    if len(df) == 0:
        print(f"no runs yet in {cfg.workspace_dir}; run 'tagscan scan {config}'")
        return
    show = pd.DataFrame(
        {
            "run": df["run_id"],
            **({"config": df["config_name"]} if all_configs else {}),
            "created": df["created_at"].str.slice(0, 19).str.replace("T", " "),
            "model": (df["model_name"].fillna("") + " " + df["model_version"].fillna("")).str.strip(),
            "samples": df["n_samples"].map(lambda v: f"{int(v):,}" if pd.notna(v) else ""),
            "findings": df["n_findings"].map(lambda v: f"{int(v):,}" if pd.notna(v) else ""),
            "critical": df["critical"].map(lambda v: f"{int(v):,}"),
            "high": df["high"].map(lambda v: f"{int(v):,}"),
            "new": df["new"].map(lambda v: f"{int(v):,}"),
            "regressed": df["regressed"].map(lambda v: f"{int(v):,}"),
            "resolved": df["resolved"].map(lambda v: f"{int(v):,}"),
            "confirmed": df["confirmed"].map(lambda v: f"{int(v):,}"),
            "dismissed": df["dismissed"].map(lambda v: f"{int(v):,}"),
        }
    )
    print_table(show, stdout())


def diff(
    config: ConfigArg,
    run_a: Annotated[
        str, typer.Argument(help="The earlier run (id or prefix; may be another config's, in the workspace).", metavar="RUN_A")
    ],
    run_b: Annotated[str, typer.Argument(help="The later run (id or prefix).", metavar="RUN_B")],
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    top: Annotated[int, typer.Option("--top", help="Rows shown in the text table.", min=1)] = 50,
) -> None:
    """Compare the findings of two runs: new in RUN_B, gone from it, and in both with their effects. The runs may be
    of two models (two configs sharing the workspace)."""
    from tagscan.pipeline import run_diff
    from tagscan.render import findings_json

    cfg = load(config)
    df = guard(lambda: run_diff(cfg, run_a, run_b))
    if format is OutputFormat.json:
        # The scan's JSON conventions: an infinite lift is "inf" (null means the run lacks the finding).
        print(json.dumps(findings_json(df)))
        return
    console = stdout()
    counts = df["change"].value_counts()
    console.print(
        f"{df.attrs.get('run_a', run_a)} -> {df.attrs.get('run_b', run_b)}: {counts.get('new', 0):,} new, "
        f"{counts.get('gone', 0):,} gone, {counts.get('both', 0):,} in both "
        f"(model {df.attrs.get('model_a', '?')} -> {df.attrs.get('model_b', '?')})",
        highlight=False,
    )
    cols = ["change", "label_name", "group", "detector", "severity_a", "severity_b", "rate_in_group_a", "rate_in_group_b"]
    show = df[[c for c in cols if c in df.columns]].copy()
    for c in ("severity_a", "severity_b"):
        show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    for c in ("rate_in_group_a", "rate_in_group_b"):
        show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    print_table(show.head(top), console)
    if len(show) > top:
        console.print(f"... and {len(show) - top:,} more rows (--top N shows more; --format json gives all)", highlight=False)
