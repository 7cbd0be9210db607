"""The only place that orders the stages: each public function is one call the CLI wraps.

- :func:`run_embed`: input and label embeddings (content-cached) and their FAISS indexes.
- :func:`run_scan`: load, embed, group, count, test, rank, and write a run to the workspace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tagscan.config import Config
from tagscan.config import load_config as _read_config
from tagscan.constants import GATED_OPEN, LEVELS
from tagscan.embed.cache import embedding_cache_root
from tagscan.embed.stage import EmbedOutcome, embed_audit_set
from tagscan.errors import ConfigError, UsageError
from tagscan.inputs import AuditSet, load_audit_set
from tagscan.inputs.kinds import sample_columns
from tagscan.progress import Timer
from tagscan.runs import (
    ClusterInfo,
    Counts,
    EmbeddingInfo,
    EngineInfo,
    FamilyRecord,
    ModelRef,
    RunRecord,
    WatchlistInfo,
    Workspace,
    new_run_id,
    now_iso,
)
from tagscan.runs.gate import pair_level_counts, select_for_review
from tagscan.runs.history import RunNow, carry_reviews, compare_with_run, diff_runs
from tagscan.scan.engine import analyse, cell_counter, person_rows
from tagscan.scan.groups import untested_by_reason
from tagscan.scan.watchlist import watch_labels

__all__ = [
    "load_config",
    "EmbedOutcome",
    "ScanResult",
    "run_diff",
    "run_embed",
    "run_labels_like",
    "run_neighbors",
    "run_report",
    "run_review_pull",
    "run_review_push",
    "run_scan",
]

log = logging.getLogger(__name__)


def load_config(path: str | Path) -> Config:
    """Read and validate a scan config: the YAML and every section's settings (each detector's under
    ``scan.detectors``), before any work is done. Raises ConfigError naming the file and the key."""
    from tagscan.scan.detectors import resolve

    cfg = _read_config(path)
    resolve(cfg.scan, config_path=cfg.path)
    return cfg


def run_embed(
    cfg: Config, *, audit: AuditSet | None = None, need_labels: bool = True, skip_bad_images: bool = False
) -> EmbedOutcome:
    """Embed inputs (unless precomputed) and label names, cached by content; build and save indexes.

    Image inputs that cannot be read are an error, unless ``skip_bad_images``: then they are left
    out and listed in ``EmbedOutcome.skipped``, and ``kept`` holds the rows that were embedded.
    """
    audit = audit if audit is not None else load_audit_set(cfg)
    ws = Workspace(cfg.workspace_dir)
    return embed_audit_set(
        audit,
        cfg.embed,
        image_root=cfg.data.samples.parent,
        cache_root=embedding_cache_root(cfg.embed.cache_dir),
        index_dir=ws.index_dir,
        need_labels=need_labels,
        skip_bad_images=skip_bad_images,
        engine=cfg.engine,
    )


@dataclass(frozen=True, eq=False)
class ScanResult:
    """A written run: its record, its folder and its ranked findings (resolved rows last)."""

    record: RunRecord
    run_dir: Path
    findings: pd.DataFrame

    @property
    def run_id(self) -> str:
        return self.record.run_id


def run_scan(cfg: Config, *, baseline: str | None = None, skip_bad_images: bool = False) -> ScanResult:
    """Run a whole scan and write it to the workspace. Returns the run id, folder and ranked findings."""
    from tagscan.review import ReviewStore
    from tagscan.scan.detectors import resolve

    detectors = resolve(cfg.scan, config_path=cfg.path)
    g = cfg.groups
    if not (g.attributes or g.clusters):
        raise ConfigError(
            f"{cfg.path}: key 'groups': no groups to test (groups.attributes and groups.clusters are both empty); "
            "list attribute columns of the samples in groups.attributes, or cluster counts in groups.clusters"
        )
    t = Timer()
    t_start = time.perf_counter()
    with t("load"):
        audit = load_audit_set(cfg)
    ws = Workspace(cfg.workspace_dir)
    # The baseline (default: the previous run of this config's model; a given run may be of any config in
    # the workspace, to compare two models) is resolved before any heavy work.
    model = cfg.model_info.name
    if baseline:
        base = ws.resolve_run(baseline, cfg.name, given_as="--baseline", any_config=True)
    else:
        base = ws.latest_run(cfg.name, model)
        other = ws.latest_run(cfg.name) if base is None else None
        if other is not None:
            log.warning(
                "no earlier run of model '%s' in config '%s' (its latest run, %s, is of model '%s'), so every "
                "finding is new; pass --baseline RUN to compare with another model's run",
                model, cfg.name, other.run_id, other.model_name,
            )
    with t("embed"):
        emb = run_embed(cfg, audit=audit, need_labels=True, skip_bad_images=skip_bad_images)
    if emb.kept is not None:
        audit = audit.subset(emb.kept)
    with t("watchlist"):
        embed_terms = emb.terms.embed if emb.label_vectors is not None else None
        watch = watch_labels(
            cfg.watchlist_path(), audit.labels, audit.label_names, embed_terms=embed_terms, label_vectors=emb.label_vectors
        )
    res = analyse(
        audit,
        vectors=emb.vectors,
        label_vectors=emb.label_vectors,
        watch=watch.assignment,
        person_rows=person_rows(audit, list(cfg.groups.protected), list(watch.person_labels)),
        groups_cfg=cfg.groups,
        scan_cfg=cfg.scan,
        detectors=detectors,
        examples_per_finding=cfg.review.examples_per_finding,
        # Inputs and labels share one space only when both were embedded by the same model.
        shared_space=emb.label_model is not None and emb.label_model == emb.input_model,
        timer=t, config_path=cfg.path, count=(counter := cell_counter(cfg.engine)),  # here, or Ray tasks
    )
    outcome, groups, counts = res.outcome, res.groups, res.counts
    clusters = ClusterInfo.from_json(res.clusters.info)
    findings = outcome.findings
    untested = untested_by_reason(groups.untested, cfg.groups.min_group_size)
    if len(groups) == 0:
        why = ", ".join(f"{n} {r}" for r, n in untested.items())
        log.warning(
            "%s: no group was tested (%s), so this scan cannot find anything; lower groups.min_group_size "
            "or scan more samples",
            cfg.path,
            why or "no groups formed",
        )

    # Status against the baseline run: new / persisting / regressed, and the resolved ones.
    resolved_rows, comparison = findings.iloc[0:0], None
    if base is not None:
        now = RunNow(clusters, audit.input_hashes.get("samples"), emb.input_model, audit.kept_positives, audit.labels, groups)
        cmp = compare_with_run(ws, base, findings, now, fdr=cfg.scan.fdr)
        findings, resolved_rows, comparison = cmp.findings, cmp.resolved, cmp.mode
    resolved = resolved_rows["finding_id"].tolist()
    findings = carry_reviews(ws, ReviewStore(ws.db_path), _model_key(cfg), findings, fdr=cfg.scan.fdr)
    if (findings["status"] == "dismissed").any():
        # Suppressed: listed (with their reason) after every open finding.
        findings = pd.concat(
            [findings[findings["status"] != "dismissed"], findings[findings["status"] == "dismissed"]], ignore_index=True
        )

    level_counts = findings["severity_level"].value_counts().to_dict() if len(findings) else {}
    record = RunRecord(
        run_id=new_run_id(),
        config_name=cfg.name,
        created_at=now_iso(),
        config_path=str(cfg.path),
        config=json.loads(cfg.model_dump_json()),
        model=ModelRef(cfg.model_info.name, cfg.model_info.version),
        inputs=dict(audit.input_hashes),
        inputs_hash=hashlib.sha256(json.dumps(audit.input_hashes, sort_keys=True).encode()).hexdigest()[:16],
        baseline=base.run_id if base else None,
        baseline_model=ModelRef(base.model_name, base.model_version) if base else None,
        comparison=comparison,
        embedding=EmbeddingInfo.of(emb), engine=EngineInfo.of(cfg.engine, counter),
        clusters=clusters,
        detector_facts=outcome.extra,
        watchlist=WatchlistInfo(
            str(watch.path) if watch.path else None, watch.categories, watch.labels_matched, watch.labels_expanded
        ),
        counts=Counts(
            samples=audit.n_samples,
            labels=audit.n_labels,
            prediction_rows=audit.n_prediction_rows,
            positives=audit.n_positives,
            groups_tested=len(groups),
            groups_untested=len(groups.untested),
            groups_untested_by_reason=untested,
            cells_nonzero=len(counts),
            findings=len(findings),
            findings_by_level={k: int(v) for k, v in level_counts.items()},
            pairs=int(findings[["label", "group"]].drop_duplicates().shape[0]) if len(findings) else 0,
            pairs_by_level=pair_level_counts(findings),
            open_pairs_by_level=pair_level_counts(findings, GATED_OPEN),
            resolved_since_baseline=len(resolved),
            by_status={k: int(v) for k, v in findings["status"].value_counts().items()} if len(findings) else {},
        ),
        families=tuple(FamilyRecord.from_json(f) for f in outcome.families),
        detectors=dict(outcome.detectors),
        resolved=tuple(resolved),
        untested_groups=tuple({"group": g, "reason": r} for g, r in groups.untested[:200]),
    )
    record = record.with_timings({**t.timings, "total": round(time.perf_counter() - t_start, 3)})
    all_rows = pd.concat([findings, resolved_rows], ignore_index=True) if len(resolved_rows) else findings
    run_dir = ws.write_run(record, all_rows, positives=(audit.kept_positives, audit.labels))
    return ScanResult(record=record, run_dir=run_dir, findings=all_rows)


def run_report(cfg: Config, *, run: str | None = None) -> Path:
    """Write the self-contained HTML report of a run (default: the latest) into its folder."""
    from tagscan.inputs import read_sample_table
    from tagscan.outputs.html import build_report, write_report

    ws = Workspace(cfg.workspace_dir)
    entry = ws.resolve_run(run, cfg.name, model_name=cfg.model_info.name)
    record = ws.load_record(entry.run_id)
    findings = ws.load_findings(entry.run_id)
    samples = None
    if len(findings) and cfg.data.samples.exists():
        samples = read_sample_table(cfg, all_columns=True)  # attributes and link columns, for samples without inputs
    html = build_report(record, findings, samples=samples, image_root=cfg.data.samples.parent,
                        link=cfg.review.link, show=cfg.review.show)
    return write_report(ws.report_path(entry.run_id), html)


def run_labels_like(cfg: Config, text: str, *, k: int = 10) -> pd.DataFrame:
    """The labels nearest to ``text`` in the output space (the label index of the workspace)."""
    if not text.strip():
        raise UsageError("--like is empty; pass the text to look up, e.g. --like \"ape\"")
    audit = load_audit_set(cfg)
    emb = run_embed(cfg, audit=audit, need_labels=True)
    index = emb.label_index
    sims, ids = index.search(emb.terms.embed([text]), min(k, index.ntotal))
    keep = ids[0] >= 0
    rows = ids[0][keep]
    label_counts = audit.positive_store().label_counts()
    return pd.DataFrame(
        {
            "label": audit.labels[rows],
            "name": audit.label_names[rows],
            "similarity": np.round(sims[0][keep].astype(np.float64), 4),
            "predicted": label_counts[rows].astype(np.int64),
        }
    )


def run_neighbors(cfg: Config, sample_id: str, *, k: int = 10, labels_per_sample: int = 5) -> pd.DataFrame:
    """The inputs nearest to one sample (the input index of the workspace), with their top labels."""
    audit = load_audit_set(cfg)
    ids = audit.sample_ids
    hit = np.flatnonzero(ids == str(sample_id))
    if len(hit) == 0:
        raise UsageError(
            f"sample_id '{sample_id}' is not in samples ({cfg.data.samples}); pass a sample_id from that table"
        )
    audit.require_inputs("neighbors", cfg.path)
    emb = run_embed(cfg, audit=audit, need_labels=False)
    index = emb.input_index
    sims, rows = index.search(emb.vectors[hit], min(k + 1, index.ntotal))
    keep = (rows[0] >= 0) & (rows[0] != hit[0])  # the sample itself is not its own neighbour
    rows, sims = rows[0][keep][:k], sims[0][keep][:k]
    labels = audit.top_labels(rows, labels_per_sample)
    out = pd.DataFrame({"sample_id": ids[rows], "similarity": np.round(sims.astype(np.float64), 4), "labels": labels})
    for col in sample_columns():  # each input column the samples have (text, image), as in the table
        if col in audit.samples.columns:
            out.insert(2, col, audit.samples[col].to_numpy(dtype=object)[rows])
    return out


def run_diff(cfg: Config, run_a: str, run_b: str) -> pd.DataFrame:
    """Findings of two runs side by side: only in A (gone in B), only in B (new), and in both."""
    ws = Workspace(cfg.workspace_dir)
    # Either run may be of another config in the workspace: two models' runs over the same data compare too.
    a = ws.resolve_run(run_a, cfg.name, given_as="RUN_A", any_config=True)
    b = ws.resolve_run(run_b, cfg.name, given_as="RUN_B", any_config=True)
    return diff_runs(ws, a, b)


# -- review -------------------------------------------------------------------------------------

def _review_parts(cfg: Config):
    from tagscan.review import ReviewStore, backend_from_config

    ws = Workspace(cfg.workspace_dir)
    # review.backend is looked up here (ConfigError naming the key and the valid backends); the backend reads
    # its secrets now (Label Studio: $<review.api_key_env>, a ConfigError when unset).
    backend = backend_from_config(cfg.review, source=cfg.path)
    return ws, backend, ReviewStore(ws.db_path)


def _model_key(cfg: Config) -> str:
    """Verdicts are kept per model name (not version), so they carry over between versions."""
    return cfg.model_info.name


@dataclass(frozen=True)
class PushOutcome:
    run_id: str
    n_findings: int  # open findings pushed
    below_level: dict[str, int]  # open findings left out, per severity level under min_level
    receipt: object  # tagscan.review.PushReceipt


def run_review_push(
    cfg: Config,
    *,
    run: str | None = None,
    recreate: bool = False,
    lock_timeout: float | None = None,
    min_level: str | None = None,
) -> PushOutcome:
    """Push the review examples of a run's open findings (default: the latest run) to Label Studio.

    Only findings at or above ``min_level`` (default ``review.min_level``, ``high``) are pushed; the
    ones left out are counted per level in the outcome.

    Waits up to ``lock_timeout`` seconds (None: the default, 300) while another push or pull of the same
    model runs in this workspace.
    """
    from tagscan.inputs import read_sample_table
    from tagscan.review import push
    from tagscan.review.store import DEFAULT_LOCK_TIMEOUT

    ws, backend, store = _review_parts(cfg)
    rec = ws.resolve_run(run, cfg.name, model_name=_model_key(cfg))
    if rec.model_name != _model_key(cfg):
        # Verdicts are kept per model: another model's findings do not belong in this model's project.
        raise UsageError(
            f"--run '{run}' is run {rec.run_id} of model '{rec.model_name}', but {cfg.path} reviews model "
            f"'{_model_key(cfg)}'; pass a run of that model (see 'tagscan runs CONFIG')"
        )
    level = min_level or cfg.review.min_level
    if level not in LEVELS:
        raise UsageError(f"--min-level must be one of {', '.join(LEVELS)}; got {level!r}")
    open_rows, below = select_for_review(ws.load_findings(rec.run_id), level)
    samples = read_sample_table(cfg, all_columns=True)
    receipt = push(
        open_rows,
        samples,
        backend=backend,
        store=store,
        model_key=_model_key(cfg),
        project_title=f"tagscan review: {cfg.model_info.name}",
        input_kind=cfg.embed.input if cfg.embed.input in samples.columns else "record",  # no inputs: a record
        link=cfg.review.link,
        show=cfg.review.show,
        run_id=rec.run_id,
        image_root=cfg.data.samples.parent,
        recreate=recreate,
        lock_timeout=DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout,
    )
    return PushOutcome(rec.run_id, len(open_rows), below, receipt)


def run_review_pull(cfg: Config, *, lock_timeout: float | None = None) -> pd.DataFrame:
    """Pull reviewers' verdicts; one row per pushed finding with its label and group (waits for a running
    push of the same model like :func:`run_review_push`)."""
    from tagscan.review import pull
    from tagscan.review.store import DEFAULT_LOCK_TIMEOUT

    ws, backend, store = _review_parts(cfg)
    timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    out = pull(backend=backend, store=store, model_key=_model_key(cfg), lock_timeout=timeout,
               min_verdicts=cfg.review.min_verdicts, dismiss_max_wrong=cfg.review.dismiss_max_wrong)
    cat = ws.latest_findings(_model_key(cfg))
    out = out.merge(cat, on="finding_id", how="left")
    comments = store.finding_comments(_model_key(cfg))
    out["comments"] = [" | ".join(comments.get(fid, [])) or None for fid in out["finding_id"]]
    # Verdicts first (confirmed, dismissed, then the rest), most severe first within each.
    order = out["review_status"].map({"confirmed": 0, "dismissed": 1}).fillna(2)
    out = out.assign(_o=order).sort_values(["_o", "severity"], ascending=[True, False], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True)
