"""The command line: parse, call one pipeline function, render. Exit codes follow SPEC.

0 success; 1 open findings at or above ``--fail-on``; 2 bad input, config or usage; 3 an external
service failed. Results go to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import pandas as pd
import typer
from rich.console import Console
from typer.core import TyperGroup

from tagscan.errors import TagscanError
from tagscan.scan.severity import LEVEL_ORDER


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


__all__ = ["app", "main"]

log = logging.getLogger("tagscan")
T = TypeVar("T")

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

EXIT_FINDINGS = 1
EXIT_INTERNAL = 4


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class Level(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


_LEVEL_RANK = {name: rank for rank, name in enumerate(LEVEL_ORDER)}


def _stdout() -> Console:
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, highlight=False)


def _guard(fn: Callable[[], T]) -> T:
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


def _load(config: Path):
    from tagscan.config import load_config

    return _guard(lambda: load_config(config))


# What --fail-on counts. Open findings: everything still there that no reviewer dismissed. A confirmed
# finding is a bug reviewers agreed on, and a persisting one is still unreviewed: rerunning the CI
# job must not turn the gate green. --fail-only-new narrows it to a ratchet on what changed.
GATED_OPEN = ("new", "regressed", "persisting", "confirmed")
GATED_NEW = ("new", "regressed")


def _gate(findings, fail_on: Level | None, *, only_new: bool = False) -> int:
    if fail_on is None or len(findings) == 0:
        return 0
    statuses = GATED_NEW if only_new else GATED_OPEN
    rank = findings["severity_level"].map(_LEVEL_RANK)
    gated = findings[(rank >= _LEVEL_RANK[fail_on.value]) & findings["status"].isin(statuses)]
    # One (label, group) raised by several detectors counts once.
    gated = gated.drop_duplicates(subset=["label", "group"])
    if len(gated):
        by_status = gated["status"].value_counts()
        detail = ", ".join(f"{int(by_status[s])} {s}" for s in statuses if s in by_status.index)
        print(
            f"tagscan: {len(gated)} finding(s) at or above '{fail_on.value}' ({detail}; "
            f"top: {gated.iloc[0]['label']} on {gated.iloc[0]['group']}); failing as --fail-on asks. "
            "Fix them, or dismiss benign ones in review (tagscan review push / pull)",
            file=sys.stderr,
        )
        return EXIT_FINDINGS
    return 0


ConfigArg = Annotated[Path, typer.Argument(help="The scan's YAML config.", show_default=False, metavar="CONFIG")]


@app.command()
def scan(
    config: ConfigArg,
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
    from tagscan.pipeline import run_scan
    from tagscan.render import print_summary, scan_json

    if fail_only_new and fail_on is None:
        print("tagscan: error: --fail-only-new only narrows --fail-on; add --fail-on LEVEL", file=sys.stderr)
        raise typer.Exit(2)
    cfg = _load(config)
    res = _guard(lambda: run_scan(cfg, baseline=baseline, skip_bad_images=skip_bad_images))
    info = {**res.info, "run_dir": str(res.run_dir)}
    if format is OutputFormat.json:
        sys.stdout.write(scan_json(info, res.findings) + "\n")
    else:
        print_summary(info, res.findings, console=_stdout(), top=top)
    raise typer.Exit(_gate(res.findings, fail_on, only_new=fail_only_new))


@app.command()
def report(
    config: ConfigArg,
    run: Annotated[str | None, typer.Option("--run", help="Run id or prefix (default: the latest run).")] = None,
) -> None:
    """Write a self-contained HTML report of a run (opens without network) and print its path."""
    from tagscan.pipeline import run_report

    cfg = _load(config)
    path = _guard(lambda: run_report(cfg, run=run))
    print(path)


@app.command()
def embed(
    config: ConfigArg,
    skip_bad_images: Annotated[
        bool, typer.Option("--skip-bad-images", help="Go on without images that are missing or unreadable (counted).")
    ] = False,
) -> None:
    """Embed inputs and label names (cached by content, resumable) and build their FAISS indexes."""
    from tagscan.pipeline import run_embed

    cfg = _load(config)
    out = _guard(lambda: run_embed(cfg, skip_bad_images=skip_bad_images))
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


def _print_table(df, console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[Text(str(v)) for v in row])
    console.print(table)


@app.command()
def labels(
    config: ConfigArg,
    like: Annotated[str, typer.Option("--like", help="Text to look up in the output space.")],
    k: Annotated[int, typer.Option("-k", help="How many labels.", min=1)] = 10,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
) -> None:
    """The labels nearest to a text in the output space (through the label index)."""
    from tagscan.pipeline import run_labels_like

    cfg = _load(config)
    df = _guard(lambda: run_labels_like(cfg, like, k=k))
    if format is OutputFormat.json:
        print(df.to_json(orient="records"))
    else:
        _print_table(df, _stdout())


@app.command()
def neighbors(
    config: ConfigArg,
    sample_id: Annotated[str, typer.Argument(help="A sample_id of the samples table.", metavar="SAMPLE_ID")],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.", min=1)] = 10,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
) -> None:
    """The inputs nearest to a sample (through the input index), with their predicted labels."""
    from tagscan.pipeline import run_neighbors

    cfg = _load(config)
    df = _guard(lambda: run_neighbors(cfg, sample_id, k=k))
    if format is OutputFormat.json:
        print(df.to_json(orient="records"))
    else:
        _print_table(df, _stdout())


@app.command()
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

    cfg = _load(config)
    ws = _guard(lambda: Workspace(cfg.workspace_dir))
    df = _guard(lambda: ws.run_summaries(None if all_configs else cfg.name))
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
    _print_table(show, _stdout())


@app.command()
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

    cfg = _load(config)
    df = _guard(lambda: run_diff(cfg, run_a, run_b))
    if format is OutputFormat.json:
        # The scan's JSON conventions: an infinite lift is "inf" (null means the run lacks the finding).
        print(json.dumps(findings_json(df)))
        return
    console = _stdout()
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
    _print_table(show.head(top), console)
    if len(show) > top:
        console.print(f"... and {len(show) - top:,} more rows (--top N shows more; --format json gives all)", highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo data set and its workspace.")] = Path(
        "tagscan-demo"
    ),
    samples: Annotated[int, typer.Option("--samples", help="Number of photos in the demo set.", min=500)] = 8000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo data.")] = 0,
    top: Annotated[int, typer.Option("--top", help="Findings shown.", min=1)] = 15,
) -> None:
    """Build the offline demo data set (a simulated photo tagger with planted harms) and scan it."""
    from tagscan.config import load_config
    from tagscan.demo import PLANTED, build_demo
    from tagscan.pipeline import run_report, run_scan
    from tagscan.render import print_summary

    console = _stdout()
    path = _guard(lambda: build_demo(out, n_samples=samples, seed=seed))
    cfg = _guard(lambda: load_config(path))
    console.print(f"demo data set written to {out}/ (config {path})", highlight=False)
    res = _guard(lambda: run_scan(cfg))
    print_summary({**res.info, "run_dir": str(res.run_dir)}, res.findings, console=console, top=top)
    console.print("\nplanted harmful associations:", highlight=False)
    f = res.findings.reset_index(drop=True)
    for p in PLANTED:
        hit = f.index[(f["label"] == p.label) & (f["group"] == p.group)]
        where = f"found at rank {hit[0] + 1} of {len(f)}" if len(hit) else "NOT FOUND"
        console.print(f"  {p.label} on {p.group} ({p.kind}): {where}", highlight=False)
    report = _guard(lambda: run_report(cfg, run=res.run_id))
    console.print(f"\nHTML report: {report}", highlight=False, soft_wrap=True)


review_app = typer.Typer(help="Send findings' examples to Label Studio and pull reviewers' verdicts back.", no_args_is_help=True)
app.add_typer(review_app, name="review")

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


@review_app.command("push")
def review_push(
    config: ConfigArg,
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

    cfg = _load(config)
    out = _guard(
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


@review_app.command("pull")
def review_pull(
    config: ConfigArg,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format on stdout.")] = OutputFormat.text,
    lock_timeout: LockTimeoutOpt = None,
) -> None:
    """Pull reviewers' verdicts and record per finding: counts, share judged wrong, review status."""
    from tagscan.pipeline import run_review_pull

    cfg = _load(config)
    df = _guard(lambda: run_review_pull(cfg, lock_timeout=lock_timeout))
    if format is OutputFormat.json:
        print(df.to_json(orient="records"))
        return
    console = _stdout()
    counts = df["review_status"].value_counts()
    console.print(
        f"{len(df)} findings pushed: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("confirmed", "dismissed", "needs review")),
        highlight=False,
    )
    cols = ["label", "group", "detector", "severity_level", "n_reviewed", "correct", "wrong", "harmful", "unsure", "share_wrong", "review_status"]
    show = df[[c for c in cols if c in df.columns]].rename(columns={"severity_level": "severity"})
    show["share_wrong"] = [
        "" if pd.isna(v) else f"{v:.0%} [{lo:.0%}, {hi:.0%}]"
        for v, lo, hi in zip(df["share_wrong"], df["share_wrong_low"], df["share_wrong_high"])
    ]
    if "comments" in df.columns and df["comments"].notna().any():
        show["comments"] = [("" if pd.isna(c) else (c if len(c) <= 60 else c[:59] + "…")) for c in df["comments"]]
    _print_table(show, console)


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


if __name__ == "__main__":
    main()
