"""The scan over in-memory inputs: clusters, groups, counts and detectors, with no files.

:func:`tagscan.pipeline.run_scan` wraps it with loading, embedding and the workspace; benchmarks call it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagscan.config import GroupsConfig, ScanConfig
from tagscan.errors import ConfigError
from tagscan.inputs import AuditSet
from tagscan.progress import Timer
from tagscan.scan.clusters import ClusterFit, fit_clusters
from tagscan.scan.counts import CellCounter, CellCounts, cell_counter, count_cells
from tagscan.scan.detectors import DetectorConfig, ScanContext, resolve
from tagscan.scan.detectors.base import NEEDS
from tagscan.scan.findings import ScanOutcome, scan
from tagscan.scan.groups import Groups, build_groups, people_views
from tagscan.scan.severity import groups_about_people
from tagscan.scan.watchlist import WatchAssignment, normalise_term

__all__ = ["Analysis", "analyse", "cell_counter", "person_rows", "people_source"]

log = logging.getLogger(__name__)


def people_source(groups_cfg: GroupsConfig) -> str:
    """One line for the scan summary: how this scan knows which inputs show people."""
    if groups_cfg.protected:
        return (f"people: inputs with {', '.join(groups_cfg.protected)} set (groups.protected) or a person label "
                "of the watchlist")
    return ("people: known from the watchlist's person labels only (no groups.protected): list the attributes "
            "that describe people under groups.protected")


def person_rows(audit: AuditSet, protected: list[str], person_labels: list[str]) -> np.ndarray:
    """Samples that show people: a protected attribute (``groups.protected``) is set, or a person label of
    the watchlist was predicted. Other attributes (region, source, device) say nothing about people."""
    n = audit.n_samples
    rows = np.zeros(n, dtype=bool)
    for a in protected:
        rows |= audit.samples[a].notna().to_numpy()
    if person_labels:
        wanted = {normalise_term(p) for p in person_labels}
        cols = [j for j, (lab, name) in enumerate(zip(audit.labels, audit.label_names))
                if normalise_term(lab) in wanted or normalise_term(name) in wanted]
        if cols:
            Yc = audit.positive_store().columns(np.asarray(cols))[0][:, cols]
            rows |= np.asarray(Yc.sum(axis=1)).ravel() > 0
    return rows


@dataclass
class Analysis:
    """What :func:`analyse` computed: the scan outcome and the structures behind it."""

    outcome: ScanOutcome
    groups: Groups
    counts: CellCounts
    clusters: ClusterFit


def analyse(
    audit: AuditSet,
    *,
    vectors: np.ndarray | None,
    label_vectors: np.ndarray | None,
    watch: WatchAssignment,
    person_rows: np.ndarray,
    groups_cfg: GroupsConfig,
    scan_cfg: ScanConfig,
    detectors: Mapping[str, DetectorConfig] | None = None,
    examples_per_finding: int = 8,
    shared_space: bool = False,
    timer: Timer | None = None,
    config_path: Path | None = None,
    count: CellCounter | None = None,
) -> Analysis:
    """Clusters, groups, counts and detectors over in-memory inputs: the scan without any files.

    ``detectors``: the detectors to run with their settings (:func:`tagscan.scan.detectors.resolve`);
    None resolves them from ``scan_cfg`` (``config_path`` names the file in errors). ``scan_cfg`` also
    gives the FDR and the correction; ``shared_space``: inputs and labels were embedded by one model.
    ``count``: where the (group, label) cells are counted (:func:`tagscan.scan.counts.cell_counter`; default
    :func:`count_cells`, in this process); tests, families and findings run here either way.
    :func:`run_scan` wraps it with loading, embedding and the workspace; benchmarks call it directly.
    """
    if detectors is None:
        detectors = resolve(scan_cfg, config_path=config_path)
    t = timer or Timer()
    with t("clusters"):
        if vectors is None:
            cl = _no_clusters(audit.n_samples, groups_cfg, config_path)
        else:
            try:
                cl = fit_clusters(vectors, list(groups_cfg.clusters), seed=groups_cfg.seed, fit_share=groups_cfg.cluster_fit_share)
            except ValueError as exc:
                where = f"{config_path}: " if config_path else ""
                raise ConfigError(f"{where}key 'groups.clusters': {exc}; use a smaller k") from exc
    with t("groups"):
        groups = build_groups(
            audit.samples,
            attributes=groups_cfg.attributes,
            intersections=groups_cfg.intersections,
            clusters=cl.assignments,
            cluster_universe=cl.test_mask if cl.assignments else None,
            min_group_size=groups_cfg.min_group_size,
        )
        # Which groups are about people, and their people views (watchlist labels on them are compared
        # with other people, not with every input).
        about_people = groups_about_people(groups.membership, person_rows)
        groups = people_views(groups, person_rows, about_people, min_group_size=groups_cfg.min_group_size)
        # The views are appended after the groups, and every member of a view shows people.
        about_people = np.concatenate([about_people, np.ones(len(groups) - len(about_people), dtype=bool)])
    log.info("%s", people_source(groups_cfg))
    with t("counts"):
        counts = (count or count_cells)(groups, audit.positive_store())
    ctx = ScanContext(
        Y=audit.Y,
        scores=audit.scores,
        positives=audit.positives,
        labels=audit.labels,
        label_names=audit.label_names,
        groups=groups,
        counts=counts,
        watch_weight=watch.weight,
        watch_category=watch.category,
        fdr=scan_cfg.fdr,
        correction=scan_cfg.correction,
        truth=audit.truth,
        truth_rows=audit.annotated,
        vectors=vectors,
        label_vectors=label_vectors,
        shared_space=shared_space,
        group_about_people=about_people,
    )
    text_col = "text" if "text" in audit.samples.columns else None
    medoid_text = {g: audit.samples[text_col].iat[r] for g, r in cl.medoid_rows.items()} if text_col else None
    attrs = list(groups_cfg.attributes)
    with t("detect"):
        outcome = scan(
            ctx,
            sample_ids=audit.sample_ids,
            person_rows=person_rows,
            examples_per_finding=examples_per_finding,
            detectors=detectors,
            attribute_frame=audit.samples[attrs] if attrs else None,
            medoid_text=medoid_text,
            clustering=cl.info["key"],
            benign=scan_cfg.benign,
            watchlist_min_effect=scan_cfg.watchlist_min_effect,
        )
    if vectors is None:  # say why, in run.json and the summary, in the user's terms
        outcome.detectors = {k: f"{v}; {NO_INPUTS_REASON}" if v.startswith("skipped") and NEEDS["vectors"] in v else v
                             for k, v in outcome.detectors.items()}
    return Analysis(outcome, groups, counts, cl)


#: Why what needs input embeddings did not run in a scan without inputs.
NO_INPUTS_REASON = "this scan has no inputs (embed.input: none: predictions and attributes only)"


def _no_clusters(n: int, groups_cfg: GroupsConfig, config_path: Path | None) -> ClusterFit:
    """No input vectors (``embed.input: none``): no clusters, with the reason recorded when some were asked for."""
    info = {"k": [], "seed": groups_cfg.seed, "fit_share": groups_cfg.cluster_fit_share, "key": None,
            "n_fit": 0, "n_test": n, "split": "no clusters"}
    if groups_cfg.clusters:
        if not groups_cfg.attributes:
            where = f"{config_path}: " if config_path else ""
            raise ConfigError(
                f"{where}key 'groups.clusters': clusters need input embeddings and this scan has none "
                "(embed.input: none, or samples without a text or image column); list attribute columns in "
                "groups.attributes, or give the inputs (a text or image column, or data.embeddings)"
            )
        info["skipped"] = f"groups.clusters {list(groups_cfg.clusters)} skipped: clusters need input embeddings; {NO_INPUTS_REASON}"
        log.warning("clusters %s", info["skipped"])
    return ClusterFit({}, {}, np.ones(n, dtype=bool), info)
