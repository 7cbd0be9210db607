"""tagscan demo: build the offline demo data set and scan it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tagscan.cli.common import guard, stdout
from tagscan.progress import PROGRESS_LOGGER


@contextmanager
def _progress_lines(ctx: typer.Context) -> Iterator[None]:
    """The demo is the first command people run, often piped into a log: its long steps (embedding) say when
    they start and end on stderr even off a terminal and without -v (one line each), unless -q was given
    (before the command: the root's parameter; after it: the flag its callback leaves in the shared meta)."""
    quiet = bool(ctx.find_root().params.get("quiet") or ctx.meta.get("tagscan.quiet"))
    logger = logging.getLogger(PROGRESS_LOGGER)
    before = logger.level
    if not quiet and logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(before)  # a process running the CLI again (tests, notebooks) gets the default back


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo data set and its workspace.")] = Path(
        "tagscan-demo"
    ),
    samples: Annotated[int, typer.Option("--samples", help="Number of photos in the demo set.", min=500)] = 8000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo data.")] = 0,
    top: Annotated[int, typer.Option("--top", help="Findings shown.", min=1)] = 15,
) -> None:
    """Build the offline demo data set (a simulated photo tagger with planted harms) and scan it."""
    from tagscan.demo import PLANTED, build_demo
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import load_config, run_report, run_scan

    console = stdout()
    path = guard(lambda: build_demo(out, n_samples=samples, seed=seed))
    cfg = guard(lambda: load_config(path))
    console.print(f"demo data set written to {out}/ (config {path})", highlight=False)
    with _progress_lines(ctx):
        res = guard(lambda: run_scan(cfg))
    get_renderer("text", console=console).scan(res.record, res.findings, run_dir=res.run_dir, top=top)
    from tagscan.cli.scan import print_cache_line

    print_cache_line(cfg, res.record, console)
    console.print("\nplanted harmful associations:", highlight=False)
    f = res.findings.reset_index(drop=True)
    for p in PLANTED:
        hit = f.index[(f["label"] == p.label) & (f["group"] == p.group)]
        where = f"found at rank {hit[0] + 1} of {len(f)}" if len(hit) else "NOT FOUND"
        console.print(f"  {p.label} on {p.group} ({p.kind}): {where}", highlight=False)
    report = guard(lambda: run_report(cfg, run=res.run_id))
    console.print(f"\nHTML report: {report}", highlight=False, soft_wrap=True)
