"""The report's findings table: one row per (label, group) pair, its expandable detail (the 2x2 counts,
rates and effect, the test, the group, every other detector's evidence on the pair) and its examples.
"""

from __future__ import annotations

import math

import pandas as pd

from tagscan.outputs.format import (
    LEVELS_MOST_SEVERE_FIRST,
    fmt_int,
    fmt_lift,
    fmt_num,
    fmt_p,
    fmt_pct,
    is_missing,
    known_level,
    number,
)
from tagscan.outputs.html.examples import Examples
from tagscan.outputs.html.markup import also_text, as_list, e, sort_value, watch_tag, yes_no

__all__ = ["findings_table"]

_COLUMNS = (
    # key, header, numeric, css class
    ("rank", "#", True, "n"),  # rank in findings.parquet
    ("severity", "Severity", True, ""),
    ("label", "Label", False, ""),
    ("group", "Group", False, ""),
    ("family", "Family", False, ""),
    ("detector", "Detector", False, ""),  # the representative's; the others as "also: ..."
    ("count", "Count", True, "n"),
    ("expected", "Expected", True, "n"),
    ("lift", "Lift [95% CI]", True, "n"),
    ("q", "q", True, "n"),
    ("status", "Status", False, ""),
)


def _universe(r: pd.Series) -> float:
    """Samples in the test's universe: ``universe_size`` when the frame has it, else from expected = n K / N."""
    if "universe_size" in r.index and not math.isnan(number(r["universe_size"])):
        return number(r["universe_size"])
    k, n, K, E = (number(r[c]) for c in ("count", "group_size", "label_count", "expected"))
    if any(math.isnan(v) or math.isinf(v) for v in (n, K, E)) or E <= 0:
        return math.nan
    N = round(n * K / E)
    ok = N >= n and N >= K and N - n - K + k >= 0 and abs(n * K / N - E) <= 1e-6 * max(E, 1.0)
    return float(N) if ok else math.nan


def _interval(r: pd.Series, low: str, high: str) -> tuple[float, float]:
    """An interval from two optional columns of the findings (NaN when a run did not record it)."""
    if low in r.index and high in r.index:
        return number(r[low]), number(r[high])
    return math.nan, math.nan


# Names of the 2x2 cells per detector: (row noun, counted column, other column).
_TABLE_WORDS = {
    "fpr": ("negatives", "false positive", "not predicted"),
    "tpr": ("true positives", "missed", "found"),
    "default": ("samples", "with label", "without"),
}


def _table_words(r: pd.Series) -> tuple[str, str, str]:
    if str(r["detector"]) == "error_gap":
        detail = str(r["detail"]) if "detail" in r.index and not is_missing(r["detail"]) else ""
        return _TABLE_WORDS["tpr" if detail.startswith("TPR") else "fpr"]
    return _TABLE_WORDS["default"]


def _evidence(members: pd.DataFrame, examples: Examples) -> str:
    """Every detector's finding on one (label, group): a table of effects and p/q values (the shown
    finding first, marked), then each other finding's full detail behind a disclosure."""
    rows = []
    for j in range(len(members)):
        m = members.iloc[j]
        lvl = str(m["severity_level"])
        lvl_cls = known_level(lvl)
        note = m["detail"] if "detail" in m.index else None
        wc = m["watch_category"]
        rows.append(
            f'<tr class="{"rep" if j == 0 else "other"}" data-detector="{e(m["detector"])}">'
            f'<td><code>{e(m["detector"])}</code>' + (' <span class="tag">shown above</span>' if j == 0 else "")
            + (f'<span class="sub">{e(note)}</span>' if not is_missing(note) and str(note) else "") + "</td>"
            f'<td><span class="sev l-{lvl_cls}">{e(fmt_num(m["severity"], 3))}</span><span class="lvl">{e(lvl)}</span></td>'
            f'<td class="n">{fmt_int(m["count"])}<span class="sub">of {fmt_int(m["group_size"])}</span></td>'
            f'<td class="n">{fmt_pct(m["rate_in_group"])}<span class="sub">outside {fmt_pct(m["rate_outside"])}</span></td>'
            f'<td class="n"><b>{fmt_lift(m["lift"])}</b>'
            f'<span class="sub">[{fmt_lift(m["lift_low"])}, {fmt_lift(m["lift_high"])}]</span></td>'
            f'<td class="n">{fmt_p(m["p_value"])}</td>'
            f'<td class="n"><b>{fmt_p(m["q_value"])}</b></td>'
            f'<td>{e(m["family"])}'
            + watch_tag(m["family"], wc)
            + f'<span class="sub">{fmt_int(m["family_size"])} tests</span></td>'
            f'<td><span class="status s-{e(m["status"])}">{e(m["status"])}</span></td>'
            "</tr>"
        )
    table = (
        '<table class="ev"><thead><tr><th>detector</th><th>severity</th><th class="n">count</th>'
        '<th class="n">rate in group</th><th class="n">lift [95% CI]</th><th class="n">p-value</th>'
        '<th class="n">q-value</th><th>family</th><th>status</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )
    more = "".join(
        f'<details class="more" data-detector="{e(members.iloc[j]["detector"])}"><summary>All evidence from '
        f'<code>{e(members.iloc[j]["detector"])}</code></summary>{_detail(members.iloc[j], examples)}</details>'
        for j in range(1, len(members))
    )
    return (
        f'<div class="wide evidence"><h4>Every detector on this pair ({len(members)} findings)</h4>'
        '<p class="muted small">findings.parquet has one row per detector; this row shows the most severe '
        f"and the others are listed here.</p>{table}{more}</div>"
    )


def _detail(r: pd.Series, examples: Examples, members: pd.DataFrame | None = None) -> str:
    """The expandable detail of one finding; with ``members`` (all findings of its (label, group), this
    one first), also every other detector's evidence on the pair."""
    k, n, K = number(r["count"]), number(r["group_size"]), number(r["label_count"])
    N = _universe(r)
    noun, yes, no = _table_words(r)
    if not math.isnan(N):
        c = K - k
        d = N - n - c
        ct = (
            f'<table class="ct"><thead><tr><th>{e(noun)}</th><th class="n">{e(yes)}</th><th class="n">{e(no)}</th>'
            '<th class="n">total</th></tr></thead><tbody>'
            f'<tr><th>in group</th><td class="n hl">{fmt_int(k)}</td><td class="n">{fmt_int(n - k)}</td><td class="n">{fmt_int(n)}</td></tr>'
            f'<tr><th>outside</th><td class="n">{fmt_int(c)}</td><td class="n">{fmt_int(d)}</td><td class="n">{fmt_int(N - n)}</td></tr>'
            f'<tr class="tot"><th>universe</th><td class="n">{fmt_int(K)}</td><td class="n">{fmt_int(N - K)}</td><td class="n">{fmt_int(N)}</td></tr>'
            "</tbody></table>"
        )
    else:
        ct = (
            '<dl class="kv">'
            f"<dt>in group, {e(yes)}</dt><dd>{fmt_int(k)}</dd><dt>group size</dt><dd>{fmt_int(n)}</dd>"
            f"<dt>{e(yes)}, whole universe</dt><dd>{fmt_int(K)}</dd></dl>"
        )

    def ci(lo: float, hi: float, fmt=fmt_pct) -> str:
        return "" if math.isnan(lo) and math.isnan(hi) else f' <span class="ci">[{fmt(lo)}, {fmt(hi)}]</span>'

    lift = number(r["lift"])
    eb05 = number(r["eb05"]) if "eb05" in r.index else math.nan
    ebgm = number(r["ebgm"]) if "ebgm" in r.index else math.nan
    eb = (
        f"<dt>shrunk lift (EBGM)</dt><dd>{fmt_lift(ebgm)}× "
        f'<span class="ci">EB05 {fmt_lift(eb05)}</span></dd>'
        if not (math.isnan(eb05) and math.isnan(ebgm))
        else ""
    )
    rates = (
        '<dl class="kv">'
        f"<dt>rate in group</dt><dd><b>{fmt_pct(r['rate_in_group'])}</b>"
        f"{ci(*_interval(r, 'rate_in_low', 'rate_in_high'))}</dd>"
        f"<dt>rate outside</dt><dd>{fmt_pct(r['rate_outside'])}"
        f"{ci(*_interval(r, 'rate_outside_low', 'rate_outside_high'))}</dd>"
        f"<dt>lift</dt><dd><b>{fmt_lift(lift)}{'' if math.isinf(lift) or math.isnan(lift) else '×'}</b>"
        f"{ci(number(r['lift_low']), number(r['lift_high']), fmt_lift)}</dd>"
        f"{eb}"
        f"<dt>observed / expected</dt><dd>{fmt_int(k)} / {fmt_num(r['expected'])}</dd>"
        '</dl><p class="muted small">Intervals are 95%.</p>'
    )
    wc = r["watch_category"]
    test = (
        '<dl class="kv">'
        f"<dt>p-value</dt><dd>{fmt_p(r['p_value'])}</dd>"
        f"<dt>q-value</dt><dd><b>{fmt_p(r['q_value'])}</b></dd>"
        f"<dt>family</dt><dd>{e(r['family'])}"
        + watch_tag(r["family"], wc, sep=" ·")
        + "</dd>"
        f"<dt>family size</dt><dd>{fmt_int(r['family_size'])} tests</dd>"
        f"<dt>detector</dt><dd><code>{e(r['detector'])}</code></dd>"
        f"<dt>about people</dt><dd>{yes_no(r['about_people'])}</dd>"
        f"<dt>finding id</dt><dd><code>{e(r['finding_id'])}</code></dd>"
        "</dl>"
    )
    detail_text = r["detail"] if "detail" in r.index else None
    detector_note = (
        f'<p class="desc"><span class="muted">{e(r["detector"])}:</span> {e(detail_text)}</p>'
        if not is_missing(detail_text) and str(detail_text)
        else ""
    )
    notes = []
    review_note = r["review_note"] if "review_note" in r.index else None
    if not is_missing(review_note) and str(review_note):
        notes.append(f'<p class="desc"><span class="muted">review:</span> {e(review_note)}</p>')
    expected_reason = r["expected_reason"] if "expected_reason" in r.index else None
    if not is_missing(expected_reason) and str(expected_reason):
        notes.append(f'<p class="desc"><span class="muted">ranked low:</span> {e(expected_reason)}</p>')
    base_rate = r["baseline_rate"] if "baseline_rate" in r.index else None
    if not is_missing(base_rate):
        cq = r["change_q_value"] if "change_q_value" in r.index else None
        cq_text = "" if is_missing(cq) else f" (change q = {e(f'{float(cq):.2g}')})"
        notes.append(
            f'<p class="desc"><span class="muted">baseline:</span> rate in group was {e(f"{float(base_rate):.1%}")}'
            f"{cq_text}</p>"
        )
    group = (
        f'<p><code>{e(r["group"])}</code> <span class="tag">{e(r["group_kind"])}</span></p>'
        f'<p class="desc">{e(r["group_description"]) if not is_missing(r["group_description"]) else "–"}</p>'
        f"{detector_note}{''.join(notes)}"
    )
    return (
        '<div class="detail-grid">'
        f'<div><h4>Counts</h4>{ct}</div>'
        f'<div><h4>Rates and effect</h4>{rates}</div>'
        f'<div><h4>Test</h4>{test}</div>'
        f'<div class="wide"><h4>Group</h4>{group}</div>'
        + (_evidence(members, examples) if members is not None and len(members) > 1 else "")
        + f'<div class="wide"><h4>Examples</h4>{examples.render(as_list(r["examples"]))}</div>'
        "</div>"
    )


def findings_table(shown: pd.DataFrame, by_sev: pd.DataFrame, n_pairs: int, examples: Examples) -> str:
    """One row (tbody) per (label, group) pair of ``shown``; its other findings come from ``by_sev``."""
    head = "".join(
        f'<th class="{cls}" data-key="{key}" data-type="{"num" if num else "text"}"'
        + (' title="rank in findings.parquet"' if key == "rank" else "")
        + f'{" aria-sort=descending" if key == "severity" else ""} scope="col">'
        f'<button type="button" class="sort">{e(label)}<i class="arrow" aria-hidden="true"></i></button></th>'
        for key, label, num, cls in _COLUMNS
    )
    bodies = []
    for i in range(len(shown)):
        r = shown.iloc[i]
        rank = int(r["report_rank"])
        lvl = str(r["severity_level"])
        lvl_cls = known_level(lvl)
        label, label_name = str(r["label"]), str(r["label_name"])
        wc = r["watch_category"]
        family = e(r["family"]) + watch_tag(r["family"], wc)
        members = by_sev.iloc[r["pair_members"]]
        detectors = list(dict.fromkeys(members["detector"].astype(str)))
        search = " ".join(
            str(v) for v in (label, label_name, r["group"], r["group_description"], r["family"], wc, r["status"],
                             *detectors)
            if not is_missing(v)
        ).lower()
        also = also_text(r)
        cells = [
            f'<td class="n muted" data-v="{rank}"><span class="chev" aria-hidden="true"></span>{rank}</td>',
            f'<td data-v="{sort_value(r["severity"])}"><span class="sev l-{lvl_cls}">{e(fmt_num(r["severity"], 3))}</span>'
            f'<span class="lvl">{e(lvl)}</span></td>',
            f'<td class="label" data-v="{e(label_name.lower())}"><span class="name">{e(label_name)}</span>'
            + (f'<span class="sub">{e(label)}</span>' if label != label_name else "")
            + "</td>",
            f'<td class="group" data-v="{e(str(r["group"]).lower())}"><span class="name">{e(r["group"])}</span>'
            f'<span class="sub">{e(r["group_kind"])}</span></td>',
            f'<td data-v="{e(str(r["family"]).lower())}">{family}</td>',
            f'<td class="det" data-v="{e(str(r["detector"]).lower())}"><code>{e(r["detector"])}</code>'
            + (f'<span class="sub also">{e(also)}</span>' if also else "")
            + "</td>",
            f'<td class="n" data-v="{sort_value(r["count"])}">{fmt_int(r["count"])}'
            f'<span class="sub">of {fmt_int(r["group_size"])}</span></td>',
            f'<td class="n" data-v="{sort_value(r["expected"])}">{fmt_num(r["expected"])}</td>',
            f'<td class="n" data-v="{sort_value(r["lift"])}"><b>{fmt_lift(r["lift"])}</b>'
            f'<span class="sub">[{fmt_lift(r["lift_low"])}, {fmt_lift(r["lift_high"])}]</span></td>',
            f'<td class="n" data-v="{sort_value(r["q_value"])}">{fmt_p(r["q_value"])}</td>',
            f'<td data-v="{e(str(r["status"]).lower())}"><span class="status s-{e(r["status"])}">{e(r["status"])}</span></td>',
        ]
        bodies.append(
            f'<tbody class="f" id="f-{rank}" data-rank="{rank}" data-level="{e(lvl)}" '
            f'data-detectors="{e(" ".join(detectors))}" data-search="{e(search)}">'
            f'<tr class="row" aria-expanded="false">{"".join(cells)}</tr>'
            f'<tr class="detail" hidden><td colspan="{len(_COLUMNS)}">{_detail(r, examples, members)}</td></tr></tbody>'
        )
    total = len(by_sev)
    capped = (
        f'<p class="note">Showing the {len(shown):,} most severe of {n_pairs:,} (label, group) pairs; '
        "every finding is in findings.parquet.</p>"
        if n_pairs > len(shown)
        else ""
    )
    what = (
        f'<p class="muted small" id="rows-are">One row per (label, group) pair: {n_pairs:,} pairs from {total:,} '
        "detector findings (rows of findings.parquet). A pair raised by several detectors is shown by its most "
        "severe finding, with the others named under Detector and their evidence in the row's detail. "
        "# is the shown finding's position in findings.parquet (one row per detector finding).</p>"
        if total
        else ""
    )
    if total == 0:
        body = '<p class="no-findings">No (label, group) association passed the multiple-testing control in this run.</p>'
    else:
        level_boxes = "".join(
            f'<label class="lvl-chip"><input type="checkbox" class="lvl-filter" value="{lvl}" checked>'
            f'<i class="dot l-{lvl}"></i>{lvl}</label>'
            for lvl in LEVELS_MOST_SEVERE_FIRST
        )
        body = (
            '<div class="toolbar">'
            '<input type="search" id="filter" placeholder="Filter by label, group, category…" aria-label="Filter findings">'
            f'<span class="levels">{level_boxes}</span>'
            '<span class="spacer"></span>'
            '<button type="button" id="expand-all" class="btn">Expand all</button>'
            '<button type="button" id="collapse-all" class="btn">Collapse all</button>'
            f'<span id="shown-count" class="muted small">{len(shown):,} shown</span>'
            "</div>"
            f'<div class="table-wrap"><table id="findings-table" class="findings"><thead><tr>{head}</tr></thead>'
            f'{"".join(bodies)}</table></div>'
        )
    return f'<section id="findings" class="card"><h2>Findings</h2>{what}{capped}{body}</section>'
