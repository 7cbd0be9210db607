"""tagscan scan, embed and report: make a run, its embeddings, its HTML report."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from tagscan.cli.common import EXIT_FINDINGS, ConfigArg, Level, OutputFormat, guard, load


def print_cache_line(cfg, run, console=None) -> None:
    """Where the machine's embedding cache is and how many of a run's vectors came from it (``run``: a run
    record, or the embed stage's outcome), on stdout or ``console``; the folder whole (on its own line when the
    terminal is too narrow)."""
    from tagscan.embed.cache import embedding_cache_root
    from tagscan.embed.stage import cache_counts
    from tagscan.outputs.terminal import print_with_path, stdout_console

    emb = getattr(run, "embedding", run)
    # precomputed vectors, or no inputs at all (embed.input: none): no input went through the cache
    precomputed = not emb.input_model or str(emb.input_model).startswith("precomputed:")
    if hasattr(run, "counts"):
        n_inputs, n_labels = run.counts.samples, run.counts.labels if emb.label_model else 0
    else:
        n_inputs = 0 if run.vectors is None else len(run.vectors)
        n_labels = 0 if run.label_vectors is None else len(run.label_vectors)
    told = cache_counts(
        n_inputs=None if precomputed else n_inputs,
        computed_inputs=emb.computed_inputs,
        n_labels=n_labels,
        computed_labels=emb.computed_labels,
    )
    root = str(embedding_cache_root(cfg.embed.cache_dir))
    print_with_path(console or stdout_console(), "embedding cache", root, f": {told} came from it")


class Engine(str, Enum):
    local = "local"
    ray = "ray"


EngineOpt = Annotated[
    Engine | None,
    typer.Option(
        "--engine",
        help="Where to embed and count: local (this process) or ray (a Ray cluster, see engine in the config); "
        "overrides engine.kind.",
    ),
]


def with_engine(cfg, engine: Engine | None):
    """The config with ``engine.kind`` set by ``--engine``; with ``ray``, checked now that Ray can be imported
    (one line naming the extra to install) rather than after the data is loaded."""
    if engine is not None:
        cfg = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"kind": engine.value})})
    if cfg.engine.kind == "ray":
        from tagscan.embed.ray_engine import check_ray_installed

        guard(check_ray_installed)
    return cfg


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
    engine: EngineOpt = None,
) -> None:
    """Scan predictions for labels over-applied to groups; write a run to the workspace."""
    from tagscan.outputs import get_renderer
    from tagscan.pipeline import run_scan

    if fail_only_new and fail_on is None:
        print("tagscan: error: --fail-only-new only narrows --fail-on; add --fail-on LEVEL", file=sys.stderr)
        raise typer.Exit(2)
    cfg = with_engine(load(config), engine)
    res = guard(lambda: run_scan(cfg, baseline=baseline, skip_bad_images=skip_bad_images))
    get_renderer(format).scan(res.record, res.findings, run_dir=res.run_dir, top=top)
    if format == OutputFormat.text:
        print_cache_line(cfg, res.record)
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
    engine: EngineOpt = None,
) -> None:
    """Embed inputs and label names (cached by content, resumable) and build their FAISS indexes."""
    from tagscan.pipeline import run_embed

    cfg = with_engine(load(config), engine)
    out = guard(lambda: run_embed(cfg, skip_bad_images=skip_bad_images))
    nl = 0 if out.label_vectors is None else len(out.label_vectors)
    if out.vectors is None:
        print(f"no inputs to embed (predictions and attributes only); embedded {nl:,} labels "
              f"({out.computed_labels:,} computed), model {out.label_model}")
    else:
        n, d = out.vectors.shape
        print(
            f"embedded {n:,} inputs ({out.computed_inputs:,} computed, {n - out.computed_inputs:,} from cache) and "
            f"{nl:,} labels ({out.computed_labels:,} computed), dim {d}, model {out.input_model}"
        )
    print_cache_line(cfg, out)
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
