"""Terminal and JSON renderings of a scan. Reads findings only; computes nothing new."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["findings_json", "group_pairs", "print_summary", "scan_json"]

_LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def _fmt_p(x: float) -> str:
    return "<1e-300" if x <= 0 else (f"{x:.1e}" if x < 1e-3 else f"{x:.3f}")


def _fmt_lift(lift: float, lo: float, hi: float) -> str:
    def f(v: float) -> str:
        return "inf" if math.isinf(v) else (f"{v:.1f}" if v < 100 else f"{v:.0f}")

    return f"{f(lift)} [{f(lo)}, {f(hi)}]"


def group_pairs(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (label, group) of ``findings``, in the order of each pair's first finding.

    ``findings.parquet`` keeps one row per detector; the summary and the HTML report show each pair once.
    The pair's first finding in the frame's order represents it (findings.parquet is ranked most severe
    first, so that is its most severe finding; pass the frame sorted otherwise to choose another).
    Columns, with positions counted in ``findings`` (0-based, whatever its index):

    - ``rep``: position of the representative finding;
    - ``members``: positions of all the pair's findings, in frame order (the representative first);
    - ``also``: the other detectors that raised the pair, each named once, in frame order.

    A missing label or group is a key like any other (two NaN groups are the same pair).
    """
    f = findings.reset_index(drop=True)
    if f.empty:
        return pd.DataFrame({"rep": np.empty(0, np.int64), "members": np.empty(0, object), "also": np.empty(0, object)})
    code = f.groupby(["label", "group"], sort=False, dropna=False).ngroup().to_numpy()  # first-appearance order
    order = np.argsort(code, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(code[order])) + 1)
    det = f["detector"].astype(str).to_numpy()
    also = [[d for d in dict.fromkeys(det[m]) if d != det[m[0]]] for m in members]
    return pd.DataFrame({"rep": [int(m[0]) for m in members], "members": members, "also": also})


def _untested_note(counts: dict) -> str:
    """' (3 not tested: 2 below min_group_size 30, 1 covers its whole universe)'; older runs lack reasons."""
    n = counts.get("groups_untested", 0)
    if not n:
        return ""
    reasons = counts.get("groups_untested_by_reason") or {}
    detail = ", ".join(f"{k:,} {r}" for r, k in reasons.items())
    return f" ({n:,} not tested: {detail})" if detail else f" ({n:,} not tested)"


def print_summary(info: dict, findings: pd.DataFrame, *, console: Console, top: int = 20) -> None:
    c = info["counts"]
    model = info.get("model") or {}
    console.print(
        f"[bold]tagscan[/bold] run {info['run_id']} of {info['config_name']} "
        f"(model {model.get('name', '?')} {model.get('version', '')})",
        highlight=False,
    )
    console.print(
        f"{c['samples']:,} samples, {c['labels']:,} labels, {c['positives']:,} positive predictions; "
        f"{c['groups_tested']:,} groups tested{_untested_note(c)}, "
        f"{c['cells_nonzero']:,} non-zero (label, group) cells",
        highlight=False,
    )
    fams = info.get("families", [])
    if fams:
        console.print(f"error budgets at FDR {info['config']['scan']['fdr']}:", highlight=False)
        for f in fams:
            console.print(
                f"  {f['name']:<26} {f['n_significant']:>6,} significant of {f['n_testable']:>9,} testable pairs "
                f"({f['n_labels']:,} labels)",
                highlight=False,
            )
    n_img = info.get("embedding", {}).get("n_skipped_images", 0)
    if n_img:
        console.print(f"skipped {n_img} unreadable image(s) (--skip-bad-images); listed in run.json", highlight=False)
    skipped = {k: v for k, v in info.get("detectors", {}).items() if v != "ran"}
    for k, v in skipped.items():
        console.print(f"detector {k}: {v}", highlight=False)
    if info.get("baseline"):
        st = c.get("by_status", {})
        bm = info.get("baseline_model") or {}
        of = f" of {bm.get('name', '?')} {bm.get('version', '')}".rstrip() if bm else ""
        console.print(
            f"against baseline {info['baseline']}{of} ({info.get('comparison')}): "
            + ", ".join(
                f"{st.get(k, 0):,} {k}"
                for k in ("new", "regressed", "persisting", "confirmed", "dismissed")
                if k in ("new", "regressed", "persisting") or st.get(k)
            )
            + f", {c.get('resolved_since_baseline', 0):,} resolved",
            highlight=False,
        )
    levels = c.get("findings_by_level", {})
    lv = ", ".join(f"{levels[k]:,} {k}" for k in ("critical", "high", "medium", "low") if levels.get(k))
    # The rows of findings resolved since the baseline follow the run's own findings; they are listed apart.
    ranked = findings.reset_index(drop=True)
    gone = (ranked["status"] == "resolved").to_numpy() if "status" in ranked else np.zeros(len(ranked), bool)
    live = ranked[~gone]
    pairs = len(group_pairs(live)) if len(live) and {"label", "group"} <= set(live.columns) else 0
    on_pairs = f" on {pairs:,} (label, group) pairs" if pairs and pairs != c["findings"] else ""
    console.print(f"[bold]{c['findings']:,} findings[/bold]{on_pairs}" + (f" ({lv})" if lv else ""), highlight=False)
    if len(live) == 0:
        console.print("No (label, group) association passed the multiple-testing control.")
    else:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for col, just in (
            ("#", "right"), ("severity", "left"), ("label", "left"), ("group", "left"), ("count", "right"),
            ("expected", "right"), ("lift [95% CI]", "left"), ("q", "right"), ("family", "left"), ("status", "left"),
        ):
            table.add_column(col, justify=just, overflow="fold")
        # One line per (label, group): the same pair raised by several detectors is shown once, at its
        # best rank, with the other detectors named; '#' is the rank in findings.parquet.
        pairs = group_pairs(live)
        firsts = live.index.to_numpy()[pairs["rep"].to_numpy()] if len(pairs) else np.empty(0, np.int64)
        for i, also in zip(firsts[:top], pairs["also"][:top]):
            r = ranked.loc[i]
            fam = _family_text(r["family"], r["watch_category"])
            table.add_row(
                str(i + 1),
                Text(f"{r['severity_level']} {r['severity']:.0f}", style=_LEVEL_STYLE.get(r["severity_level"], "")),
                Text(str(r["label_name"])),
                Text(str(r["group"])),
                f"{int(r['count']):,}",
                f"{r['expected']:.1f}",
                _fmt_lift(r["lift"], r["lift_low"], r["lift_high"]),
                _fmt_p(r["q_value"]),
                Text(fam + (f" (+{', '.join(also)})" if also else "")),
                str(r["status"]),
            )
        console.print(table)
        if len(firsts) > top:
            more = int((live.index >= firsts[top]).sum())
            console.print(f"... and {more:,} more findings in findings.parquet", highlight=False)
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
            f"(tagscan diff CONFIG {info.get('baseline', 'BASELINE')} {info['run_id']} lists every change)",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"run folder: {info.get('run_dir', '')}", highlight=False, soft_wrap=True)


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else (str(f) if math.isinf(f) else f)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is pd.NA:
        return None
    return v


def watch_text(family, category) -> str:
    """How a finding's watchlist category is named beside its family ('' when it has none): as is on a
    watchlist finding; as '<category> label' on any other (a watchlist label on a group that is not
    about people, dog on a cluster of dog photos), since there the category is the label's, not a
    verdict on the finding. The terminal summary and the HTML report both call this."""
    if category is None or (not isinstance(category, str) and pd.isna(category)) or not str(category):
        return ""
    return str(category) if "watchlist" in str(family) else f"{category} label"


def _family_text(family, category) -> str:
    """The family column: 'watchlist/dehumanizing', 'discovery (dehumanizing label)' or 'discovery'."""
    text = watch_text(family, category)
    if not text:
        return str(family)
    return f"{family}/{text}" if text == str(category) else f"{family} ({text})"


def findings_json(findings: pd.DataFrame) -> list[dict]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in findings.to_dict(orient="records")]


def scan_json(info: dict, findings: pd.DataFrame) -> str:
    payload = {
        "run_id": info["run_id"],
        "run_dir": info.get("run_dir"),
        "config_name": info["config_name"],
        "model": info.get("model"),
        "created_at": info.get("created_at"),
        "baseline": info.get("baseline"),
        "baseline_model": info.get("baseline_model"),
        "comparison": info.get("comparison"),
        "counts": info["counts"],
        "families": info.get("families"),
        "detectors": info.get("detectors"),
        "findings": findings_json(findings),
    }
    return json.dumps(payload, indent=2, default=str)
