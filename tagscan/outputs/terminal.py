"""The terminal renderings (``--format text``): the scan summary and the CLI's tables, with rich.

Reads a run and its findings; computes nothing new. Each function writes to the rich ``Console`` it is
given; :func:`stdout_console` is the CLI's (the terminal's width, ``COLUMNS`` when set, else 160 columns
into a pipe). Tables fit the console's width with one line a row (:mod:`tagscan.outputs.fit`); prose
wraps at spaces, so ids and paths stay whole.
"""

from __future__ import annotations

import os
import sys
from os import PathLike

import numpy as np
import pandas as pd
from rich.console import Console
from rich.text import Text

from tagscan.constants import STATUSES
from tagscan.outputs.base import Renderer, RunLike, as_record
from tagscan.outputs.fit import Col, dropped_note, fitted_table
from tagscan.outputs.format import TERMINAL, fmt_count, fmt_level_counts, fmt_lift_ci, fmt_p, watch_text
from tagscan.outputs.pairs import group_pairs
from tagscan.runs import Counts

__all__ = [
    "TextRenderer",
    "family_text",
    "print_diff",
    "print_review_pull",
    "print_runs",
    "print_summary",
    "print_table",
    "print_with_path",
    "stdout_console",
    "untested_note",
]

#: rich styles of the severity levels in the summary's severity column.
LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
#: Statuses the baseline line names even at zero; the others only when some finding has them.
_ALWAYS_NAMED = ("new", "regressed", "persisting")
_REVIEW_STATUSES = ("confirmed", "dismissed", "needs review")


def stdout_console() -> Console:
    """A console on the current ``sys.stdout``: the terminal's width (``COLUMNS`` when set, as a test or a
    script sets it), or 160 columns into a pipe or file."""
    sized = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(file=sys.stdout, width=None if sized else 160, highlight=False)


def untested_note(counts: Counts) -> str:
    """' (3 not tested: 2 below min_group_size 30, 1 covers its whole universe)'; older runs lack reasons."""
    n = counts.groups_untested
    if not n:
        return ""
    detail = ", ".join(f"{k:,} {r}" for r, k in (counts.groups_untested_by_reason or {}).items())
    return f" ({n:,} not tested: {detail})" if detail else f" ({n:,} not tested)"


def family_text(family: object, category: object) -> str:
    """The family column: 'watchlist/dehumanizing', 'discovery (dehumanizing label)' or 'discovery'."""
    text = watch_text(family, category)
    if not text:
        return str(family)
    return f"{family}/{text}" if text == str(category) else f"{family} ({text})"


def _status_line(c: Counts) -> str:
    """'3 new, 0 regressed, 12 persisting, 2 confirmed': the run's findings by status against its baseline."""
    st = c.by_status or {}
    order = _ALWAYS_NAMED + tuple(s for s in STATUSES if s not in _ALWAYS_NAMED and s != "resolved")
    return ", ".join(f"{st.get(k, 0):,} {k}" for k in order if k in _ALWAYS_NAMED or st.get(k))


def print_summary(
    run: RunLike, findings: pd.DataFrame, *, console: Console, top: int = 20, run_dir: str | PathLike | None = None
) -> None:
    """The scan summary: what was scanned, the error budgets, the baseline, and the ``top`` pairs."""
    record, folder = as_record(run, run_dir=run_dir)
    c = record.counts
    console.print(
        f"[bold]tagscan[/bold] run {record.run_id} of {record.config_name} "
        f"(model {record.model.name} {record.model.version})",
        highlight=False,
    )
    console.print(
        f"{c.samples:,} samples, {c.labels:,} labels, {c.positives:,} positive predictions; "
        f"{c.groups_tested:,} groups tested{untested_note(c)}, "
        f"{c.cells_nonzero:,} non-zero (label, group) cells",
        highlight=False,
    )
    if record.engine.counts == "ray":
        where = record.engine.address or "a Ray started on this machine"
        console.print(f"counted on Ray ({where}): {record.engine.count_tasks:,} shard task(s), summed in a tree; "
                      "tests and findings in this process", highlight=False)
    if record.families:
        console.print(f"error budgets at FDR {record.fdr}:", highlight=False)
        fams = record.families
        w_name = max(len(f.name) for f in fams)
        w_sig = max(len(f"{f.n_significant:,}") for f in fams)
        w_test = max(len(f"{f.n_testable:,}") for f in fams)
        for f in fams:
            line = f"  {f.name:<{w_name}}  {f.n_significant:>{w_sig},} significant of {f.n_testable:>{w_test},} testable pairs"
            labels = f" ({f.n_labels:,} labels)"
            note = reported_note(f)
            # one line each: the label count and the note go when the terminal is too narrow for them
            for extra in (labels + note, note, ""):
                if len(line) + len(extra) <= console.width:
                    break
            console.print(line + extra, highlight=False)
    n_img = record.embedding.n_skipped_images
    if n_img:
        console.print(f"skipped {n_img} unreadable image(s) (--skip-bad-images); listed in run.json", highlight=False)
    if record.clusters.skipped or (record.embedding.input_model is None and record.embedding.label_model):
        asked = f" (groups.clusters {list(record.config.get('groups', {}).get('clusters') or [])} skipped)"
        console.print("no inputs: predictions and attributes only; attribute groups tested, clusters need input "
                      f"embeddings{asked if record.clusters.skipped else ''}", highlight=False)
    for k, v in record.skipped_detectors.items():
        console.print(f"detector {k}: {v}", highlight=False)
    if record.baseline:
        bm = record.baseline_model
        of = f" of {bm.name} {bm.version}".rstrip() if bm else ""
        console.print(
            f"against baseline {record.baseline}{of} ({record.comparison}): "
            + _status_line(c)
            + f", {c.resolved_since_baseline:,} resolved",
            highlight=False,
        )
    # The rows of findings resolved since the baseline follow the run's own findings; they are listed apart.
    ranked = findings.reset_index(drop=True)
    gone = (ranked["status"] == "resolved").to_numpy() if "status" in ranked else np.zeros(len(ranked), bool)
    live = ranked[~gone]
    pairs = group_pairs(live) if len(live) and {"label", "group"} <= set(live.columns) else None
    console.print(counts_line(c, live), highlight=False)
    if len(live) == 0:
        console.print("No (label, group) association passed the multiple-testing control.")
    else:
        _print_findings(console, ranked, live, pairs if pairs is not None else group_pairs(live), top)
    _print_dismissed(console, live)
    if gone.any():
        was = ranked[gone].sort_values("severity", ascending=False, kind="stable")
        shown = ", ".join(
            f"{r.label_name} on {r.group} ({'' if r.detector == 'association' else f'{r.detector}, '}"
            f"{r.severity_level} {r.severity:.0f})"
            for r in was.head(5).itertuples()
        )
        rest = f" and {len(was) - 5:,} more" if len(was) > 5 else ""
        console.print(
            f"resolved since the baseline (severity as it was): {shown}{rest} "
            f"(tagscan diff CONFIG {record.baseline or 'BASELINE'} {record.run_id} lists every change)",
            highlight=False,
        )
    print_with_path(console, "run folder:", str(folder or ""))


def print_with_path(console: Console, words: str, path: str, after: str = "") -> None:
    """``words path after`` on one line when it fits the console, else the path alone on the next line
    (``after`` on the first): a path is copied whole, never split."""
    line = f"{words} {path}{after}"
    if len(line) <= console.width:
        console.print(line, highlight=False, soft_wrap=True)
    else:
        console.print(f"{words}{after}", highlight=False, soft_wrap=True)
        console.print(path, highlight=False, soft_wrap=True)


DISMISSED_SHOWN = 10  # dismissed pairs listed with their reviewers' note under the findings table


def _print_dismissed(console: Console, live: pd.DataFrame) -> None:
    """One line per dismissed (label, group) pair with its review note (counts and what reviewers said), so
    a suppressed finding stays visible with its reason; the most severe first, at most DISMISSED_SHOWN."""
    if "status" not in live.columns or "review_note" not in live.columns:
        return
    d = live[live["status"] == "dismissed"].sort_values("severity", ascending=False, kind="stable")
    d = d.drop_duplicates(["label", "group"]) if {"label", "group"} <= set(d.columns) else d
    for r in d.head(DISMISSED_SHOWN).itertuples():
        note = r.review_note if isinstance(r.review_note, str) and r.review_note else "dismissed in review"
        console.print(f"dismissed: {r.label_name} on {r.group}: {note}", highlight=False, soft_wrap=True)
    if len(d) > DISMISSED_SHOWN:
        console.print(f"... and {len(d) - DISMISSED_SHOWN:,} more dismissed pairs (status 'dismissed' in findings.parquet)",
                      highlight=False)


def reported_note(fam: object) -> str:
    """', 197 reported' for a family that reports fewer rows than were significant (label families)."""
    n_rep = getattr(fam, "n_reported", None)
    return f", {n_rep:,} reported" if n_rep is not None and n_rep != fam.n_significant else ""


def counts_line(c: Counts, live: pd.DataFrame) -> str:
    """'4,318 findings (10 critical, ...) on 3,746 (label, group) pairs (8 critical, ...)', from the run's
    counts (older runs without pair counts: the pairs from ``live``, the findings not resolved)."""
    from tagscan.runs.gate import pair_level_counts

    n_pairs, by_pair = c.pairs, c.pairs_by_level
    if n_pairs is None and len(live) and {"label", "group"} <= set(live.columns):
        n_pairs, by_pair = len(live[["label", "group"]].drop_duplicates()), pair_level_counts(live)
    lv, plv = fmt_level_counts(c.findings_by_level or {}), fmt_level_counts(by_pair or {})
    text = f"[bold]{c.findings:,} detector findings[/bold]" + (f" ({lv})" if lv else "")
    if n_pairs:
        text += f" on {n_pairs:,} (label, group) pairs" + (f" ({plv}; each pair at its most severe finding)" if plv else "")
    return text


def _print_findings(console: Console, ranked: pd.DataFrame, live: pd.DataFrame, pairs: pd.DataFrame, top: int) -> None:
    """One line per (label, group): the same pair raised by several detectors is shown once, at its best
    rank, with the other detectors named; '#' is the position in findings.parquet (one row per detector
    finding), so it skips the rows of pairs already shown; the table says so."""
    firsts = live.index.to_numpy()[pairs["rep"].to_numpy()] if len(pairs) else np.empty(0, np.int64)
    rows = []
    for i, also in zip(firsts[:top], pairs["also"][:top]):
        r = ranked.loc[i]
        fam = family_text(r["family"], r["watch_category"])
        rows.append((
            str(i + 1),
            Text(f"{r['severity_level']} {r['severity']:.0f}", style=LEVEL_STYLE.get(r["severity_level"], "")),
            Text(str(r["label_name"])),
            Text(str(r["group"])),
            f"{int(r['count']):,}",
            f"{r['expected']:.1f}",
            fmt_lift_ci(r["lift"], r["lift_low"], r["lift_high"], style=TERMINAL),
            fmt_p(r["q_value"], style=TERMINAL),
            Text(fam + (f" (+{', '.join(also)})" if also else "")),
            str(r["status"]) + (" (expected)" if isinstance(r.get("expected_reason"), str) else ""),
        ))
    table, dropped = fitted_table(FINDING_COLUMNS, rows, console.width)
    console.print(table)
    console.print(
        "#: position in findings.parquet (one row per detector finding); each (label, group) pair is shown once, "
        "at its first row, with the other detectors that raised it",
        highlight=False,
    )
    if dropped:
        console.print(dropped_note(dropped, console.width), highlight=False)
    if len(firsts) > top:
        more = int((live.index >= firsts[top]).sum())
        console.print(
            f"... and {len(firsts) - top:,} more (label, group) pairs ({more:,} detector findings) in findings.parquet",
            highlight=False,
        )


#: Columns of the scan summary's findings table: when each is dropped on a narrow console (lowest first)
#: and how far free text may be cut; '#', the severity (level word and score) and the label stay.
FINDING_COLUMNS = (
    Col("#", "right"),
    Col("severity"),
    Col("label", shrink=16),
    Col("group", shrink=24),
    Col("count", "right", drop=2),
    Col("expected", "right", drop=1),
    Col("lift [95% CI]", drop=6),
    Col("q", "right", drop=3),
    Col("family", shrink=14, drop=4),
    Col("status", drop=5),
)
#: Columns never cut in a generic table: ids a reader copies into a command or a lookup.
ID_COLUMNS = frozenset({"run", "run_id", "sample_id", "finding_id", "label", "config"})


def table_columns(rows: pd.DataFrame, *, keep: int = 1) -> list[Col]:
    """The default fitting of a table: the first ``keep`` columns always shown, the others dropped from the
    right; text columns other than ids may be cut to 12 characters; numbers right-aligned."""
    cols = []
    n = len(rows.columns)
    for i, name in enumerate(rows.columns):
        numeric = pd.api.types.is_numeric_dtype(rows[name]) and not pd.api.types.is_bool_dtype(rows[name])
        cols.append(
            Col(
                str(name),
                "right" if numeric else "left",
                drop=None if i < keep else n - i,
                shrink=None if numeric or str(name) in ID_COLUMNS else 12,
            )
        )
    return cols


def print_table(rows: pd.DataFrame, console: Console, *, cols: list[Col] | None = None) -> None:
    """Every row of ``rows`` as text, headers in bold, one line a row within the console's width
    (:func:`tagscan.outputs.fit.fitted_table`; ``cols`` says how each column drops and shrinks, default
    :func:`table_columns`), and a note naming the columns left out."""
    cols = cols if cols is not None else table_columns(rows)
    body = [[Text(str(v)) for v in row] for row in rows.itertuples(index=False)]
    table, dropped = fitted_table(cols, body, console.width)
    console.print(table)
    if dropped:
        console.print(dropped_note(dropped, console.width), highlight=False)


#: Columns of ``tagscan runs``: the run id is never cut nor dropped (it is copied into ``diff``).
RUNS_COLUMNS = (
    Col("run"),
    Col("config", drop=9),
    Col("created", drop=5),
    Col("model", shrink=16, drop=10),
    Col("samples", "right", drop=4),
    Col("findings", "right"),
    Col("critical", "right", drop=8),
    Col("high", "right", drop=7),
    Col("new", "right", drop=6),
    Col("regressed", "right", drop=3),
    Col("resolved", "right", drop=2),
    Col("confirmed", "right", drop=1),
    Col("dismissed", "right", drop=1),
)


def print_runs(runs: pd.DataFrame, console: Console, *, all_configs: bool = False) -> None:
    """The catalogue's runs: id, (config), date, model, samples, findings and the counts by level and status."""
    show = pd.DataFrame(
        {
            "run": runs["run_id"],
            **({"config": runs["config_name"]} if all_configs else {}),
            "created": runs["created_at"].str.slice(0, 19).str.replace("T", " "),
            "model": (runs["model_name"].fillna("") + " " + runs["model_version"].fillna("")).str.strip(),
            "samples": runs["n_samples"].map(fmt_count),
            "findings": runs["n_findings"].map(fmt_count),
            **{c: runs[c].map(lambda v: f"{int(v):,}") for c in
               ("critical", "high", "new", "regressed", "resolved", "confirmed", "dismissed")},
        }
    )  # fmt: skip
    print_table(show, console, cols=[c for c in RUNS_COLUMNS if c.name in show.columns])
    console.print(
        "findings, critical, high and the statuses count detector findings (rows of findings.parquet), not pairs",
        highlight=False,
    )


def print_diff(changes: pd.DataFrame, console: Console, *, run_a: str, run_b: str, top: int = 50) -> None:
    """What changed between two runs: a count line, then ``top`` rows (change, pair, detector, severities, rates)."""
    counts = changes["change"].value_counts()
    console.print(
        f"{changes.attrs.get('run_a', run_a)} -> {changes.attrs.get('run_b', run_b)}: {counts.get('new', 0):,} new, "
        f"{counts.get('gone', 0):,} gone, {counts.get('status', 0):,} changed status in review, "
        f"{counts.get('both', 0):,} in both "
        f"(model {changes.attrs.get('model_a', '?')} -> {changes.attrs.get('model_b', '?')})",
        highlight=False,
    )
    cols = ["change", "label_name", "group", "detector", "severity_a", "severity_b", "rate_in_group_a", "rate_in_group_b"]
    if "status_change" in changes.columns and changes["status_change"].notna().any():
        cols.append("status_change")  # open -> confirmed / dismissed after a review
    show = changes[[c for c in cols if c in changes.columns]].copy()
    if "status_change" in show.columns:
        show["status_change"] = show["status_change"].map(lambda v: "" if not isinstance(v, str) else v)
    for c in ("severity_a", "severity_b"):
        show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    for c in ("rate_in_group_a", "rate_in_group_b"):
        show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    print_table(show.head(top), console)
    if len(show) > top:
        console.print(f"... and {len(show) - top:,} more rows (--top N shows more; --format json gives all)", highlight=False)


def _share_wrong(v: float, lo: float, hi: float) -> str:
    return "" if pd.isna(v) else f"{v:.0%} [{lo:.0%}, {hi:.0%}]"


def print_review_pull(verdicts: pd.DataFrame, console: Console) -> None:
    """Reviewers' verdicts: a count line by review status, then one row per pushed finding."""
    counts = verdicts["review_status"].value_counts()
    console.print(
        f"{len(verdicts)} findings pushed: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in _REVIEW_STATUSES),
        highlight=False,
    )
    cols = ["label", "group", "detector", "severity_level", "n_reviewed", "correct", "wrong", "harmful", "unsure",
            "share_wrong", "review_status"]  # fmt: skip
    show = verdicts[[c for c in cols if c in verdicts.columns]].rename(columns={"severity_level": "severity"})
    show["share_wrong"] = [
        _share_wrong(v, lo, hi)
        for v, lo, hi in zip(verdicts["share_wrong"], verdicts["share_wrong_low"], verdicts["share_wrong_high"])
    ]
    if "comments" in verdicts.columns and verdicts["comments"].notna().any():
        show["comments"] = [("" if pd.isna(c) else (c if len(c) <= 60 else c[:59] + "…")) for c in verdicts["comments"]]
    print_table(show, console)


class TextRenderer(Renderer):
    """``--format text``: rich tables on a console (default: :func:`stdout_console`, made at each call)."""

    name = "text"

    @property
    def console(self) -> Console:
        return self._console if self._console is not None else stdout_console()

    def scan(self, run: RunLike, findings: pd.DataFrame, *, run_dir: str | PathLike | None = None, top: int = 20) -> None:
        print_summary(run, findings, console=self.console, top=top, run_dir=run_dir)

    def table(self, rows: pd.DataFrame) -> None:
        print_table(rows, self.console)

    def runs(
        self,
        runs: pd.DataFrame,
        *,
        all_configs: bool = False,
        workspace: str | PathLike | None = None,
        config: str | PathLike | None = None,
    ) -> None:
        console = self.console
        if len(runs) == 0:
            console.out(f"no runs yet in {workspace}; run 'tagscan scan {config}'", highlight=False)
            return
        print_runs(runs, console, all_configs=all_configs)

    def diff(self, changes: pd.DataFrame, *, run_a: str, run_b: str, top: int = 50) -> None:
        print_diff(changes, self.console, run_a=run_a, run_b=run_b, top=top)

    def review_pull(self, verdicts: pd.DataFrame) -> None:
        print_review_pull(verdicts, self.console)
