"""The self-contained HTML report of one run: the page assembled from its sections and its assets.

:func:`build_report` turns a run (a :class:`tagscan.runs.RunRecord`, or its run.json mapping), its
findings (``findings.parquet``: the columns of :data:`tagscan.scan.findings.FINDING_COLUMNS`) and,
optionally, the samples table into one HTML document that opens without network. The page template,
style sheet and script are package data (``assets/``), read at render time and inlined: CSS in one
``<style>``, one script, SVG plots inline and images as ``data:`` URIs. A Content-Security-Policy in the
page forbids every network fetch and every script but its own (by hash), as a second line of defence
behind escaping (:mod:`tagscan.outputs.html.markup`).

Undefined numbers: an infinite lift is shown as ``∞`` and plotted on a marked band at the right edge
of the volcano plot, a q-value of 0 on a band at the top; NaN is shown as ``–``, sorts last, and is
left out of the plots (with a note saying how many).

Pairs, not rows: findings.parquet keeps one row per detector, so one (label, group) raised by several
detectors (association, label_family, error_gap, ...) has several rows. Like the terminal summary (the
same :func:`tagscan.outputs.pairs.group_pairs`), the report shows each pair once: one table row, one
volcano point and one heatmap cell, from the pair's most severe finding, with the other detectors named
in the row ("also: ...") and each one's evidence (effect, p and q values, and its full detail) in the
row's expandable detail. The header counts both, under their names: flagged pairs and detector findings.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from importlib import resources
from os import PathLike
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd

from tagscan.errors import DataError
from tagscan.fsutil import write_durably
from tagscan.outputs.base import RunLike, as_record
from tagscan.outputs.html.examples import MAX_THUMBNAIL_BYTES, OVER_BUDGET, Examples
from tagscan.outputs.html.findings import findings_table
from tagscan.outputs.html.markup import e, script_json
from tagscan.outputs.html.plots import heatmap, volcano
from tagscan.outputs.html.summary import summary
from tagscan.outputs.pairs import group_pairs
from tagscan.runs import RunRecord

__all__ = ["build_report", "testing_sentence", "write_report"]

log = logging.getLogger(__name__)

_REQUIRED = (
    "finding_id", "detector", "label", "label_name", "group", "group_kind", "group_description", "count",
    "group_size", "label_count", "expected", "rate_in_group", "rate_outside", "lift", "lift_low", "lift_high",
    "p_value", "q_value", "family", "family_size", "severity", "severity_level", "watch_category",
    "about_people", "examples", "status",
)  # fmt: skip
#: Names of the multiple-testing corrections a family may record (``scan.correction``).
CORRECTION_NAMES = {"bh": "Benjamini–Hochberg", "by": "Benjamini–Yekutieli"}


def _asset(name: str) -> str:
    """The text of ``assets/<name>`` (package data), read now: edits to an asset show in the next report."""
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tagscan")
    except Exception:  # noqa: BLE001 - the version is decoration only
        return ""


def testing_sentence(record: RunRecord) -> str:
    """How the q-values were adjusted, from the corrections the run's families recorded.

    'q-values are Benjamini–Hochberg within each family.'; with several corrections each is named with its
    families. A run without families names its config's ``scan.correction``.
    """
    corrections = record.corrections
    if not corrections:
        configured = (record.config.get("scan") or {}).get("correction")
        corrections = (str(configured),) if configured else ()
    if not corrections:
        return "q-values are adjusted for multiple testing within each family."
    names = {c: CORRECTION_NAMES.get(c, str(c).upper()) for c in corrections}
    if len(names) == 1:
        return f"q-values are {names[corrections[0]]} within each family."
    each = "; ".join(
        f"{names[c]} in {', '.join(f.name for f in record.families if f.correction == c)}" for c in corrections
    )
    return f"q-values are adjusted within each family: {each}."


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
    run: RunLike,
    findings: pd.DataFrame,
    *,
    samples: pd.DataFrame | None = None,
    image_root: str | PathLike | None = None,
    max_findings: int = 500,
    thumbnail_px: int = 96,
    link: str | None = None,
    show: list[str] | None = None,
    max_thumbnail_bytes: int = MAX_THUMBNAIL_BYTES,
) -> str:
    """Render one run as a self-contained HTML document (a str).

    Parameters
    ----------
    run:
        The run: a :class:`tagscan.runs.RunRecord`, or its run.json mapping (read with
        ``RunRecord.from_json``).
    findings:
        The run's findings (``findings.parquet``, one row per detector and pair); grouped here by
        (label, group) with :func:`tagscan.outputs.pairs.group_pairs`, most severe first.
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
    link, show:
        ``review.link`` (a template over sample columns: each example links to its sample) and
        ``review.show`` (the columns shown for samples without text or image; default: the attributes).
    max_thumbnail_bytes:
        Bytes of the report that thumbnails may take (each shown image counts, as embedded); past it,
        examples show their image reference as text and the report says how many.
    """
    max_findings = _check_int("max_findings", max_findings, 0, None, 500)
    thumbnail_px = _check_int("thumbnail_px", thumbnail_px, 16, 512, 96)
    max_thumbnail_bytes = _check_int("max_thumbnail_bytes", max_thumbnail_bytes, 0, None, MAX_THUMBNAIL_BYTES)
    record, _ = as_record(run)
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

    examples = Examples(
        samples, Path(image_root) if image_root is not None else None, thumbnail_px,
        link=link, show=show, max_bytes=max_thumbnail_bytes,
    )
    table = findings_table(shown, by_sev, len(pairs), examples)
    if examples.problems.get(OVER_BUDGET):
        table = (
            f'<p class="note">{examples.problems[OVER_BUDGET]:,} example images are shown by their path, not as '
            f"thumbnails: the report keeps its thumbnails to {max_thumbnail_bytes / 2**20:.0f} MB (the most severe "
            "findings come first).</p>" + table
        )
    if examples.problems:
        log.warning(
            "report: %s", "; ".join(f"{n:,} example image(s): {why}" for why, n in sorted(examples.problems.items()))
        )
    plots = f'<div class="plots">{volcano(shown, record.fdr)}{heatmap(shown)}</div>' if len(shown) else ""

    created = record.created_at[:19].replace("T", " ") + " UTC"
    meta = [
        f"run <code>{e(record.run_id)}</code>",
        f"model {e(record.model.name)} {e(record.model.version)}".rstrip(),
        e(created),
    ]
    css = _asset("report.css") + f":root{{--thumb:{thumbnail_px}px}}\n"
    js = _asset("report.js")
    js_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{js_hash}'; base-uri 'none'; form-action 'none'"
    )
    return Template(_asset("page.html")).substitute(
        csp=e(csp),
        version=e(_version()),
        title=e(f"tagscan report: {record.config_name} ({record.run_id})"),
        css=css,
        name=e(record.config_name),
        meta="".join(f"<span>{m}</span>" for m in meta if m),
        main=f"{summary(record, by_sev)}{plots}{table}",
        testing=e(testing_sentence(record)),
        run=script_json(record.to_json()),
        script=js,
    )


def write_report(path: str | PathLike, html: str) -> Path:
    """Write ``html`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(tmp, html.encode("utf-8", errors="replace"))
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise DataError(f"{path}: cannot write the report ({exc}); choose a writable folder") from exc
    return path
