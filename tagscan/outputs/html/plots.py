"""The report's two plots, as inline SVG and an HTML table: the volcano plot and the labels x groups heatmap.

Both show one mark per (label, group) pair, from the pair's most severe finding (the frame ``shown``,
most severe first, with the report's ``report_rank`` and ``also`` columns). An infinite lift or q-value
is drawn on a marked band at the plot's edge; a NaN is left out, with a note saying how many.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tagscan.constants import LEVELS
from tagscan.outputs.format import (
    LEVELS_MOST_SEVERE_FIRST,
    fmt_lift,
    fmt_lift_ci,
    fmt_num,
    fmt_p,
    known_level,
    number,
)
from tagscan.outputs.html.markup import also_text, e, truncate

__all__ = ["heatmap", "severity_colour", "volcano"]

_LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}  # low 0 .. critical 3
_HEAT_LABELS = 20
_HEAT_GROUPS = 15
_SEVERITY_STOPS = ((0.0, (255, 247, 236)), (25.0, (253, 212, 158)), (50.0, (252, 141, 89)),
                   (75.0, (215, 48, 31)), (100.0, (127, 0, 0)))  # fmt: skip


def severity_colour(severity: float) -> tuple[str, bool]:
    """Background colour on a sequential scale for a severity in [0, 100]; True when text must be light."""
    s = 0.0 if math.isnan(severity) else min(max(severity, 0.0), 100.0)
    for (s0, c0), (s1, c1) in zip(_SEVERITY_STOPS, _SEVERITY_STOPS[1:]):
        if s <= s1:
            t = (s - s0) / (s1 - s0)
            rgb = tuple(round(a + (b - a) * t) for a, b in zip(c0, c1))
            break
    else:  # pragma: no cover - s is clipped to 100
        rgb = _SEVERITY_STOPS[-1][1]
    return "#{:02x}{:02x}{:02x}".format(*rgb), s >= 58


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= step * m:
            step *= m
            break
    out, v = [], math.ceil(lo / step) * step
    while v <= hi + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


def _tick_label(v: float) -> str:
    return f"{v:g}".replace("-", "−")


def _lift_tick(log2_lift: float) -> str:
    v = 2.0**log2_lift
    return (f"{v:,.0f}" if v >= 10 else f"{v:.3g}") + "×"


def volcano(shown: pd.DataFrame, fdr: float) -> str:
    """One point per (label, group) pair of ``shown``, placed by the pair's most severe finding."""
    W, H, L, R, T, B = 560, 360, 56, 22, 14, 46
    pw, ph = W - L - R, H - T - B
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = shown["lift"].to_numpy(dtype=np.float64)
        q = shown["q_value"].to_numpy(dtype=np.float64)
        x = np.log2(lift)
        y = -np.log10(q)
    plottable = ~np.isnan(x) & ~np.isnan(y)
    n_left_out = int((~plottable).sum())
    x_inf, y_inf = np.isposinf(x), np.isposinf(y)
    x_neg_inf = np.isneginf(x)
    xf, yf = x[np.isfinite(x) & plottable], y[np.isfinite(y) & plottable]
    x_lo = min(0.0, float(xf.min()) if len(xf) else 0.0)
    x_hi = max(1.0, float(xf.max()) if len(xf) else 1.0)
    pad = 0.06 * (x_hi - x_lo)
    x_lo, x_hi = x_lo - pad, x_hi + pad
    thr = -math.log10(fdr) if 0 < fdr < 1 else math.nan
    y_hi = max(1.0, float(yf.max()) if len(yf) else 1.0, thr if not math.isnan(thr) else 0.0) * 1.06
    band = 18.0  # px reserved for infinite values on the right / top
    has_xband, has_yband = bool((x_inf & plottable).any()), bool((y_inf & plottable).any())
    pw_f = pw - (band if has_xband else 0.0)
    ph_f = ph - (band if has_yband else 0.0)

    def sx(v: float) -> float:
        return L + (v - x_lo) / (x_hi - x_lo) * pw_f

    def sy(v: float) -> float:
        return T + (ph - (v / y_hi) * ph_f)

    parts = [
        f'<svg id="volcano" class="plot" viewBox="0 0 {W} {H}" role="img" '
        'aria-label="Volcano plot: lift (log scale) against minus log10 q-value, one point per (label, group) pair">',
        f'<rect class="frame" x="{L}" y="{T}" width="{pw}" height="{ph}"/>',
    ]
    for t in _ticks(x_lo, x_hi, 6):
        px_ = sx(t)
        parts.append(f'<line class="grid" x1="{px_:.1f}" x2="{px_:.1f}" y1="{T}" y2="{T + ph}"/>')
        parts.append(
            f'<text class="tick" x="{px_:.1f}" y="{T + ph + 15}" text-anchor="middle">{e(_lift_tick(t))}</text>'
        )
    for t in _ticks(0.0, y_hi, 5):
        py = sy(t)
        parts.append(f'<line class="grid" x1="{L}" x2="{L + pw}" y1="{py:.1f}" y2="{py:.1f}"/>')
        parts.append(f'<text class="tick" x="{L - 6}" y="{py + 3.5:.1f}" text-anchor="end">{_tick_label(t)}</text>')
    if has_xband:
        bx = L + pw_f
        parts.append(f'<rect class="band" x="{bx:.1f}" y="{T}" width="{band}" height="{ph}"/>')
        parts.append(f'<text class="tick" x="{bx + band / 2:.1f}" y="{T + ph + 15}" text-anchor="middle">∞</text>')
    if has_yband:
        parts.append(f'<rect class="band" x="{L}" y="{T}" width="{pw}" height="{band}"/>')
        parts.append(f'<text class="tick" x="{L - 6}" y="{T + band / 2 + 3.5:.1f}" text-anchor="end">∞</text>')
    x0 = sx(0.0)
    parts.append(f'<line class="axis0" x1="{x0:.1f}" x2="{x0:.1f}" y1="{T}" y2="{T + ph}"/>')
    if not math.isnan(thr):
        ty = sy(thr)
        parts.append(f'<line class="thr" x1="{L}" x2="{L + pw}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        parts.append(f'<text class="thr-label" x="{L + pw - 4}" y="{ty - 4:.1f}" text-anchor="end">q = {e(fmt_num(fdr))}</text>')
    parts.append(
        f'<text class="axis-label" x="{L + pw / 2}" y="{H - 8}" text-anchor="middle">lift: rate in group ÷ rate outside (log scale)</text>'
        f'<text class="axis-label" transform="translate(14 {T + ph / 2}) rotate(-90)" text-anchor="middle">−log₁₀ q</text>'
    )
    level = shown["severity_level"].astype(str).to_numpy()
    order = sorted(range(len(shown)), key=lambda i: (_LEVEL_RANK.get(level[i], -1), number(shown["severity"].iat[i])))
    rng = np.random.default_rng(0)  # small deterministic jitter on the infinite bands only
    for i in order:
        if not plottable[i]:
            continue
        r = shown.iloc[i]
        xv = L + pw_f + band / 2 + rng.uniform(-4, 4) if x_inf[i] else (L if x_neg_inf[i] else sx(x[i]))
        yv = T + band / 2 + rng.uniform(-4, 4) if y_inf[i] else sy(y[i])
        clipped = " clipped" if (x_inf[i] or y_inf[i] or x_neg_inf[i]) else ""
        lvl = known_level(level[i])
        tip = (
            f"{r['label_name']} × {r['group']}\n"
            f"lift {fmt_lift_ci(r['lift'], r['lift_low'], r['lift_high'])}, "
            f"q {fmt_p(r['q_value'])}\nseverity {fmt_num(r['severity'])} ({level[i]}), {r['family']}\n"
            f"{r['detector']}" + (f"; {also_text(r)}" if also_text(r) else "")
        )
        parts.append(
            f'<circle class="pt l-{lvl}{clipped}" cx="{xv:.1f}" cy="{yv:.1f}" r="4.2" '
            f'data-open="{int(r["report_rank"])}" tabindex="0"><title>{e(tip)}</title></circle>'
        )
    parts.append("</svg>")
    note = (
        f'<p class="muted small">{n_left_out:,} pair(s) with an undefined lift or q-value are not plotted.</p>'
        if n_left_out
        else ""
    )
    legend = "".join(f'<span class="lvl-chip"><i class="dot l-{lvl}"></i>{lvl}</span>' for lvl in LEVELS_MOST_SEVERE_FIRST)
    return (
        '<div class="card plot-card"><h2>Effect and evidence</h2>'
        '<p class="muted small">Each point is a (label, group) pair, placed by its most severe finding (the one '
        "its table row shows); click one to open it. Right: larger lift; up: stronger evidence after "
        "multiple-testing control. Shaded bands hold infinite values.</p>"
        f'{"".join(parts)}<div class="levels">{legend}</div>{note}</div>'
    )


def heatmap(shown: pd.DataFrame) -> str:
    head = '<div class="card plot-card"><h2>Labels × groups</h2>'
    if shown.empty:
        return head + '<p class="muted">No findings.</p></div>'
    best = shown  # one row per (label, group), its most severe finding; most severe first
    labels = list(dict.fromkeys(best["label"].astype(str)))[:_HEAT_LABELS]
    sub = best[best["label"].astype(str).isin(labels)]
    groups = list(dict.fromkeys(sub["group"].astype(str)))[:_HEAT_GROUPS]
    sub = sub[sub["group"].astype(str).isin(groups)]
    cell = {(str(r.label), str(r.group)): r for r in sub.itertuples(index=False)}
    names = dict(zip(best["label"].astype(str), best["label_name"].astype(str)))
    n_labels_all, n_groups_all = best["label"].nunique(), best["group"].nunique()

    ths = "".join(f'<th class="gh" title="{e(g)}"><span>{e(truncate(g, 30))}</span></th>' for g in groups)
    rows = []
    for lab in labels:
        tds = []
        for g in groups:
            r = cell.get((lab, g))
            if r is None:
                tds.append('<td class="hc empty"></td>')
                continue
            bg, light = severity_colour(number(r.severity))
            tip = (
                f"{names[lab]} × {g}\nseverity {fmt_num(r.severity)} ({r.severity_level}), "
                f"lift {fmt_lift_ci(r.lift, r.lift_low, r.lift_high)}, q {fmt_p(r.q_value)}\n"
                f"{r.detector}" + (f"; also: {', '.join(r.also)}" if len(r.also) else "")
            )
            tds.append(
                f'<td class="hc{" light" if light else ""}" style="background:{bg}" data-open="{int(r.report_rank)}" '
                f'tabindex="0" title="{e(tip)}">{e(fmt_lift(r.lift))}</td>'
            )
        label_name = names[lab]
        rows.append(f'<tr><th class="lh" title="{e(label_name)}">{e(truncate(label_name, 34))}</th>{"".join(tds)}</tr>')
    scale = "".join(
        f'<span style="background:{severity_colour(s)[0]}"></span>' for s in range(0, 101, 10)
    )
    caption = (
        f"Top {len(labels)} of {n_labels_all:,} labels × top {len(groups)} of {n_groups_all:,} groups by severity. "
        "One cell per pair, from its most severe finding. Cell colour: severity; number: lift. "
        "Click a cell to open the pair."
    )
    return (
        head + f'<p class="muted small">{e(caption)}</p>'
        f'<div class="heat-wrap"><table id="heatmap" class="heat"><thead><tr><th></th>{ths}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
        f'<div class="scale"><span class="muted small">severity 0</span><span class="ramp">{scale}</span>'
        '<span class="muted small">100</span></div></div>'
    )
