"""History across runs: a run's findings against its baseline, reviewers' verdicts carried into a rescan,
two runs side by side, and the translation of finding ids from runs made before clustering keys.

Statuses (SPEC): ``new``, ``persisting``, ``regressed``, ``resolved`` against the baseline
(:func:`compare_with_run`); ``confirmed`` and ``dismissed`` from review (:func:`carry_reviews`).
The statistics are :mod:`tagscan.scan.compare`'s (pure); this module brings them the runs' files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.errors import DataError
from tagscan.inputs.shards import Positives
from tagscan.runs.record import ClusterInfo, RunRecord
from tagscan.runs.workspace import RunEntry, Workspace

__all__ = ["Comparison", "RunNow", "carry_reviews", "compare_with_run", "diff_runs", "legacy_cluster_ids"]

log = logging.getLogger(__name__)

PAIRED = "paired (McNemar, same samples)"
UNPAIRED = "unpaired (Fisher, rates)"


@dataclass(frozen=True, eq=False)
class RunNow:
    """What the run being made knows of itself, to compare with a baseline: its clustering, the hash of its
    samples file, its input model, and its positive predictions with their label ids and groups."""

    clusters: ClusterInfo
    samples_hash: str | None
    input_model: str | None
    Y: sp.spmatrix | Positives | None = None  # a shard store when the scan read its predictions out of core
    labels: np.ndarray | None = None
    groups: object | None = None  # tagscan.scan.groups.Groups


@dataclass(frozen=True, eq=False)
class Comparison:
    findings: pd.DataFrame  # this run's findings with their statuses
    resolved: pd.DataFrame  # the baseline's findings that are gone, as resolved rows
    mode: str  # PAIRED or UNPAIRED


def legacy_cluster_ids(prev: pd.DataFrame, base: RunRecord, now: RunNow) -> pd.DataFrame:
    """Give a baseline's cluster findings the ids of this run's clustering when the baseline predates
    clustering keys (its run.json has no ``clusters.key``) and clustered the same samples, embedded by the same
    model, with the same seed and split: upgrading tagscan must not turn every cluster finding new."""
    from tagscan.scan.findings import finding_id

    same = (
        base.clusters.key is None
        and now.clusters.key is not None
        and base.inputs.get("samples") == now.samples_hash
        and base.embedding.input_model == now.input_model
        and base.clusters.same_split(now.clusters)
    )
    if not same or "group_kind" not in prev:
        return prev
    prev = prev.copy()
    cl = (prev["group_kind"] == "cluster").to_numpy()
    old = prev.loc[cl, ["detector", "label", "group"]]
    prev.loc[cl, "finding_id"] = [finding_id(d, lb, g, now.clusters.key) for d, lb, g in old.itertuples(index=False)]
    return prev


def compare_with_run(ws: Workspace, base: RunEntry, findings: pd.DataFrame, now: RunNow, *, fdr: float) -> Comparison:
    """Statuses of ``findings`` against the baseline run ``base``: paired (McNemar) when both runs scanned the
    same samples and the baseline kept its positives, unpaired (Fisher) otherwise."""
    from tagscan.scan.compare import PairedPredictions, compare_with_baseline

    prev = ws.load_findings(base.run_id)
    paired = None
    try:
        base_record = ws.load_record(base.run_id)
        prev = legacy_cluster_ids(prev, base_record, now)
        same_samples = base_record.inputs.get("samples") == now.samples_hash
        kept = ws.load_positives(base.run_id) if same_samples and now.Y is not None else None
        if kept is not None:
            before, before_labels = kept
            if isinstance(before, Positives):  # out of core: only the findings' labels are read
                before = before.columns(np.flatnonzero(np.isin(before_labels, findings["label"].to_numpy())))[0]
            if before.shape[0] != now.Y.shape[0]:
                raise ValueError("the baseline scanned a different set of rows (skipped images?)")
            groups = now.groups
            wanted = set(findings["group"])
            members = {g: groups.members(i) for i, g in enumerate(groups.ids) if g in wanted}
            Ynow = now.Y
            if isinstance(Ynow, Positives):
                Ynow = Ynow.columns(np.flatnonzero(np.isin(now.labels, findings["label"].to_numpy())))[0]
            paired = PairedPredictions(sp.csc_matrix(Ynow), now.labels, before, before_labels, members)
    except (OSError, ValueError, DataError) as exc:
        log.warning("baseline %s: cannot read its positives (%s); comparing rates unpaired", base.run_id, exc)
    mode = PAIRED if paired else UNPAIRED
    log.info("comparing with baseline %s: %s", base.run_id, mode)
    cur, resolved = compare_with_baseline(findings, prev, fdr=fdr, paired=paired)
    return Comparison(cur, resolved, mode)


def carry_reviews(ws: Workspace, store, model_key: str, findings: pd.DataFrame, *, fdr: float) -> pd.DataFrame:
    """Apply review verdicts: dismissed findings stay suppressed (with their reason) until their
    effect gets significantly worse than what was reviewed, by the finding's own detector's rule
    (:meth:`tagscan.scan.detectors.Detector.change`, unpaired: the rows of the reviewed run against this
    one's); confirmed ones stay tracked as confirmed.

    ``store`` is the workspace's :class:`tagscan.review.ReviewStore`; verdicts are kept per ``model_key``."""
    from tagscan.scan.compare import change_rule

    reviews = store.finding_reviews(model_key)
    findings = findings.copy()
    findings["review_note"] = None
    if len(reviews) == 0 or len(findings) == 0:
        return findings
    r = reviews.set_index("finding_id")
    hit = findings["finding_id"].isin(r.index).to_numpy()
    idx = np.flatnonzero(hit)
    if len(idx) == 0:
        return findings
    rows = findings.iloc[idx]
    rv = r.loc[rows["finding_id"]]
    comments = store.finding_comments(model_key)

    def said(fid: str) -> str:
        quoted = "; ".join(f'"{c}"' for c in comments.get(fid, []))
        return f"; reviewers said: {quoted}" if quoted else ""

    notes = [
        f"{s} in review ({int(c)} correct, {int(w)} wrong, {int(h)} harmful; run {run}){said(fid)}"
        for fid, s, c, w, h, run in zip(
            rows["finding_id"], rv["review_status"], rv["correct"], rv["wrong"], rv["harmful"], rv["last_run_id"]
        )
    ]
    findings.loc[findings.index[idx], "review_note"] = notes
    # The effect that was reviewed: the finding's counts in the run whose examples were pushed.
    sizes = {}
    for run_id in set(rv["last_run_id"].dropna()):
        try:
            f = ws.load_findings(run_id)
            sizes.update({(run_id, row["finding_id"]): row for row in f.to_dict("records")})
        except (OSError, DataError):
            pass
    status = findings["status"].to_numpy(dtype=object).copy()
    for t, (i, fid) in enumerate(zip(idx, rows["finding_id"])):
        rs = rv["review_status"].iat[t]
        if status[i] == "resolved":
            continue
        if rs == "confirmed":
            status[i] = "confirmed"
        elif rs == "dismissed":
            ref = sizes.get((rv["last_run_id"].iat[t], fid))
            grew = False
            if ref is not None:
                cur_row = findings.iloc[i].to_dict()
                ch = change_rule(cur_row.get("detector")).change(ref, cur_row, None)
                grew = ch.p <= fdr and ch.worse
            if grew:
                status[i] = "regressed"
                findings.loc[findings.index[i], "review_note"] = notes[t] + "; it got worse since, so it is open again"
            else:
                status[i] = "dismissed"
    findings["status"] = status
    return findings


def _review_state(status: object) -> str | None:
    """A finding's state for reviewers: ``confirmed``, ``dismissed``, or ``open`` (new, persisting, regressed)."""
    if not isinstance(status, str):
        return None
    return status if status in ("confirmed", "dismissed") else "open"


def diff_runs(ws: Workspace, a: RunEntry, b: RunEntry) -> pd.DataFrame:
    """Findings of two runs side by side: only in A (``gone``), only in B (``new``), in both with another
    review state (``status``: open, confirmed or dismissed; ``status_change`` names both), and in ``both``.

    Matched by finding_id alone (detector, label id and group): a label whose display name changed in the
    vocabulary is the same finding, shown under its name in B. ``attrs`` carries the resolved run ids and
    the two models."""
    keys = ["detector", "label", "label_name", "group", "group_kind"]
    values = ["severity", "severity_level", "rate_in_group", "lift", "q_value", "status"]

    def live(run_id: str) -> pd.DataFrame:
        f = ws.load_findings(run_id)
        f = f[f["status"] != "resolved"] if "status" in f else f
        return f[[c for c in ["finding_id", *keys, *values] if c in f.columns]].copy()

    fa, fb = live(a.run_id), live(b.run_id)
    # A run from before clustering keys gets the other run's cluster ids when both clustered the same way.
    ra, rb = ws.load_record(a.run_id), ws.load_record(b.run_id)
    for frame, rec, other in ((fa, ra, rb), (fb, rb, ra)):
        if other.clusters.key is not None:
            now = RunNow(other.clusters, other.inputs.get("samples"), other.embedding.input_model)
            frame["finding_id"] = legacy_cluster_ids(frame, rec, now)["finding_id"]
    m = fa.merge(fb, on="finding_id", how="outer", suffixes=("_a", "_b"), indicator=True)
    for k in keys:
        if f"{k}_a" in m.columns and f"{k}_b" in m.columns:
            m.insert(m.columns.get_loc(f"{k}_a"), k, m[f"{k}_b"].where(m[f"{k}_b"].notna(), m[f"{k}_a"]))
            m = m.drop(columns=[f"{k}_a", f"{k}_b"])
    m["change"] = m["_merge"].map({"left_only": "gone", "right_only": "new", "both": "both"}).astype(str)
    m = m.drop(columns="_merge")
    # A finding in both runs whose review state changed (open -> confirmed, open -> dismissed, dismissed ->
    # open when it grew) is a change of its own: "status", with `status_change` saying from what to what.
    m["status_change"] = None
    if "status_a" in m.columns and "status_b" in m.columns:
        sa, sb = m["status_a"].map(_review_state), m["status_b"].map(_review_state)
        moved = (m["change"] == "both") & sa.notna() & sb.notna() & (sa != sb)
        m.loc[moved, "change"] = "status"
        m.loc[moved, "status_change"] = sa[moved] + " -> " + sb[moved]
    sev = m[["severity_a", "severity_b"]].max(axis=1)
    order = m["change"].map({"new": 0, "gone": 1, "status": 2, "both": 3})
    m = m.assign(_o=order, _s=-sev).sort_values(["_o", "_s", "label_name"]).drop(columns=["_o", "_s"])
    m = m.reset_index(drop=True)
    m.attrs["run_a"], m.attrs["run_b"] = a.run_id, b.run_id  # the resolved ids, not the prefixes typed
    m.attrs["model_a"], m.attrs["model_b"] = f"{a.model_name} {a.model_version}", f"{b.model_name} {b.model_version}"
    return m
