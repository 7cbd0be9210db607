"""tagscan review push and pull: findings' examples to reviewers, their verdicts back."""

from __future__ import annotations

from typing import Annotated

import typer

from tagscan.cli.common import ConfigArg, Level, OutputFormat, TagscanCommand, TagscanGroup, guard, load

review_app = typer.Typer(
    cls=TagscanGroup, help="Send findings' examples to Label Studio and pull reviewers' verdicts back.", no_args_is_help=True
)

LockTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--lock-timeout",
        min=0,
        metavar="SECONDS",
        show_default=False,
        help="Wait this long for another push or pull of the same model in this workspace to finish "
        "(default: 300; 0: fail at once).",
    ),
]


@review_app.command("push", cls=TagscanCommand)
def review_push(
    config: ConfigArg = None,
    run: Annotated[str | None, typer.Option("--run", help="Run id or prefix (default: the latest run).")] = None,
    recreate: Annotated[
        bool, typer.Option("--recreate", help="Make a new project if the stored one was deleted on the server.")
    ] = False,
    lock_timeout: LockTimeoutOpt = None,
    min_level: Annotated[
        Level | None,
        typer.Option(
            "--min-level",
            help="Push open findings at or above this severity level (default: review.min_level, high).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Push one review task per example of each open finding at or above the minimum level (idempotent:
    pushing again adds nothing; a concurrent push of the same model waits for this one, then adds nothing)."""
    from tagscan.pipeline import run_review_push

    cfg = load(config)
    out = guard(
        lambda: run_review_push(
            cfg, run=run, recreate=recreate, lock_timeout=lock_timeout, min_level=min_level.value if min_level else None
        )
    )
    r = out.receipt
    level = min_level.value if min_level else cfg.review.min_level
    print(
        f"run {out.run_id}: {out.n_findings:,} open findings at or above '{level}' -> {r.n_tasks:,} review tasks in "
        f"Label Studio project {r.project_id} at {cfg.review.url}: {r.created:,} created, {r.already_present:,} already there"
        + (f" ({r.recovered:,} recovered after an interrupted push)" if r.recovered else "")
        + (" (project recreated)" if r.recreated else "")
    )
    if out.below_level:
        left = ", ".join(f"{n:,} {lv}" for lv, n in out.below_level.items())
        print(f"not pushed: {left} (below '{level}'; --min-level low pushes every open finding)")


@review_app.command("pull", cls=TagscanCommand)
def review_pull(
    config: ConfigArg = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    lock_timeout: LockTimeoutOpt = None,
) -> None:
    """Pull reviewers' verdicts and record per finding: counts, share judged wrong, review status."""
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import run_review_pull

    cfg = load(config)
    df = guard(lambda: run_review_pull(cfg, lock_timeout=lock_timeout))
    get_renderer(format).review_pull(df)
