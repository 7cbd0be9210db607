"""The report's summary section: count cards, pairs by severity, the test families and the detectors."""

from __future__ import annotations

import pandas as pd

from tagscan.outputs.format import (
    LEVELS_MOST_SEVERE_FIRST,
    fmt_int,
    fmt_level_counts,
    fmt_num,
    fmt_significance,
)
from tagscan.outputs.html.markup import e
from tagscan.outputs.pairs import group_pairs
from tagscan.runs import Counts, FamilyRecord, RunRecord

__all__ = ["summary", "untested_text"]


def untested_text(counts: Counts) -> str:
    """Why groups were not tested: '9 below min_group_size 30' (runs before the reasons: '9 not tested')."""
    reasons = counts.groups_untested_by_reason or {}
    if reasons:
        return "; ".join(f"{fmt_int(n)} {reason}" for reason, n in reasons.items())
    n = counts.groups_untested
    return f"{fmt_int(n)} not tested" if n else "none left out"


def _level_bar(pair_level: dict, n_findings: int, by_level: dict) -> str:
    seg, legend = [], []
    for lvl in LEVELS_MOST_SEVERE_FIRST:
        n = int(pair_level.get(lvl, 0))
        legend.append(f'<span class="lvl-chip"><i class="dot l-{lvl}"></i>{e(lvl)} <b>{n:,}</b></span>')
        if n:
            seg.append(f'<span class="seg l-{lvl}" style="flex-grow:{n}" title="{e(f"{n:,} {lvl} pairs")}"></span>')
    det_levels = fmt_level_counts(by_level)
    return (
        f'<div class="levelbar">{"".join(seg) if seg else "<span class=empty-bar></span>"}</div>'
        f'<div class="levels" id="pair-levels">{"".join(legend)}</div>'
        '<p class="muted small">Each (label, group) pair at the level of its most severe finding. '
        f'Detector findings: {e(fmt_int(n_findings))}{e(f" ({det_levels})" if det_levels else "")}.</p>'
    )


def _fewer(fam: FamilyRecord) -> bool:
    """The family reports fewer rows than were significant (label families' "adds information" rule)."""
    return fam.n_reported is not None and fam.n_reported != fam.n_significant


def _family_row(fam: FamilyRecord) -> str:
    how = []
    if fam.alternative == "less":
        how.append("lower tail")
    if fam.correction and fam.correction != "bh":
        how.append(str(fam.correction).upper())
    return (
        "<tr>"
        f"<td>{e(fam.name)}"
        + (f' <span class="tag">{e(", ".join(how))}</span>' if how else "")
        + "</td>"
        f'<td class="n">{e(fmt_int(fam.n_labels))}</td>'
        f'<td class="n">{e(fmt_int(fam.n_pairs))}</td>'
        f'<td class="n">{e(fmt_int(fam.n_testable))}</td>'
        f'<td class="n">{e(fmt_significance(fam.tarone_level))}</td>'
        f'<td class="n"><b>{e(fmt_int(fam.n_significant))}</b>'
        + (f' <span class="muted small">({e(fmt_int(fam.n_reported))} reported)</span>' if _fewer(fam) else "")
        + "</td>"
        "</tr>"
    )


def _families(record: RunRecord) -> str:
    rows = [_family_row(fam) for fam in record.families]
    if not rows:
        return '<p class="muted">No test families recorded.</p>'
    return (
        '<table class="mini"><thead><tr><th>Family</th><th class="n">Labels</th><th class="n">Pairs</th>'
        '<th class="n" title="pairs whose smallest attainable p-value can reach the Tarone level">Testable</th>'
        '<th class="n">Tarone level</th><th class="n">Significant</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )


def _detectors(record: RunRecord) -> str:
    items = []
    for name, status in record.detectors.items():
        status = str(status)
        word, _, reason = status.partition(":")
        cls = "ok" if status == "ran" else ("bad" if word == "failed" else "skip")
        items.append(
            f'<li><span class="pill {cls}">{e(word)}</span> <code>{e(name)}</code>'
            + (f'<div class="why {cls}">{e(reason.strip())}</div>' if reason.strip() else "")
            + "</li>"
        )
    return f'<ul class="detectors">{"".join(items)}</ul>' if items else '<p class="muted">–</p>'


def summary(record: RunRecord, by_sev: pd.DataFrame) -> str:
    """The header cards and summary. ``by_sev``: all findings, most severe first (ties by rank).

    Two counts, named apart: detector findings (rows of findings.parquet, one per detector and pair; from
    the run's counts when it has them) and flagged (label, group) pairs (each counted once, at the level of
    its most severe finding). Resolved rows (gone since the baseline) count in neither.
    """
    counts = record.counts
    active = by_sev[by_sev["status"].astype(str) != "resolved"] if len(by_sev) else by_sev
    n_findings = counts.findings or len(active)
    by_level = dict(counts.findings_by_level or {})
    if not by_level and len(active):
        by_level = active["severity_level"].astype(str).value_counts().to_dict()
    if counts.pairs is not None:  # the run's own counts: the same numbers the terminal and the gate read
        n_pairs, pair_level = counts.pairs, dict(counts.pairs_by_level or {})
    else:  # a run.json from before pair counts
        pair_reps = active.iloc[group_pairs(active)["rep"].to_numpy()] if len(active) else active
        n_pairs = len(pair_reps)
        pair_level = pair_reps["severity_level"].astype(str).value_counts().to_dict() if n_pairs else {}

    cards = [
        ("Samples", fmt_int(counts.samples), ""),
        ("Labels", fmt_int(counts.labels), ""),
        ("Positive predictions", fmt_int(counts.positives), ""),
        ("Groups tested", fmt_int(counts.groups_tested), untested_text(counts)),
        ("Non-zero cells", fmt_int(counts.cells_nonzero), "(label, group) pairs counted"),
        ("Flagged pairs", fmt_int(n_pairs), f"(label, group) pairs at FDR {fmt_num(record.fdr)}, each once"),
        ("Detector findings", fmt_int(n_findings), "one per detector and pair"),
    ]
    card_html = "".join(
        f'<div class="stat"><div class="k">{e(k)}</div><div class="v">{e(v)}</div><div class="s">{e(s)}</div></div>'
        for k, v, s in cards
    )
    extra = []
    if record.baseline:
        extra.append(
            f"Compared with run <code>{e(record.baseline)}</code>: "
            f"{e(fmt_int(counts.resolved_since_baseline))} findings resolved since."
        )
    if "total" in record.timings:
        extra.append(f"Scan took {e(fmt_num(record.timings.get('total')))} s.")
    return (
        '<section id="summary" class="card">'
        f'<div class="stats">{card_html}</div>'
        '<div class="summary-grid">'
        f"<div><h3>Pairs by severity</h3>{_level_bar(pair_level, n_findings, by_level)}</div>"
        f"<div><h3>Test families</h3>{_families(record)}</div>"
        f"<div><h3>Detectors</h3>{_detectors(record)}</div>"
        "</div>"
        + (f'<p class="muted small">{" ".join(extra)}</p>' if extra else "")
        + "</section>"
    )
