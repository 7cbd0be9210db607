"""The self-contained HTML report of one run. Reads a run's findings; computes no new statistic.

:func:`build_report` turns ``run.json`` (a dict), ``findings.parquet`` (a frame with the columns of
:data:`tagscan.scan.findings.FINDING_COLUMNS`) and, optionally, the samples table into one HTML
document that opens without network: inline CSS, one inline script, inline SVG plots and images as
``data:`` URIs. A Content-Security-Policy in the page forbids every network fetch and every script
but its own (by hash), as a second line of defence behind escaping.

Escaping policy: every string that comes from a run (label names, groups, descriptions, texts,
attribute values, config values) goes through :func:`html.escape` before it lands in markup; JSON
embedded in a ``<script>`` escapes ``<``, ``>``, ``&``, U+2028 and U+2029, so that no value can
close the element.

Undefined numbers: an infinite lift is shown as ``∞`` and plotted on a marked band at the right edge
of the volcano plot, a q-value of 0 on a band at the top; NaN is shown as ``–``, sorts last, and is
left out of the plots (with a note saying how many).

Pairs, not rows: findings.parquet keeps one row per detector, so one (label, group) raised by
several detectors (association, label_family, error_gap, ...) has several rows. Like the terminal
summary (the same :func:`tagscan.render.group_pairs`), the report shows each pair once: one table
row, one volcano point and one heatmap cell, from the pair's most severe finding, with the other
detectors named in the row ("also: ...") and each one's evidence (effect, p and q values, and its full
detail) in the row's expandable detail. The header counts both, under their names: flagged pairs and
detector findings.

Thumbnails are made with Pillow when it is importable (it ships with label-studio-sdk); without it,
or for remote (http/https) images, which are never fetched, examples show a placeholder.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.errors import DataError
from tagscan.render import group_pairs, watch_text

__all__ = ["build_report", "write_report"]

log = logging.getLogger(__name__)

_LEVELS = ("critical", "high", "medium", "low")
_LEVEL_RANK = {name: i for i, name in enumerate(reversed(_LEVELS))}  # low 0 .. critical 3
_EXAMPLES_SHOWN = 8  # per finding
_MAX_THUMBNAILS = 1500  # distinct images embedded per report (keeps the file to a few MB)
_SNIPPET_CHARS = 280
_HEAT_LABELS = 20
_HEAT_GROUPS = 15
_REQUIRED = (
    "finding_id", "detector", "label", "label_name", "group", "group_kind", "group_description", "count",
    "group_size", "label_count", "expected", "rate_in_group", "rate_outside", "lift", "lift_low", "lift_high",
    "p_value", "q_value", "family", "family_size", "severity", "severity_level", "watch_category",
    "about_people", "examples", "status",
)  # fmt: skip


# -- formatting ---------------------------------------------------------------------------------


def _e(value: object) -> str:
    """HTML-escape any value (quotes too, so the result is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: object) -> float:
    """A float, or NaN for anything that is not a number (None, strings, pd.NA)."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return x


def _watch_tag(family, category, sep: str = "") -> str:
    """The watchlist category beside the family, named by :func:`tagscan.render.watch_text`."""
    text = watch_text(family, category)
    return f'{sep} <span class="tag watch">{_e(text)}</span>' if text else ""


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _fmt_int(value: object) -> str:
    x = _num(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{int(round(x)):,}"


def _fmt_num(value: object, digits: int = 3) -> str:
    x = _num(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _fmt_lift(value: object) -> str:
    x = _num(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _fmt_p(value: object) -> str:
    x = _num(value)
    if math.isnan(x):
        return "–"
    if x <= 0:
        return "< 1e-300"
    if x < 1e-3:
        return f"{x:.1e}"
    return f"{x:.3f}"


def _fmt_level(value: object) -> str:
    """A significance level (Tarone's): '–' when there is none (no pair, or a continuous test)."""
    x = _num(value)
    return "–" if math.isnan(x) or x <= 0 else _fmt_p(x)


def _fmt_pct(value: object) -> str:
    x = _num(value)
    if math.isnan(x) or math.isinf(x):
        return "–"
    pct = 100.0 * x
    if pct == 0:
        return "0%"
    if pct >= 10:
        return f"{pct:.1f}%"
    return f"{pct:.2g}%" if pct < 0.1 else f"{pct:.2f}%"


def _sort_value(value: object) -> str:
    """A ``data-v`` attribute for numeric sorting: JS ``Number()`` reads it; '' means missing."""
    x = _num(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def _script_json(obj: object) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>``, ``&``, U+2028 or U+2029 survives raw."""
    text = json.dumps(_jsonable(obj), ensure_ascii=False, allow_nan=False, sort_keys=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _jsonable(obj: object) -> object:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else None)
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _as_list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [str(v) for v in value if not _is_missing(v)]
    return [str(value)]


def _yes_no(value: object) -> str:
    return "–" if _is_missing(value) else ("yes" if bool(value) else "no")


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


# -- colours ------------------------------------------------------------------------------------

_LEVEL_COLOUR = {"critical": "#b42318", "high": "#e8590c", "medium": "#d4a106", "low": "#7c8798"}
_SEVERITY_STOPS = ((0.0, (255, 247, 236)), (25.0, (253, 212, 158)), (50.0, (252, 141, 89)),
                   (75.0, (215, 48, 31)), (100.0, (127, 0, 0)))  # fmt: skip


def _severity_colour(severity: float) -> tuple[str, bool]:
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


# -- examples and thumbnails --------------------------------------------------------------------


class _Examples:
    """Renders the examples of a finding from the samples table; embeds each image once (CSS class)."""

    def __init__(self, samples: pd.DataFrame | None, image_root: Path | None, px: int):
        self.px = px
        self.image_root = Path(image_root) if image_root is not None else None
        self.rows: dict[str, dict] = {}
        self.has_text = self.has_image = False
        if samples is not None and len(samples) and "sample_id" in samples.columns:
            cols = [c for c in ("text", "image") if c in samples.columns]
            self.has_text, self.has_image = "text" in cols, "image" in cols
            frame = samples[["sample_id", *cols]].drop_duplicates("sample_id")
            for rec in frame.to_dict("records"):
                self.rows[str(rec["sample_id"])] = rec
        self.thumb_class: dict[str, str | None] = {}  # sample id -> css class, or None (failed)
        self.thumb_css: list[str] = []
        self.problems: dict[str, int] = {}
        try:
            from PIL import Image  # noqa: F401
        except ImportError:
            self.pil = False
        else:
            self.pil = True
        if self.has_image and not self.pil:
            log.warning("Pillow is not installed: the report shows image examples as placeholders")

    def _thumbnail(self, sid: str, ref: str) -> tuple[str | None, str]:
        """(css class, '') for an embedded thumbnail, or (None, reason)."""
        if sid in self.thumb_class:
            cls = self.thumb_class[sid]
            return cls, "" if cls else "image not embedded"
        low = ref.strip().lower()
        if low.startswith(("http://", "https://")):
            return None, "remote image (not fetched)"
        if not self.pil:
            return None, "image (Pillow not installed)"
        if len(self.thumb_css) >= _MAX_THUMBNAILS:
            self.problems["over the thumbnail budget"] = self.problems.get("over the thumbnail budget", 0) + 1
            return None, "image (thumbnail budget reached)"
        path = Path(ref).expanduser()
        if not path.is_absolute():
            path = (self.image_root or Path.cwd()) / path
        data, reason = _thumbnail_data(path, self.px)
        if data is None:
            self.problems[reason] = self.problems.get(reason, 0) + 1
            self.thumb_class[sid] = None
            return None, reason
        cls = f"th{len(self.thumb_css)}"
        self.thumb_css.append(f'.{cls}{{background-image:url("data:image/jpeg;base64,{data}")}}')
        self.thumb_class[sid] = cls
        return cls, ""

    def render(self, ids: list[str]) -> str:
        if not ids:
            return '<p class="muted">No examples were recorded for this finding.</p>'
        shown, rest = ids[:_EXAMPLES_SHOWN], len(ids) - _EXAMPLES_SHOWN
        cards = []
        for sid in shown:
            rec = self.rows.get(sid)
            parts = []
            if rec is not None and self.has_image and not _is_missing(rec.get("image")):
                cls, reason = self._thumbnail(sid, str(rec["image"]))
                if cls:
                    parts.append(f'<span class="thumb {cls}" role="img" aria-label="{_e("image of " + sid)}"></span>')
                else:
                    parts.append(
                        f'<span class="thumb ph" title="{_e(rec["image"])}">{_e(reason)}</span>'
                    )
            parts.append(f'<span class="sid">{_e(sid)}</span>')
            if rec is not None and self.has_text and not _is_missing(rec.get("text")):
                text = str(rec["text"])
                parts.append(f'<span class="snip" title="{_e(_truncate(text, 2000))}">{_e(_truncate(text, _SNIPPET_CHARS))}</span>')
            elif rec is None and self.rows:
                parts.append('<span class="snip muted">not in the samples table</span>')
            kind = "img" if (rec is not None and self.has_image and not _is_missing(rec.get("image"))) else "txt"
            cards.append(f'<li class="ex {kind}">{"".join(parts)}</li>')
        more = f'<p class="muted">and {rest:,} more in findings.parquet</p>' if rest > 0 else ""
        return f'<ul class="examples">{"".join(cards)}</ul>{more}'


def _thumbnail_data(path: Path, px: int) -> tuple[str | None, str]:
    """Base64 JPEG of the image at ``path`` fitted in px x px, or (None, reason)."""
    from PIL import Image, ImageOps

    if not path.is_file():
        return None, "image file missing"
    try:
        with Image.open(path) as im:
            im.draft("RGB", (2 * px, 2 * px))
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P", "PA"):
                rgba = im.convert("RGBA")
                im = Image.new("RGB", rgba.size, (255, 255, 255))
                im.paste(rgba, mask=rgba.getchannel("A"))
            else:
                im = im.convert("RGB")
            im.thumbnail((px, px))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80, optimize=True)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("report: cannot make a thumbnail of %s: %s", path, exc)
        return None, "unreadable image"
    return base64.b64encode(buf.getvalue()).decode("ascii"), ""


# -- sections -----------------------------------------------------------------------------------


def _untested_text(counts: dict) -> str:
    """Why groups were not tested: '9 below min_group_size 30' (runs before the reasons: 'not tested')."""
    if "groups_untested" not in counts:
        return ""
    reasons = counts.get("groups_untested_by_reason") or {}
    if reasons:
        return "; ".join(f"{_fmt_int(n)} {reason}" for reason, n in reasons.items())
    n = counts.get("groups_untested") or 0
    return f"{_fmt_int(n)} not tested" if n else "none left out"


def _summary(info: dict, by_sev: pd.DataFrame) -> str:
    """The header cards and summary. ``by_sev``: all findings, most severe first (ties by rank).

    Two counts, named apart: detector findings (rows of findings.parquet, one per detector and pair; from
    run.json when it has them) and flagged (label, group) pairs (each counted once, at the level of its
    most severe finding). Resolved rows (gone since the baseline) count in neither.
    """
    counts = info.get("counts") or {}
    cfg = info.get("config") or {}
    fdr = _num((cfg.get("scan") or {}).get("fdr"))
    active = by_sev[by_sev["status"].astype(str) != "resolved"] if len(by_sev) else by_sev
    n_findings = counts.get("findings", len(active))
    by_level = dict(counts.get("findings_by_level") or {})
    if not by_level and len(active):
        by_level = active["severity_level"].astype(str).value_counts().to_dict()
    pair_reps = active.iloc[group_pairs(active)["rep"].to_numpy()] if len(active) else active
    n_pairs = len(pair_reps)
    pair_level = pair_reps["severity_level"].astype(str).value_counts().to_dict() if n_pairs else {}
    at_fdr = f" at FDR {_fmt_num(fdr)}" if not math.isnan(fdr) else ""

    cards = [
        ("Samples", _fmt_int(counts.get("samples")), ""),
        ("Labels", _fmt_int(counts.get("labels")), ""),
        ("Positive predictions", _fmt_int(counts.get("positives")), ""),
        ("Groups tested", _fmt_int(counts.get("groups_tested")),
         _untested_text(counts)),
        ("Non-zero cells", _fmt_int(counts.get("cells_nonzero")), "(label, group) pairs counted"),
        ("Flagged pairs", _fmt_int(n_pairs), f"(label, group) pairs{at_fdr}, each once"),
        ("Detector findings", _fmt_int(n_findings), "one per detector and pair"),
    ]  # fmt: skip
    card_html = "".join(
        f'<div class="stat"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div>'
        f'<div class="s">{_e(s)}</div></div>'
        for k, v, s in cards
    )

    seg, legend = [], []
    for lvl in _LEVELS:
        n = int(pair_level.get(lvl, 0))
        legend.append(
            f'<span class="lvl-chip"><i class="dot l-{lvl}"></i>{_e(lvl)} <b>{n:,}</b></span>'
        )
        if n:
            seg.append(f'<span class="seg l-{lvl}" style="flex-grow:{n}" title="{_e(f"{n:,} {lvl} pairs")}"></span>')
    det_levels = ", ".join(
        f"{int(_num(by_level[lvl])):,} {lvl}" for lvl in _LEVELS if not math.isnan(_num(by_level.get(lvl))) and _num(by_level[lvl])
    )
    levelbar = (
        f'<div class="levelbar">{"".join(seg) if seg else "<span class=empty-bar></span>"}</div>'
        f'<div class="levels" id="pair-levels">{"".join(legend)}</div>'
        '<p class="muted small">Each (label, group) pair at the level of its most severe finding. '
        f'Detector findings: {_e(_fmt_int(n_findings))}{_e(f" ({det_levels})" if det_levels else "")}.</p>'
    )

    fam_rows = []
    for fam in info.get("families") or []:
        fam = fam or {}
        how = []
        if fam.get("alternative") == "less":
            how.append("lower tail")
        if fam.get("correction") and fam.get("correction") != "bh":
            how.append(str(fam["correction"]).upper())
        fam_rows.append(
            "<tr>"
            f'<td>{_e(fam.get("name", "?"))}'
            + (f' <span class="tag">{_e(", ".join(how))}</span>' if how else "")
            + "</td>"
            f'<td class="n">{_e(_fmt_int(fam.get("n_labels")))}</td>'
            f'<td class="n">{_e(_fmt_int(fam.get("n_pairs")))}</td>'
            f'<td class="n">{_e(_fmt_int(fam.get("n_testable")))}</td>'
            f'<td class="n">{_e(_fmt_level(fam.get("tarone_level")))}</td>'
            f'<td class="n"><b>{_e(_fmt_int(fam.get("n_reported", fam.get("n_significant"))))}</b></td>'
            "</tr>"
        )
    families = (
        '<table class="mini"><thead><tr><th>Family</th><th class="n">Labels</th><th class="n">Pairs</th>'
        '<th class="n" title="pairs whose smallest attainable p-value can reach the Tarone level">Testable</th>'
        '<th class="n">Tarone level</th><th class="n">Significant</th></tr></thead>'
        f'<tbody>{"".join(fam_rows)}</tbody></table>'
        if fam_rows
        else '<p class="muted">No test families recorded.</p>'
    )

    det_items = []
    for name, status in (info.get("detectors") or {}).items():
        status = str(status)
        word, _, reason = status.partition(":")
        cls = "ok" if status == "ran" else ("bad" if word == "failed" else "skip")
        det_items.append(
            f'<li><span class="pill {cls}">{_e(word)}</span> <code>{_e(name)}</code>'
            + (f'<div class="why {cls}">{_e(reason.strip())}</div>' if reason.strip() else "")
            + "</li>"
        )
    detectors = f'<ul class="detectors">{"".join(det_items)}</ul>' if det_items else '<p class="muted">–</p>'

    timings = info.get("timings") or {}
    extra = []
    if info.get("baseline"):
        extra.append(
            f'Compared with run <code>{_e(info["baseline"])}</code>: '
            f'{_e(_fmt_int(counts.get("resolved_since_baseline", 0)))} findings resolved since.'
        )
    if "total" in timings:
        extra.append(f"Scan took {_e(_fmt_num(timings.get('total')))} s.")
    return (
        '<section id="summary" class="card">'
        f'<div class="stats">{card_html}</div>'
        '<div class="summary-grid">'
        f'<div><h3>Pairs by severity</h3>{levelbar}</div>'
        f'<div><h3>Test families</h3>{families}</div>'
        f'<div><h3>Detectors</h3>{detectors}</div>'
        "</div>"
        + (f'<p class="muted small">{" ".join(extra)}</p>' if extra else "")
        + "</section>"
    )


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


def _also(r: pd.Series) -> str:
    """'also: error_gap, label_family' for a pair raised by other detectors too, else ''."""
    also = r["also"] if "also" in r.index else []
    return f"also: {', '.join(also)}" if len(also) else ""


def _volcano(shown: pd.DataFrame, fdr: float) -> str:
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
            f'<text class="tick" x="{px_:.1f}" y="{T + ph + 15}" text-anchor="middle">{_e(_lift_tick(t))}</text>'
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
        parts.append(f'<text class="thr-label" x="{L + pw - 4}" y="{ty - 4:.1f}" text-anchor="end">q = {_e(_fmt_num(fdr))}</text>')
    parts.append(
        f'<text class="axis-label" x="{L + pw / 2}" y="{H - 8}" text-anchor="middle">lift: rate in group ÷ rate outside (log scale)</text>'
        f'<text class="axis-label" transform="translate(14 {T + ph / 2}) rotate(-90)" text-anchor="middle">−log₁₀ q</text>'
    )
    level = shown["severity_level"].astype(str).to_numpy()
    order = sorted(range(len(shown)), key=lambda i: (_LEVEL_RANK.get(level[i], -1), _num(shown["severity"].iat[i])))
    rng = np.random.default_rng(0)  # small deterministic jitter on the infinite bands only
    for i in order:
        if not plottable[i]:
            continue
        r = shown.iloc[i]
        xv = L + pw_f + band / 2 + rng.uniform(-4, 4) if x_inf[i] else (L if x_neg_inf[i] else sx(x[i]))
        yv = T + band / 2 + rng.uniform(-4, 4) if y_inf[i] else sy(y[i])
        clipped = " clipped" if (x_inf[i] or y_inf[i] or x_neg_inf[i]) else ""
        lvl = level[i] if level[i] in _LEVEL_COLOUR else "low"
        tip = (
            f"{r['label_name']} × {r['group']}\n"
            f"lift {_fmt_lift(r['lift'])} [{_fmt_lift(r['lift_low'])}, {_fmt_lift(r['lift_high'])}], "
            f"q {_fmt_p(r['q_value'])}\nseverity {_fmt_num(r['severity'])} ({level[i]}), {r['family']}\n"
            f"{r['detector']}" + (f"; {_also(r)}" if _also(r) else "")
        )
        parts.append(
            f'<circle class="pt l-{lvl}{clipped}" cx="{xv:.1f}" cy="{yv:.1f}" r="4.2" '
            f'data-open="{int(r["report_rank"])}" tabindex="0"><title>{_e(tip)}</title></circle>'
        )
    parts.append("</svg>")
    note = (
        f'<p class="muted small">{n_left_out:,} pair(s) with an undefined lift or q-value are not plotted.</p>'
        if n_left_out
        else ""
    )
    legend = "".join(f'<span class="lvl-chip"><i class="dot l-{lvl}"></i>{lvl}</span>' for lvl in _LEVELS)
    return (
        '<div class="card plot-card"><h2>Effect and evidence</h2>'
        '<p class="muted small">Each point is a (label, group) pair, placed by its most severe finding (the one '
        "its table row shows); click one to open it. Right: larger lift; up: stronger evidence after "
        "multiple-testing control. Shaded bands hold infinite values.</p>"
        f'{"".join(parts)}<div class="levels">{legend}</div>{note}</div>'
    )


def _heatmap(shown: pd.DataFrame) -> str:
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

    ths = "".join(f'<th class="gh" title="{_e(g)}"><span>{_e(_truncate(g, 30))}</span></th>' for g in groups)
    rows = []
    for lab in labels:
        tds = []
        for g in groups:
            r = cell.get((lab, g))
            if r is None:
                tds.append('<td class="hc empty"></td>')
                continue
            bg, light = _severity_colour(_num(r.severity))
            tip = (
                f"{names[lab]} × {g}\nseverity {_fmt_num(r.severity)} ({r.severity_level}), "
                f"lift {_fmt_lift(r.lift)} [{_fmt_lift(r.lift_low)}, {_fmt_lift(r.lift_high)}], q {_fmt_p(r.q_value)}\n"
                f"{r.detector}" + (f"; also: {', '.join(r.also)}" if len(r.also) else "")
            )
            tds.append(
                f'<td class="hc{" light" if light else ""}" style="background:{bg}" data-open="{int(r.report_rank)}" '
                f'tabindex="0" title="{_e(tip)}">{_e(_fmt_lift(r.lift))}</td>'
            )
        label_name = names[lab]
        rows.append(f'<tr><th class="lh" title="{_e(label_name)}">{_e(_truncate(label_name, 34))}</th>{"".join(tds)}</tr>')
    scale = "".join(
        f'<span style="background:{_severity_colour(s)[0]}"></span>' for s in range(0, 101, 10)
    )
    caption = (
        f"Top {len(labels)} of {n_labels_all:,} labels × top {len(groups)} of {n_groups_all:,} groups by severity. "
        "One cell per pair, from its most severe finding. Cell colour: severity; number: lift. "
        "Click a cell to open the pair."
    )
    return (
        head + f'<p class="muted small">{_e(caption)}</p>'
        f'<div class="heat-wrap"><table id="heatmap" class="heat"><thead><tr><th></th>{ths}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
        f'<div class="scale"><span class="muted small">severity 0</span><span class="ramp">{scale}</span>'
        '<span class="muted small">100</span></div></div>'
    )


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
    if "universe_size" in r.index and not math.isnan(_num(r["universe_size"])):
        return _num(r["universe_size"])
    k, n, K, E = (_num(r[c]) for c in ("count", "group_size", "label_count", "expected"))
    if any(math.isnan(v) or math.isinf(v) for v in (n, K, E)) or E <= 0:
        return math.nan
    N = round(n * K / E)
    ok = N >= n and N >= K and N - n - K + k >= 0 and abs(n * K / N - E) <= 1e-6 * max(E, 1.0)
    return float(N) if ok else math.nan


def _interval(r: pd.Series, low: str, high: str) -> tuple[float, float]:
    """An interval from two optional columns of the findings (NaN when a run did not record it)."""
    if low in r.index and high in r.index:
        return _num(r[low]), _num(r[high])
    return math.nan, math.nan


# Names of the 2x2 cells per detector: (row noun, counted column, other column).
_TABLE_WORDS = {
    "fpr": ("negatives", "false positive", "not predicted"),
    "tpr": ("true positives", "missed", "found"),
    "default": ("samples", "with label", "without"),
}


def _table_words(r: pd.Series) -> tuple[str, str, str]:
    if str(r["detector"]) == "error_gap":
        detail = str(r["detail"]) if "detail" in r.index and not _is_missing(r["detail"]) else ""
        return _TABLE_WORDS["tpr" if detail.startswith("TPR") else "fpr"]
    return _TABLE_WORDS["default"]


def _evidence(members: pd.DataFrame, examples: _Examples) -> str:
    """Every detector's finding on one (label, group): a table of effects and p/q values (the shown
    finding first, marked), then each other finding's full detail behind a disclosure."""
    rows = []
    for j in range(len(members)):
        m = members.iloc[j]
        lvl = str(m["severity_level"])
        lvl_cls = lvl if lvl in _LEVEL_COLOUR else "low"
        note = m["detail"] if "detail" in m.index else None
        wc = m["watch_category"]
        rows.append(
            f'<tr class="{"rep" if j == 0 else "other"}" data-detector="{_e(m["detector"])}">'
            f'<td><code>{_e(m["detector"])}</code>' + (' <span class="tag">shown above</span>' if j == 0 else "")
            + (f'<span class="sub">{_e(note)}</span>' if not _is_missing(note) and str(note) else "") + "</td>"
            f'<td><span class="sev l-{lvl_cls}">{_e(_fmt_num(m["severity"], 3))}</span><span class="lvl">{_e(lvl)}</span></td>'
            f'<td class="n">{_fmt_int(m["count"])}<span class="sub">of {_fmt_int(m["group_size"])}</span></td>'
            f'<td class="n">{_fmt_pct(m["rate_in_group"])}<span class="sub">outside {_fmt_pct(m["rate_outside"])}</span></td>'
            f'<td class="n"><b>{_fmt_lift(m["lift"])}</b>'
            f'<span class="sub">[{_fmt_lift(m["lift_low"])}, {_fmt_lift(m["lift_high"])}]</span></td>'
            f'<td class="n">{_fmt_p(m["p_value"])}</td>'
            f'<td class="n"><b>{_fmt_p(m["q_value"])}</b></td>'
            f'<td>{_e(m["family"])}'
            + _watch_tag(m["family"], wc)
            + f'<span class="sub">{_fmt_int(m["family_size"])} tests</span></td>'
            f'<td><span class="status s-{_e(m["status"])}">{_e(m["status"])}</span></td>'
            "</tr>"
        )
    table = (
        '<table class="ev"><thead><tr><th>detector</th><th>severity</th><th class="n">count</th>'
        '<th class="n">rate in group</th><th class="n">lift [95% CI]</th><th class="n">p-value</th>'
        '<th class="n">q-value</th><th>family</th><th>status</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )
    more = "".join(
        f'<details class="more" data-detector="{_e(members.iloc[j]["detector"])}"><summary>All evidence from '
        f'<code>{_e(members.iloc[j]["detector"])}</code></summary>{_detail(members.iloc[j], examples)}</details>'
        for j in range(1, len(members))
    )
    return (
        f'<div class="wide evidence"><h4>Every detector on this pair ({len(members)} findings)</h4>'
        '<p class="muted small">findings.parquet has one row per detector; this row shows the most severe '
        f"and the others are listed here.</p>{table}{more}</div>"
    )


def _detail(r: pd.Series, examples: _Examples, members: pd.DataFrame | None = None) -> str:
    """The expandable detail of one finding; with ``members`` (all findings of its (label, group), this
    one first), also every other detector's evidence on the pair."""
    k, n, K = _num(r["count"]), _num(r["group_size"]), _num(r["label_count"])
    N = _universe(r)
    noun, yes, no = _table_words(r)
    if not math.isnan(N):
        c = K - k
        d = N - n - c
        ct = (
            f'<table class="ct"><thead><tr><th>{_e(noun)}</th><th class="n">{_e(yes)}</th><th class="n">{_e(no)}</th>'
            '<th class="n">total</th></tr></thead><tbody>'
            f'<tr><th>in group</th><td class="n hl">{_fmt_int(k)}</td><td class="n">{_fmt_int(n - k)}</td><td class="n">{_fmt_int(n)}</td></tr>'
            f'<tr><th>outside</th><td class="n">{_fmt_int(c)}</td><td class="n">{_fmt_int(d)}</td><td class="n">{_fmt_int(N - n)}</td></tr>'
            f'<tr class="tot"><th>universe</th><td class="n">{_fmt_int(K)}</td><td class="n">{_fmt_int(N - K)}</td><td class="n">{_fmt_int(N)}</td></tr>'
            "</tbody></table>"
        )
    else:
        ct = (
            '<dl class="kv">'
            f"<dt>in group, {_e(yes)}</dt><dd>{_fmt_int(k)}</dd><dt>group size</dt><dd>{_fmt_int(n)}</dd>"
            f"<dt>{_e(yes)}, whole universe</dt><dd>{_fmt_int(K)}</dd></dl>"
        )

    def ci(lo: float, hi: float, fmt=_fmt_pct) -> str:
        return "" if math.isnan(lo) and math.isnan(hi) else f' <span class="ci">[{fmt(lo)}, {fmt(hi)}]</span>'

    lift = _num(r["lift"])
    eb05 = _num(r["eb05"]) if "eb05" in r.index else math.nan
    ebgm = _num(r["ebgm"]) if "ebgm" in r.index else math.nan
    eb = (
        f"<dt>shrunk lift (EBGM)</dt><dd>{_fmt_lift(ebgm)}× "
        f'<span class="ci">EB05 {_fmt_lift(eb05)}</span></dd>'
        if not (math.isnan(eb05) and math.isnan(ebgm))
        else ""
    )
    rates = (
        '<dl class="kv">'
        f"<dt>rate in group</dt><dd><b>{_fmt_pct(r['rate_in_group'])}</b>"
        f"{ci(*_interval(r, 'rate_in_low', 'rate_in_high'))}</dd>"
        f"<dt>rate outside</dt><dd>{_fmt_pct(r['rate_outside'])}"
        f"{ci(*_interval(r, 'rate_outside_low', 'rate_outside_high'))}</dd>"
        f"<dt>lift</dt><dd><b>{_fmt_lift(lift)}{'' if math.isinf(lift) or math.isnan(lift) else '×'}</b>"
        f"{ci(_num(r['lift_low']), _num(r['lift_high']), _fmt_lift)}</dd>"
        f"{eb}"
        f"<dt>observed / expected</dt><dd>{_fmt_int(k)} / {_fmt_num(r['expected'])}</dd>"
        '</dl><p class="muted small">Intervals are 95%.</p>'
    )
    wc = r["watch_category"]
    test = (
        '<dl class="kv">'
        f"<dt>p-value</dt><dd>{_fmt_p(r['p_value'])}</dd>"
        f"<dt>q-value</dt><dd><b>{_fmt_p(r['q_value'])}</b></dd>"
        f"<dt>family</dt><dd>{_e(r['family'])}"
        + _watch_tag(r["family"], wc, sep=" ·")
        + "</dd>"
        f"<dt>family size</dt><dd>{_fmt_int(r['family_size'])} tests</dd>"
        f"<dt>detector</dt><dd><code>{_e(r['detector'])}</code></dd>"
        f"<dt>about people</dt><dd>{_yes_no(r['about_people'])}</dd>"
        f"<dt>finding id</dt><dd><code>{_e(r['finding_id'])}</code></dd>"
        "</dl>"
    )
    detail_text = r["detail"] if "detail" in r.index else None
    detector_note = (
        f'<p class="desc"><span class="muted">{_e(r["detector"])}:</span> {_e(detail_text)}</p>'
        if not _is_missing(detail_text) and str(detail_text)
        else ""
    )
    notes = []
    review_note = r["review_note"] if "review_note" in r.index else None
    if not _is_missing(review_note) and str(review_note):
        notes.append(f'<p class="desc"><span class="muted">review:</span> {_e(review_note)}</p>')
    base_rate = r["baseline_rate"] if "baseline_rate" in r.index else None
    if not _is_missing(base_rate):
        cq = r["change_q_value"] if "change_q_value" in r.index else None
        cq_text = "" if _is_missing(cq) else f" (change q = {_e(f'{float(cq):.2g}')})"
        notes.append(
            f'<p class="desc"><span class="muted">baseline:</span> rate in group was {_e(f"{float(base_rate):.1%}")}'
            f"{cq_text}</p>"
        )
    group = (
        f'<p><code>{_e(r["group"])}</code> <span class="tag">{_e(r["group_kind"])}</span></p>'
        f'<p class="desc">{_e(r["group_description"]) if not _is_missing(r["group_description"]) else "–"}</p>'
        f"{detector_note}{''.join(notes)}"
    )
    return (
        '<div class="detail-grid">'
        f'<div><h4>Counts</h4>{ct}</div>'
        f'<div><h4>Rates and effect</h4>{rates}</div>'
        f'<div><h4>Test</h4>{test}</div>'
        f'<div class="wide"><h4>Group</h4>{group}</div>'
        + (_evidence(members, examples) if members is not None and len(members) > 1 else "")
        + f'<div class="wide"><h4>Examples</h4>{examples.render(_as_list(r["examples"]))}</div>'
        "</div>"
    )


def _findings_table(shown: pd.DataFrame, by_sev: pd.DataFrame, n_pairs: int, examples: _Examples) -> str:
    """One row (tbody) per (label, group) pair of ``shown``; its other findings come from ``by_sev``."""
    head = "".join(
        f'<th class="{cls}" data-key="{key}" data-type="{"num" if num else "text"}"'
        + (' title="rank in findings.parquet"' if key == "rank" else "")
        + f'{" aria-sort=descending" if key == "severity" else ""} scope="col">'
        f'<button type="button" class="sort">{_e(label)}<i class="arrow" aria-hidden="true"></i></button></th>'
        for key, label, num, cls in _COLUMNS
    )
    bodies = []
    for i in range(len(shown)):
        r = shown.iloc[i]
        rank = int(r["report_rank"])
        lvl = str(r["severity_level"])
        lvl_cls = lvl if lvl in _LEVEL_COLOUR else "low"
        label, label_name = str(r["label"]), str(r["label_name"])
        wc = r["watch_category"]
        family = _e(r["family"]) + _watch_tag(r["family"], wc)
        members = by_sev.iloc[r["pair_members"]]
        detectors = list(dict.fromkeys(members["detector"].astype(str)))
        search = " ".join(
            str(v) for v in (label, label_name, r["group"], r["group_description"], r["family"], wc, r["status"],
                             *detectors)
            if not _is_missing(v)
        ).lower()
        also = _also(r)
        cells = [
            f'<td class="n muted" data-v="{rank}"><span class="chev" aria-hidden="true"></span>{rank}</td>',
            f'<td data-v="{_sort_value(r["severity"])}"><span class="sev l-{lvl_cls}">{_e(_fmt_num(r["severity"], 3))}</span>'
            f'<span class="lvl">{_e(lvl)}</span></td>',
            f'<td class="label" data-v="{_e(label_name.lower())}"><span class="name">{_e(label_name)}</span>'
            + (f'<span class="sub">{_e(label)}</span>' if label != label_name else "")
            + "</td>",
            f'<td class="group" data-v="{_e(str(r["group"]).lower())}"><span class="name">{_e(r["group"])}</span>'
            f'<span class="sub">{_e(r["group_kind"])}</span></td>',
            f'<td data-v="{_e(str(r["family"]).lower())}">{family}</td>',
            f'<td class="det" data-v="{_e(str(r["detector"]).lower())}"><code>{_e(r["detector"])}</code>'
            + (f'<span class="sub also">{_e(also)}</span>' if also else "")
            + "</td>",
            f'<td class="n" data-v="{_sort_value(r["count"])}">{_fmt_int(r["count"])}'
            f'<span class="sub">of {_fmt_int(r["group_size"])}</span></td>',
            f'<td class="n" data-v="{_sort_value(r["expected"])}">{_fmt_num(r["expected"])}</td>',
            f'<td class="n" data-v="{_sort_value(r["lift"])}"><b>{_fmt_lift(r["lift"])}</b>'
            f'<span class="sub">[{_fmt_lift(r["lift_low"])}, {_fmt_lift(r["lift_high"])}]</span></td>',
            f'<td class="n" data-v="{_sort_value(r["q_value"])}">{_fmt_p(r["q_value"])}</td>',
            f'<td data-v="{_e(str(r["status"]).lower())}"><span class="status s-{_e(r["status"])}">{_e(r["status"])}</span></td>',
        ]
        bodies.append(
            f'<tbody class="f" id="f-{rank}" data-rank="{rank}" data-level="{_e(lvl)}" '
            f'data-detectors="{_e(" ".join(detectors))}" data-search="{_e(search)}">'
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
        "# is the shown finding's rank in findings.parquet.</p>"
        if total
        else ""
    )
    if total == 0:
        body = '<p class="no-findings">No (label, group) association passed the multiple-testing control in this run.</p>'
    else:
        level_boxes = "".join(
            f'<label class="lvl-chip"><input type="checkbox" class="lvl-filter" value="{lvl}" checked>'
            f'<i class="dot l-{lvl}"></i>{lvl}</label>'
            for lvl in _LEVELS
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


# -- page ---------------------------------------------------------------------------------------

_CSS = """
:root{--fg:#1d2433;--muted:#5d6779;--line:#e3e7ee;--bg:#f5f7fa;--card:#fff;--accent:#2f5bd3;
--critical:#b42318;--high:#e8590c;--medium:#d4a106;--low:#7c8798}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans",sans-serif;font-variant-numeric:tabular-nums}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;overflow-wrap:anywhere}
header.top{background:#18202f;color:#eef1f6;padding:18px 28px 16px}
header.top .brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#9aa6bd}
header.top h1{margin:2px 0 4px;font-size:22px;font-weight:650;overflow-wrap:anywhere}
header.top .meta{font-size:13px;color:#c3cad8}
header.top .meta span+span::before{content:"·";margin:0 8px;color:#6d7890}
main{max-width:1440px;margin:0 auto;padding:20px 28px 40px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin-bottom:18px;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
h2{font-size:16px;margin:0 0 6px}h3{font-size:13px;margin:0 0 8px;color:var(--muted);font-weight:600}
h4{font-size:12px;margin:0 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;font-weight:600}
.muted{color:var(--muted)}.small{font-size:12.5px}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:18px}
.stat{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.stat .k{font-size:12px;color:var(--muted)}.stat .v{font-size:22px;font-weight:650;margin-top:2px}
.stat .s{font-size:12px;color:var(--muted);min-height:1em}
.summary-grid{display:grid;grid-template-columns:minmax(240px,1fr) minmax(380px,1.6fr) minmax(220px,1fr);gap:24px}
@media (max-width:1000px){.summary-grid{grid-template-columns:1fr}}
.levelbar{display:flex;height:12px;border-radius:6px;overflow:hidden;background:#eef1f5;margin:4px 0 10px}
.levelbar .seg{display:block;min-width:3px}
.levels{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center}
.lvl-chip{display:inline-flex;align-items:center;gap:5px;font-size:12.5px;white-space:nowrap}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%}
.l-critical{background:var(--critical);fill:var(--critical)}.l-high{background:var(--high);fill:var(--high)}
.l-medium{background:var(--medium);fill:var(--medium)}.l-low{background:var(--low);fill:var(--low)}
table.mini{border-collapse:collapse;width:100%;font-size:13px}
table.mini th,table.mini td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left}
table.mini th{font-weight:600;color:var(--muted);font-size:12px}
.n{text-align:right!important}
ul.detectors{list-style:none;margin:0;padding:0}ul.detectors li{margin:0 0 7px;overflow-wrap:anywhere}
ul.detectors .why{font-size:12px;color:var(--muted);margin:1px 0 0 2px}ul.detectors .why.bad{color:#b42318}
.pill{display:inline-block;font-size:11.5px;padding:1px 8px;border-radius:999px;border:1px solid}
.pill.ok{color:#146c43;background:#e8f6ee;border-color:#bfe5cf}.pill.skip{color:#5d6779;background:#f1f3f6;border-color:#dde2ea}
.pill.bad{color:#b42318;background:#fdecea;border-color:#f5c2bd}
.plots{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.15fr);gap:18px;align-items:start}
@media (max-width:1100px){.plots{grid-template-columns:1fr}}
.plot-card{margin-bottom:18px}
svg.plot{width:100%;height:auto;display:block;margin:6px 0 8px;font-size:11px}
svg .frame{fill:#fff;stroke:var(--line)}svg .grid{stroke:#eef1f5}svg .band{fill:#f3f4f7}
svg .tick{fill:var(--muted)}svg .axis-label{fill:var(--fg);font-size:12px}
svg .axis0{stroke:#9aa3b2;stroke-width:1}svg .thr{stroke:#2f5bd3;stroke-dasharray:4 3;stroke-width:1}
svg .thr-label{fill:#2f5bd3;font-size:11px}
svg .pt{stroke:#fff;stroke-width:.8;fill-opacity:.85;cursor:pointer}
svg .pt:hover,svg .pt:focus{stroke:#111;stroke-width:1.6;fill-opacity:1;outline:none}
svg .pt.clipped{stroke:#111;stroke-dasharray:2 1.5}
.heat-wrap{overflow-x:auto}
table.heat{border-collapse:separate;border-spacing:2px;font-size:11.5px}
table.heat th.gh{height:150px;vertical-align:bottom;padding:0 0 4px;font-weight:500;color:var(--muted);white-space:nowrap}
table.heat th.gh span{writing-mode:vertical-rl;transform:rotate(180deg);display:inline-block;max-height:150px;
overflow:hidden;text-overflow:ellipsis}
table.heat th.lh{text-align:right;font-weight:500;padding-right:8px;white-space:nowrap;max-width:230px;overflow:hidden;
text-overflow:ellipsis}
table.heat td.hc{width:34px;min-width:34px;height:24px;text-align:center;border-radius:3px;cursor:pointer;color:#3a2a1a}
table.heat td.hc.light{color:#fff}table.heat td.hc.empty{background:#f4f6f9;cursor:default}
table.heat td.hc:not(.empty):hover,table.heat td.hc:focus{outline:2px solid #111;outline-offset:-1px}
.scale{display:flex;align-items:center;gap:8px;margin-top:10px}.ramp{display:inline-flex}
.ramp span{width:16px;height:10px;display:inline-block}
.toolbar{display:flex;flex-wrap:wrap;align-items:center;gap:10px 16px;margin:10px 0 12px}
.toolbar input[type=search]{width:300px;max-width:100%;padding:6px 10px;border:1px solid #cdd3dd;border-radius:6px;font:inherit}
.toolbar input[type=search]:focus{outline:2px solid #c7d5fb;border-color:var(--accent)}
.toolbar .spacer{flex:1}
.btn{font:inherit;font-size:12.5px;background:#fff;border:1px solid #cdd3dd;border-radius:6px;padding:4px 10px;cursor:pointer}
.btn:hover{background:#f3f5f9}
.table-wrap{border:1px solid var(--line);border-radius:8px}
@media (max-width:1100px){.table-wrap{overflow-x:auto}}
table.findings{border-collapse:collapse;width:100%;font-size:13px}
table.findings thead th{position:sticky;top:0;background:#f8f9fb;border-bottom:1px solid var(--line);padding:0;
text-align:left;z-index:1;white-space:nowrap}
table.findings th button.sort{all:unset;box-sizing:border-box;display:block;width:100%;padding:9px 10px;cursor:pointer;
font-weight:600;font-size:12px;color:var(--muted)}
table.findings th.n button.sort{text-align:right}
table.findings th button.sort:hover{color:var(--fg);background:#eef1f6}
table.findings th button.sort:focus-visible{outline:2px solid var(--accent);outline-offset:-2px}
table.findings th .arrow{display:inline-block;width:10px;margin-left:4px;font-style:normal}
table.findings th[aria-sort=descending]{color:var(--fg)}
table.findings th[aria-sort=descending] .arrow::after{content:"▼";font-size:9px}
table.findings th[aria-sort=ascending] .arrow::after{content:"▲";font-size:9px}
table.findings th[aria-sort] button.sort{color:var(--fg)}
table.findings td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
table.findings tr.row{cursor:pointer}table.findings tr.row:hover td{background:#f7f9fd}
table.findings tr.row[aria-expanded=true] td{background:#f1f5ff;border-bottom-color:transparent}
table.findings td .sub{display:block;font-size:11.5px;color:var(--muted);overflow-wrap:anywhere}
table.findings td.label .name{font-weight:600;overflow-wrap:anywhere}
table.findings td.label,table.findings td.group{max-width:300px}
table.findings td.group .name{overflow-wrap:anywhere}
table.findings td .sub.also{color:#1f47b3}
table.ev{border-collapse:collapse;font-size:12.5px;margin:4px 0 8px}
table.ev th,table.ev td{padding:4px 14px 4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
table.ev th{font-weight:500;color:var(--muted)}table.ev tr.rep td{background:#f1f5ff}
table.ev td .sub{display:block;font-size:11.5px;color:var(--muted);overflow-wrap:anywhere}
details.more{margin:6px 0;border:1px solid var(--line);border-radius:6px;padding:6px 10px;background:#fff}
details.more>summary{cursor:pointer;font-size:12.5px;color:var(--accent)}
details.more[open]>summary{margin-bottom:10px}
.chev{display:inline-block;width:12px;color:#9aa3b2}.chev::before{content:"▸"}
tr.row[aria-expanded=true] .chev::before{content:"▾"}
.sev{display:inline-block;min-width:38px;text-align:center;color:#fff;font-weight:650;border-radius:5px;padding:1px 6px;
margin-right:6px}
.sev.l-medium{color:#2d2300}
.lvl{font-size:12px;color:var(--muted)}
.tag{display:inline-block;font-size:11.5px;padding:0 6px;border-radius:4px;background:#eef1f6;color:#3b4559}
.tag.watch{background:#fdecea;color:#9a1c13}
.status{font-size:12px;padding:1px 7px;border-radius:999px;background:#eef1f6;color:#3b4559}
.status.s-new{background:#e7efff;color:#1f47b3}.status.s-regressed{background:#fdecea;color:#b42318}
.status.s-confirmed{background:#fdecea;color:#b42318}.status.s-resolved,.status.s-dismissed{background:#eaf6ef;color:#146c43}
tr.detail>td{background:#fbfcfe;padding:14px 16px 18px;border-bottom:2px solid #d9e1f2}
.detail-grid{display:grid;grid-template-columns:repeat(3,minmax(220px,1fr));gap:16px 28px}
.detail-grid .wide{grid-column:1/-1}
@media (max-width:900px){.detail-grid{grid-template-columns:1fr}}
table.ct{border-collapse:collapse;font-size:12.5px}
table.ct th,table.ct td{padding:3px 10px;border-bottom:1px solid var(--line)}
table.ct th{font-weight:500;color:var(--muted);text-align:left}
table.ct td.hl{font-weight:700;background:#fff3e8}table.ct tr.tot td,table.ct tr.tot th{border-bottom:0;color:var(--muted)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0;font-size:13px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;overflow-wrap:anywhere}
.ci{color:var(--muted)}
p.desc{margin:4px 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
ul.examples{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,240px));gap:8px}
ul.examples li.ex{border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff;display:flex;flex-direction:column;gap:4px}
ul.examples li.ex.img{align-items:flex-start}
.thumb{display:inline-flex;align-items:center;justify-content:center;width:var(--thumb);height:var(--thumb);
background:#eef1f5 center/contain no-repeat;border-radius:4px}
.thumb.ph{font-size:10.5px;color:var(--muted);text-align:center;padding:4px;border:1px dashed #cdd3dd}
.sid{font:11.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);overflow-wrap:anywhere}
.snip{font-size:12.5px;overflow-wrap:anywhere;white-space:pre-wrap}
.note{background:#fff8e6;border:1px solid #f1dfae;border-radius:6px;padding:6px 10px;font-size:13px}
.no-findings{padding:28px;text-align:center;color:var(--muted);border:1px dashed #cdd3dd;border-radius:8px}
tbody.f.flash tr.row td{animation:flash 1.6s ease-out}
@keyframes flash{0%{background:#ffe9a8}100%{background:transparent}}
footer{max-width:1440px;margin:0 auto;padding:0 28px 30px;color:var(--muted);font-size:12px}
@media print{header.top{background:#fff;color:#000}.toolbar{display:none}table.findings thead th{position:static}}
"""

_JS = r"""
(function () {
  "use strict";
  var table = document.getElementById("findings-table");
  if (!table) { return; }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function bodies() { return Array.prototype.slice.call(table.tBodies); }

  function key(body, idx, numeric) {
    var cell = body.rows[0].cells[idx];
    var v = cell.getAttribute("data-v");
    if (!numeric) { return (v === null ? cell.textContent : v); }
    if (v === null || v === "") { return null; }
    var x = Number(v);
    return isNaN(x) ? null : x;
  }

  function sortBy(idx, dir) {
    var numeric = heads[idx].getAttribute("data-type") === "num";
    var sign = dir === "ascending" ? 1 : -1;
    var items = bodies().map(function (b) {
      return { b: b, v: key(b, idx, numeric), r: Number(b.getAttribute("data-rank")) };
    });
    items.sort(function (p, q) {
      if (p.v === null || q.v === null) {
        if (p.v === q.v) { return p.r - q.r; }
        return p.v === null ? 1 : -1;  // missing values last in either direction
      }
      var c = numeric ? (p.v < q.v ? -1 : (p.v > q.v ? 1 : 0)) : p.v.localeCompare(q.v);
      return c !== 0 ? sign * c : p.r - q.r;
    });
    var frag = document.createDocumentFragment();
    items.forEach(function (it) { frag.appendChild(it.b); });
    table.appendChild(frag);
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    heads[idx].setAttribute("aria-sort", dir);
  }

  heads.forEach(function (th, idx) {
    var btn = th.querySelector("button.sort");
    if (!btn) { return; }
    btn.addEventListener("click", function () {
      var cur = th.getAttribute("aria-sort");
      var first = th.getAttribute("data-type") === "num" && th.getAttribute("data-key") !== "rank"
        ? "descending" : "ascending";
      var dir = cur ? (cur === "descending" ? "ascending" : "descending") : first;
      sortBy(idx, dir);
    });
  });

  function setOpen(body, open) {
    var row = body.rows[0], detail = body.rows[1];
    if (!detail) { return; }
    detail.hidden = !open;
    row.setAttribute("aria-expanded", open ? "true" : "false");
  }

  table.addEventListener("click", function (ev) {
    var row = ev.target.closest("tr.row");
    if (!row || !table.contains(row)) { return; }
    if (window.getSelection && String(window.getSelection()).length > 0) { return; }
    setOpen(row.parentNode, row.getAttribute("aria-expanded") !== "true");
  });

  var filter = document.getElementById("filter");
  var levelBoxes = Array.prototype.slice.call(document.querySelectorAll("input.lvl-filter"));
  var counter = document.getElementById("shown-count");
  function applyFilter() {
    var text = (filter && filter.value || "").trim().toLowerCase();
    var levels = {};
    levelBoxes.forEach(function (b) { levels[b.value] = b.checked; });
    var n = 0;
    bodies().forEach(function (b) {
      var lvl = b.getAttribute("data-level");
      var okLevel = !(lvl in levels) || levels[lvl];
      var ok = okLevel && (!text || b.getAttribute("data-search").indexOf(text) !== -1);
      b.hidden = !ok;
      if (ok) { n += 1; }
    });
    if (counter) { counter.textContent = n.toLocaleString() + " shown"; }
  }
  if (filter) { filter.addEventListener("input", applyFilter); }
  levelBoxes.forEach(function (b) { b.addEventListener("change", applyFilter); });

  function all(open) { bodies().forEach(function (b) { if (!b.hidden) { setOpen(b, open); } }); }
  var ea = document.getElementById("expand-all"), ca = document.getElementById("collapse-all");
  if (ea) { ea.addEventListener("click", function () { all(true); }); }
  if (ca) { ca.addEventListener("click", function () { all(false); }); }

  function openFinding(rank) {
    var body = document.getElementById("f-" + rank);
    if (!body) { return; }
    if (body.hidden) {
      if (filter) { filter.value = ""; }
      levelBoxes.forEach(function (b) { b.checked = true; });
      applyFilter();
    }
    setOpen(body, true);
    body.scrollIntoView({ block: "center", behavior: "smooth" });
    body.classList.remove("flash");
    void body.offsetWidth;
    body.classList.add("flash");
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-open]"), function (el) {
    var rank = el.getAttribute("data-open");
    el.addEventListener("click", function () { openFinding(rank); });
    el.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openFinding(rank); }
    });
  });
})();
"""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tagscan")
    except Exception:  # noqa: BLE001 - the version is decoration only
        return ""


def _check_findings(findings: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(findings, pd.DataFrame):
        raise TypeError(f"findings must be a pandas DataFrame; found {type(findings).__name__}")
    if len(findings) == 0:
        return pd.DataFrame(columns=list(_REQUIRED))
    missing = [c for c in _REQUIRED if c not in findings.columns]
    if missing:
        raise DataError(
            f"findings table: missing column(s) {', '.join(missing)}; a report needs the columns of "
            "tagscan.scan.findings.FINDING_COLUMNS (a findings.parquet written by 'tagscan scan')"
        )
    return findings


def _check_int(name: str, value: object, lo: int, hi: int | None, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (hi is not None and value > hi):
        rule = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be an int {rule}; found {value!r}; pass an int {rule}, e.g. {name}={example}")
    return int(value)


def build_report(
    info: dict,
    findings: pd.DataFrame,
    *,
    samples: pd.DataFrame | None = None,
    image_root: Path | None = None,
    max_findings: int = 500,
    thumbnail_px: int = 96,
) -> str:
    """Render one run as a self-contained HTML document (a str).

    Parameters
    ----------
    info:
        The run's ``run.json`` as a dict (keys written by :func:`tagscan.pipeline.run_scan`); missing
        keys are shown as ``–``.
    findings:
        The run's findings (``findings.parquet``, one row per detector and pair); grouped here by
        (label, group) with :func:`tagscan.render.group_pairs`, most severe first.
    samples:
        Optional samples table (``sample_id`` plus ``text`` and/or ``image``) for the examples.
    image_root:
        Folder that relative ``image`` paths are relative to (the samples table's folder); default:
        the current directory. Remote (http/https) images are never fetched.
    max_findings:
        At most this many (label, group) pairs (the most severe) go into the table and the plots; a
        note says how many were left out. Each pair is one row and one point, shown by its most
        severe finding; the other detectors' findings on it are in the row's detail.
    thumbnail_px:
        Longest side of the embedded example thumbnails, in pixels (16 to 512).
    """
    max_findings = _check_int("max_findings", max_findings, 0, None, 500)
    thumbnail_px = _check_int("thumbnail_px", thumbnail_px, 16, 512, 96)
    if not isinstance(info, dict):
        raise TypeError(f"info must be the run.json dict; found {type(info).__name__}")
    findings = _check_findings(findings)
    total = len(findings)
    # "#" is the rank in the findings table (the scan's order, as in the terminal and the catalogue);
    # the report shows the most severe first, ties in that order.
    ranked = findings.reset_index(drop=True).assign(report_rank=np.arange(1, total + 1))
    ranked["label_name"] = ranked["label_name"].where(ranked["label_name"].notna(), ranked["label"])  # policy: no name
    sev = pd.to_numeric(ranked["severity"], errors="coerce")
    order = np.argsort(-sev.fillna(-np.inf).to_numpy(dtype=np.float64), kind="stable")
    by_sev = ranked.iloc[order].reset_index(drop=True)
    # One row (and one plot point) per (label, group), as in the terminal summary: the pair's most severe
    # finding represents it (first in by_sev), the other detectors are named and detailed in its row.
    pairs = group_pairs(by_sev)
    kept = pairs.head(max_findings)
    shown = by_sev.iloc[kept["rep"].to_numpy()].reset_index(drop=True)
    shown["also"] = list(kept["also"])
    shown["pair_members"] = list(kept["members"])  # positions in by_sev, the shown finding first

    examples = _Examples(samples, image_root, thumbnail_px)
    cfg = info.get("config") or {}
    fdr = _num((cfg.get("scan") or {}).get("fdr", 0.05))
    table = _findings_table(shown, by_sev, len(pairs), examples)
    if examples.problems:
        log.warning(
            "report: %s", "; ".join(f"{n:,} example image(s): {why}" for why, n in sorted(examples.problems.items()))
        )
    plots = (
        f'<div class="plots">{_volcano(shown, fdr)}{_heatmap(shown)}</div>' if len(shown) else ""
    )

    model = info.get("model") or {}
    title_name = info.get("config_name") or "scan"
    run_id = info.get("run_id") or "?"
    meta = [
        f'run <code>{_e(run_id)}</code>',
        f'model {_e(model.get("name", "?"))} {_e(model.get("version") or "")}'.rstrip(),
        _e(str(info.get("created_at") or "")[:19].replace("T", " ") + (" UTC" if info.get("created_at") else "")),
    ]
    css = _CSS + f":root{{--thumb:{thumbnail_px}px}}\n" + "\n".join(examples.thumb_css)
    js = _JS
    js_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{js_hash}'; base-uri 'none'; form-action 'none'"
    )
    version = _version()
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f'<meta name="generator" content="tagscan {_e(version)}">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(f'tagscan report: {title_name} ({run_id})')}</title>"
        f"<style>{css}</style></head><body>"
        '<header class="top"><div class="brand">tagscan · scan report</div>'
        f"<h1>{_e(title_name)}</h1>"
        f'<div class="meta">{"".join(f"<span>{m}</span>" for m in meta if m)}</div></header>'
        f"<main>{_summary(info, by_sev)}{plots}{table}</main>"
        f'<footer>Generated by tagscan {_e(version)}. This file is self-contained: it loads nothing from '
        "the network. Severity ranks harm (watchlist weight, people, conservative effect); q-values are "
        "Benjamini–Hochberg within each family.</footer>"
        f'<script type="application/json" id="tagscan-run">{_script_json(info)}</script>'
        f"<script>{js}</script>"
        "</body></html>\n"
    )


def write_report(path: Path, html: str) -> Path:
    """Write ``html`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(html.encode("utf-8", errors="replace"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise DataError(f"{path}: cannot write the report ({exc}); choose a writable folder") from exc
    return path

