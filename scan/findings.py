"""The findings table (SPEC columns), group descriptions, review examples and the scan entry point."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tagscan.scan.detectors.base import DetectorConfig, ScanContext, available_detectors, get_detector
from tagscan.scan.detectors.settings import default_settings
from tagscan.scan.expected import expected_reasons
from tagscan.scan.groups import complements
from tagscan.scan.severity import DISCOVERY_HARM, LEVELS, groups_about_people, severity_level, severity_score

__all__ = ["FINDING_COLUMNS", "ScanOutcome", "describe_groups", "finding_id", "pick_examples", "scan"]

log = logging.getLogger(__name__)

FINDING_COLUMNS = [
    "finding_id",
    "detector",
    "label",
    "label_name",
    "group",
    "group_kind",
    "group_description",
    "count",
    "group_size",
    "label_count",
    "universe_size",
    "expected",
    "rate_in_group",
    "rate_in_low",
    "rate_in_high",
    "rate_outside",
    "rate_outside_low",
    "rate_outside_high",
    "lift",
    "lift_low",
    "lift_high",
    "eb05",
    "ebgm",
    "effect",
    "effect_low",
    "effect_observed",
    "effect_expected",
    "p_value",
    "q_value",
    "family",
    "family_size",
    "severity",
    "severity_level",
    "watch_category",
    "about_people",
    "detail",
    "examples",
    "status",
    "baseline_rate",
    "change_q_value",
    "review_note",
    "expected_reason",
]

_LEVEL_ORDER = {"critical": 3, "high": 2, "medium": 1, "low": 0}


def finding_id(detector: str, label: str, group: str, clustering: str | None = None) -> str:
    """Stable id of a (detector, label, group definition).

    A cluster's name (``cluster:k16/13``) is only a number within one clustering: pass the clustering's key
    (:func:`tagscan.scan.clusters.fit_clusters`) for cluster groups, so that cluster 13 of another clustering
    (other samples, other embeddings) is another finding, not the same one persisting or regressed.
    """
    key = group if clustering is None else f"{group}\x1f{clustering}"
    return hashlib.sha1(f"{detector}\x1f{label}\x1f{key}".encode()).hexdigest()[:16]


def pick_examples(
    scores: sp.csc_matrix,
    groups_membership: sp.csc_matrix,
    label_idx: np.ndarray,
    group_idx: np.ndarray,
    k: int,
    *,
    vectors: np.ndarray | None = None,
    diversity: float = 0.5,
    pool: int = 5,
    candidates: list | None = None,
) -> list[np.ndarray]:
    """For each (label, group): up to ``k`` member rows that received the label, for review.

    Highest score first; with ``vectors`` (L2-normalised rows), the choice is kept diverse by
    maximal marginal relevance over the ``pool * k`` best-scored candidates: each next example
    maximises ``score - diversity * (max cosine similarity to the examples already chosen)``, so
    reviewers don't see eight near-duplicates of one photo. A detector may propose its own
    ``candidates`` per finding (rows, best first: e.g. the misses of a true-positive-rate gap); they
    replace the score order and are kept diverse the same way.
    """
    out = []
    for t, (lab, g) in enumerate(zip(label_idx, group_idx)):
        cand_rows = candidates[t] if candidates is not None else None
        if cand_rows is not None and len(cand_rows) > 0:
            rows = np.asarray(cand_rows, dtype=np.int64)
            vals = np.linspace(1.0, 0.5, len(rows))  # their order is the detector's ranking
            order = np.arange(len(rows))
        else:
            rows = scores.indices[scores.indptr[lab] : scores.indptr[lab + 1]]
            vals = scores.data[scores.indptr[lab] : scores.indptr[lab + 1]]
            mem = groups_membership.indices[groups_membership.indptr[g] : groups_membership.indptr[g + 1]]
            inside = np.isin(rows, mem, assume_unique=True)
            rows, vals = rows[inside], vals[inside]
            order = np.lexsort((rows, -vals))
        if vectors is None or len(order) <= k:
            out.append(rows[order[:k]].astype(np.int64))
            continue
        cand = order[: pool * k]
        crow, cval = rows[cand], vals[cand].astype(np.float64)
        V = vectors[crow]
        chosen = [0]
        best_sim = V @ V[0]
        for _ in range(1, min(k, len(cand))):
            gain = cval - diversity * best_sim
            gain[chosen] = -np.inf
            j = int(np.argmax(gain))
            chosen.append(j)
            best_sim = np.maximum(best_sim, V @ V[j])
        out.append(crow[chosen].astype(np.int64))
    return out


def describe_groups(
    ctx: ScanContext,
    *,
    attribute_frame: pd.DataFrame | None = None,
    medoid_text: dict[str, str] | None = None,
    top: int = 3,
) -> np.ndarray:
    """A readable description per group.

    Attribute groups and intersections name the values and the universe; clusters list their most
    over-represented labels (among labels carried by at least 10% of members), their dominant
    attribute values, and the text of their medoid when given.
    """
    desc = _describe_each(ctx, attribute_frame=attribute_frame, medoid_text=medoid_text, top=top)
    groups = ctx.groups
    view_of = groups.view_of if groups.view_of is not None else np.full(len(groups), -1)
    comp = complements(groups)
    for i, gid in enumerate(groups.ids):
        if view_of[i] >= 0:
            desc[i] = (
                f"{desc[view_of[i]]}; here its {groups.sizes[i]:,} members who show people, compared with the "
                f"{groups.universe_sizes[i]:,} {groups.universe_names[groups.universe[i]]}"
            )
            gid = groups.ids[view_of[i]]
        if groups.aliases.get(str(gid)):
            desc[i] += f"; the same members as {', '.join(groups.aliases[str(gid)])} (tested once)"
        if comp[i] >= 0:
            desc[i] += (
                f"; the complement of {groups.ids[comp[i]]} in its universe (over-represented here is "
                f"under-represented there: one test)"
            )
    return desc


def _describe_each(
    ctx: ScanContext,
    *,
    attribute_frame: pd.DataFrame | None,
    medoid_text: dict[str, str] | None,
    top: int,
) -> np.ndarray:
    groups, c = ctx.groups, ctx.counts
    desc = np.empty(len(groups), dtype=object)
    for i, (gid, kind) in enumerate(zip(groups.ids, groups.kinds)):
        uname = groups.universe_names[groups.universe[i]]
        if groups.view_of is not None and groups.view_of[i] >= 0:
            desc[i] = ""
        elif kind != "cluster":
            parts = gid.split(" & ")
            desc[i] = (
                f"{' and '.join(p.replace('=', ' = ') for p in parts)}: {groups.sizes[i]:,} of "
                f"{groups.universe_sizes[i]:,} samples ({uname})"
            )
    cl = np.flatnonzero(groups.kinds == "cluster")
    if len(cl) == 0:
        return desc
    # Distinctive labels per cluster from the non-zero cells (no dense table).
    sel = np.isin(c.group, cl) & (c.count >= np.maximum(3, 0.1 * c.group_size))
    g, lab, k, n, K, N = c.group[sel], c.label[sel], c.count[sel], c.group_size[sel], c.label_count[sel], c.total[sel]
    lift = (k / n) / np.maximum(K / N, 1e-12)
    order = np.lexsort((-lift, g))
    g, lab, lift = g[order], lab[order], lift[order]
    starts = np.searchsorted(g, cl)
    ends = np.searchsorted(g, cl, side="right")
    shares: dict[int, list[str]] = {int(x): [] for x in cl}
    if attribute_frame is not None and len(attribute_frame.columns):
        M = sp.csc_matrix(groups.membership[:, cl], dtype=np.int64)
        for attr in attribute_frame.columns:
            codes, uniq = pd.factorize(attribute_frame[attr], use_na_sentinel=True)
            if len(uniq) == 0:
                continue
            rows = np.flatnonzero(codes >= 0)
            A = sp.csc_matrix((np.ones(len(rows), dtype=np.int64), (rows, codes[rows])), shape=(len(codes), len(uniq)))
            tab = np.asarray((M.T @ A).todense())  # clusters x values (small)
            sizes = groups.sizes[cl]
            best = tab.argmax(axis=1)
            frac = tab[np.arange(len(cl)), best] / np.maximum(sizes, 1)
            for j, x in enumerate(cl):
                if frac[j] >= 0.5:
                    shares[int(x)].append(f"{attr}={uniq[best[j]]} ({frac[j]:.0%})")
    for j, x in enumerate(cl):
        names = [str(ctx.label_names[lab[t]]) for t in range(starts[j], min(ends[j], starts[j] + top))]
        bits = [f"cluster of {groups.sizes[x]:,} samples"]
        if names:
            bits.append("distinctive labels: " + ", ".join(names))
        if shares[int(x)]:
            bits.append("mostly " + ", ".join(shares[int(x)]))
        if medoid_text and groups.ids[x] in medoid_text:
            text = str(medoid_text[groups.ids[x]])
            bits.append(f'typical: "{text[:120]}"')
        desc[x] = "; ".join(bits)
    return desc


@dataclass
class ScanOutcome:
    """The ranked findings and, for run.json, every family tested, each detector's status and facts."""

    findings: pd.DataFrame
    families: list[dict] = field(default_factory=list)
    detectors: dict[str, str] = field(default_factory=dict)  # name -> "ran" | "skipped: reason" | "failed: error"
    extra: dict = field(default_factory=dict)  # "<detector>.<fact>" -> value, for run.json's detector_facts


def conservative_effect(f: pd.DataFrame, directions: Mapping[str, str] | None = None) -> np.ndarray:
    """The ratio severity ranks on, >= 1 meaning a stronger harmful effect, from a lower bound.

    Each row ranks on the effect its own detector tested: the row's ``effect_low`` when the detector gives
    one (a conservative ratio already in its harmful direction, e.g. alignment_gap's); else, by the
    detector's ``direction`` (``directions``: name -> "over" | "under"; default: the registry's), for
    over-representation the empirical-Bayes EB05 of observed / expected when available, else the lower
    bound of the lift, and for under-representation the reciprocal of the lift's upper bound.
    """
    if directions is None:
        directions = {name: cls.direction for name, cls in available_detectors().items()}
    nan = np.full(len(f), np.nan)
    lift_low = f["lift_low"].to_numpy(dtype=np.float64)
    eb05 = f["eb05"].to_numpy(dtype=np.float64) if "eb05" in f else nan
    eff = np.where(np.isfinite(eb05), eb05, lift_low)
    under = f["detector"].map(directions).to_numpy() == "under"
    if under.any():
        hi = f["lift_high"].to_numpy(dtype=np.float64)
        eff = np.where(under, np.divide(1.0, hi, out=np.full(len(f), np.inf), where=hi > 0), eff)
    own = pd.to_numeric(f["effect_low"], errors="coerce").to_numpy(dtype=np.float64) if "effect_low" in f else nan
    eff = np.where(np.isfinite(own), own, eff)
    return np.nan_to_num(eff, nan=0.0, posinf=1e6)


def tested_effect(f: pd.DataFrame, under: np.ndarray) -> np.ndarray:
    """The point estimate of the effect each row's own detector tested, in its harmful direction (> 1 worse).

    A detector's own ``effect`` when it gives one (alignment_gap: observed over expected given similarity);
    else, for over-representation, DuMouchel's EBGM when available, else the lift; for under-representation,
    the reciprocal of the lift. :func:`conservative_effect` is its lower bound, the one severity ranks on.
    """
    lift = f["lift"].to_numpy(dtype=np.float64)
    ebgm = f["ebgm"].to_numpy(dtype=np.float64) if "ebgm" in f else np.full(len(f), np.nan)
    eff = np.where(np.isfinite(ebgm), ebgm, lift)
    eff = np.where(under, np.divide(1.0, lift, out=np.full(len(f), np.inf), where=lift > 0), eff)
    own = pd.to_numeric(f["effect"], errors="coerce").to_numpy(dtype=np.float64) if "effect" in f else eff
    return np.where(np.isnan(own), eff, own)


def scan(
    ctx: ScanContext,
    *,
    sample_ids: np.ndarray,
    person_rows: np.ndarray,
    examples_per_finding: int = 8,
    detectors: Mapping[str, DetectorConfig] | None = None,
    attribute_frame: pd.DataFrame | None = None,
    medoid_text: dict[str, str] | None = None,
    clustering: str | None = None,
    benign: Sequence = (),
    watchlist_min_effect: float = 1.5,
) -> ScanOutcome:
    """Run the detectors over the context and assemble the ranked findings table.

    ``detectors``: name -> settings, in run order (:func:`tagscan.scan.detectors.resolve` gives them from
    the config); None runs every registered detector with its defaults. ``clustering`` keys the finding
    ids of cluster groups (see :func:`finding_id`). ``benign``: the ``scan.benign`` rules; findings they cover,
    and labels that restate their group's value, rank low with an ``expected_reason``
    (:func:`tagscan.scan.expected.expected_reasons`). ``person_rows`` (bool per sample: a protected attribute
    set or a person label predicted) decides which groups are about people, unless ``ctx.group_about_people``
    is already set (:func:`tagscan.scan.engine.analyse` sets it, with the people views of its groups).
    ``watchlist_min_effect`` (``scan.watchlist_min_effect``): the conservative effect a watchlist hit on
    people needs to rank as that label's harm, ahead of discovery findings; below it, it ranks as discovery.
    """
    settings = default_settings() if detectors is None else dict(detectors)
    people = ctx.group_about_people
    if people is None:
        people = groups_about_people(ctx.groups.membership, person_rows)
    ctx = replace(ctx, group_about_people=people, detectors_run=tuple(settings))
    frames, families, status, extra = [], [], {}, {}
    for name, config in settings.items():
        cls = get_detector(name)
        if not isinstance(config, cls.Config):
            raise TypeError(
                f"detector '{name}': settings must be a {cls.Config.__name__}, found {type(config).__name__}; "
                "build them with tagscan.scan.detectors.resolve or default_settings"
            )
        det = cls()
        missing = det.missing(ctx, config)
        if missing:
            status[name] = f"skipped: needs {', '.join(missing)}"
            log.info("detector %s skipped: needs %s", name, ", ".join(missing))
            continue
        try:
            res = det.run(ctx, config)
        except Exception as exc:  # noqa: BLE001 - recorded and reported, never swallowed silently
            status[name] = f"failed: {type(exc).__name__}: {exc}"
            log.error("detector %s failed (recorded in run.json): %s: %s", name, type(exc).__name__, exc)
            log.debug("detector %s traceback", name, exc_info=True)
            continue
        status[name] = "ran"
        families.extend(asdict(fam) if is_dataclass(fam) else dict(fam) for fam in res.families)
        extra.update({f"{name}.{k}": v for k, v in res.facts.items()})
        if len(res.findings):
            frames.append(res.findings)
    if not frames:
        return ScanOutcome(pd.DataFrame(columns=FINDING_COLUMNS), families, status, extra)
    f = pd.concat(frames, ignore_index=True)
    for col in FINDING_COLUMNS:
        if col not in f.columns:
            f[col] = None if col == "detail" else np.nan
    groups = ctx.groups
    g = f["group_index"].to_numpy(dtype=np.int64)
    lab = f["label_index"].to_numpy(dtype=np.int64)
    is_watch = f["family"].astype(str).str.endswith("watchlist").to_numpy()
    effect = conservative_effect(f)
    directions = {name: cls.direction for name, cls in available_detectors().items()}
    under = f["detector"].map(directions).to_numpy() == "under"
    # A watchlist label keeps its harm weight on any group (on non-people groups it is tested in the
    # discovery budget and scored with the low non-person sensitivity), but not when it is applied less
    # (under-representation is not the label's harm), nor on people with an immaterial effect.
    material = effect >= watchlist_min_effect
    weighted = (ctx.watch_weight[lab] > 0) & ~under & ~(is_watch & people[g] & ~material)
    harm = np.where(weighted, ctx.watch_weight[lab], DISCOVERY_HARM)
    f["about_people"] = people[g]
    f["effect"] = tested_effect(f, under)
    f["effect_low"] = effect
    f["severity"] = severity_score(harm, people[g], effect)
    f["severity_level"] = severity_level(f["severity"].to_numpy())
    f["expected_reason"] = expected_reasons(
        ctx.labels, ctx.label_names, lab, groups.ids[g], groups.kinds[g], label_vectors=ctx.label_vectors,
        watch_mask=ctx.watch_weight > 0, benign=benign,
    )
    exp = f["expected_reason"].notna().to_numpy()
    f.loc[exp, "severity"] = np.minimum(f.loc[exp, "severity"], dict(LEVELS)["medium"] - 0.1)
    f.loc[exp, "severity_level"] = "low"
    f["label"] = ctx.labels[lab]
    f["label_name"] = ctx.label_names[lab]
    f["group"] = groups.ids[g]
    f["group_kind"] = groups.kinds[g]
    f["group_description"] = describe_groups(ctx, attribute_frame=attribute_frame, medoid_text=medoid_text)[g]
    f["watch_category"] = np.where(ctx.watch_weight[lab] > 0, ctx.watch_category[lab], None)
    f["finding_id"] = [
        finding_id(d, lb, gr, clustering if kind == "cluster" else None)
        for d, lb, gr, kind in zip(f["detector"], f["label"], f["group"], f["group_kind"])
    ]
    cands = None
    if "example_rows" in f.columns:
        cands = [None if not isinstance(v, list | np.ndarray) else v for v in f["example_rows"]]
    ex = pick_examples(
        ctx.score_columns(np.unique(lab)), groups.membership, lab, g, examples_per_finding, vectors=ctx.vectors,
        candidates=cands,
    )
    f["examples"] = [list(sample_ids[r]) for r in ex]
    f["status"] = "new"
    # Watchlist hits on groups of people with a material effect come first; then by severity, ties (the
    # score saturates at 16x) broken by the conservative effect, then q.
    f["_tier"] = np.where(is_watch & people[g] & material, 0, 1)
    f["_effect"] = effect
    f = f.sort_values(
        ["_tier", "severity", "_effect", "q_value", "finding_id"], ascending=[True, False, False, True, True]
    )
    return ScanOutcome(f[FINDING_COLUMNS].reset_index(drop=True), families, status, extra)
