from __future__ import annotations

import io

import numpy as np
import pandas as pd
from rich.console import Console

from tagscan.outputs.terminal import print_summary
from tagscan.scan.findings import FINDING_COLUMNS


def _row(label, group, detector, severity):
    r = dict.fromkeys(FINDING_COLUMNS, np.nan)
    r.update(label=label, label_name=label, group=group, detector=detector, severity=severity,
             severity_level="critical" if severity >= 60 else "low", count=10, expected=2.0, lift=5.0,
             lift_low=2.0, lift_high=9.0, q_value=1e-4, family="watchlist", watch_category="dehumanizing",
             status="new")
    return r


def test_summary_shows_a_pair_once_with_the_other_detectors_named():
    f = pd.DataFrame([_row("gorilla", "tone=dark", "association", 90), _row("gorilla", "tone=dark", "alignment_gap", 70),
                      _row("mugshot", "tone=dark", "association", 65)])
    info = {"run_id": "r1", "config_name": "c", "created_at": "2026-01-01T00:00:00+00:00", "model": {"name": "m", "version": "v"}, "config": {"scan": {"fdr": 0.05}},
            "counts": {"samples": 10, "labels": 2, "positives": 5, "groups_tested": 2, "groups_untested": 0,
                       "cells_nonzero": 3, "findings": 3, "findings_by_level": {"critical": 3}}, "families": [],
            "detectors": {"association": "ran", "alignment_gap": "ran"}}
    buf = io.StringIO()
    print_summary(info, f, console=Console(file=buf, width=200), top=10)
    out = buf.getvalue()
    lines = [ln for ln in out.splitlines() if "gorilla" in ln]
    assert len(lines) == 1 and "(+alignment_gap)" in lines[0]
    mug = next(ln for ln in out.splitlines() if "mugshot" in ln)
    assert mug.strip().startswith("3 ")  # '#' is the rank in findings.parquet
    assert "3 detector findings (3 critical) on 2 (label, group) pairs (2 critical; each pair at its most severe" in out


def test_family_column_names_a_watchlist_label_on_other_groups_as_a_label_category():
    """'discovery/dehumanizing' on dog over a cluster of dog photos read as a dehumanizing finding."""
    rows = [_row("gorilla", "tone=dark", "association", 90), _row("dog", "cluster:k64/41", "association", 25),
            _row("zoo", "cluster:k16/9", "association", 20)]
    rows[1].update(family="discovery", severity_level="medium")
    rows[2].update(family="discovery", watch_category=None)
    f = pd.DataFrame(rows)
    info = {"run_id": "r1", "config_name": "c", "created_at": "2026-01-01T00:00:00+00:00", "model": {"name": "m", "version": "v"}, "config": {"scan": {"fdr": 0.05}},
            "counts": {"samples": 10, "labels": 3, "positives": 5, "groups_tested": 3, "groups_untested": 0,
                       "cells_nonzero": 3, "findings": 3, "findings_by_level": {"critical": 1, "medium": 1, "low": 1}},
            "families": [], "detectors": {"association": "ran"}}
    buf = io.StringIO()
    print_summary(info, f, console=Console(file=buf, width=200), top=10)
    line = {w: next(ln for ln in buf.getvalue().splitlines() if f" {w} " in ln) for w in ("gorilla", "dog", "zoo")}
    assert "watchlist/dehumanizing" in line["gorilla"]
    assert "discovery (dehumanizing label)" in line["dog"] and "discovery/" not in line["dog"]
    assert "discovery" in line["zoo"] and "label)" not in line["zoo"] and "None" not in line["zoo"]
