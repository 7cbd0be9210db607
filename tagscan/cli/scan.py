"""tagscan scan, embed and report: make a run, its embeddings, its HTML report."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tagscan.cli.common import EXIT_FINDINGS, ConfigArg, Level, OutputFormat, guard, load


def scan(
    config: ConfigArg = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    fail_on: Annotated[
        Level | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 if an open finding (new, regressed, persisting or confirmed; not dismissed in review) "
            "is at or above this level.",
        ),
    ] = None,
    fail_only_new: Annotated[
        bool,
        typer.Option("--fail-only-new", help="With --fail-on: count only new and regressed findings (a ratchet)."),
    ] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Run to compare with (default: the previous run of this config's model; any run of the workspace, "
            "another model's too).",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Findings shown in the text summary.", min=1)] = 20,
    skip_bad_images: Annotated[
        bool, typer.Option("--skip-bad-images", help="Go on without images that are missing or unreadable (counted).")
    ] = False,
) -> None:
    """Scan predictions for labels over-applied to groups; write a run to the workspace."""
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import run_scan

    if fail_only_new and fail_on is None:
        print("tagscan: error: --fail-only-new only narrows --fail-on; add --fail-on LEVEL", file=sys.stderr)
        raise typer.Exit(2)
    cfg = load(config)
    res = guard(lambda: run_scan(cfg, baseline=baseline, skip_bad_images=skip_bad_images))
    get_renderer(format).scan(res.record, res.findings, run_dir=res.run_dir, top=top)
    from tagscan.runs.gate import gate

    verdict = gate(res.findings, fail_on.value if fail_on else None, only_new=fail_only_new)
    if verdict.failed:
        print(f"tagscan: {verdict.message}", file=sys.stderr)
        raise typer.Exit(EXIT_FINDINGS)


def embed(
    config: ConfigArg = None,
    skip_bad_images: Annotated[
        bool, typer.Option("--skip-bad-images", help="Go on without images that are missing or unreadable (counted).")
    ] = False,
) -> None:
    """Embed inputs and label names (cached by content, resumable) and build their FAISS indexes."""
    from tagscan.pipeline import run_embed

    cfg = load(config)
    out = guard(lambda: run_embed(cfg, skip_bad_images=skip_bad_images))
    n, d = out.vectors.shape
    nl = 0 if out.label_vectors is None else len(out.label_vectors)
    print(
        f"embedded {n:,} inputs ({out.computed_inputs:,} computed, {n - out.computed_inputs:,} from cache) and "
        f"{nl:,} labels ({out.computed_labels:,} computed), dim {d}, model {out.input_model}"
    )
    if out.skipped:
        print(f"skipped {len(out.skipped)} unreadable image(s), e.g. {out.skipped[0].ref}: {out.skipped[0].reason}")
    for name, path in out.index_paths.items():
        print(f"index {name}: {path}")


def report(
    config: ConfigArg = None,
    run: Annotated[str | None, typer.Option("--run", help="Run id or prefix (default: the latest run).")] = None,
) -> None:
    """Write a self-contained HTML report of a run (opens without network) and print its path."""
    from tagscan.pipeline import run_report

    cfg = load(config)
    path = guard(lambda: run_report(cfg, run=run))
    print(path)
