"""The label_family detector: near-synonym labels tested as one, so a bug spread thin over them is found.

Families come from the label embeddings (``ctx.label_vectors``):

- Neighbours: every label's ``max_size`` nearest labels by cosine similarity, through
  :class:`tagscan.embed.index.VectorIndex` (exact inner product on L2-normalised rows).
- Clusters: single linkage at cosine >= ``similarity`` (connected components of the
  neighbour graph, computed on its maximum spanning forest, which carries the whole single-linkage
  hierarchy). A cluster with more than ``max_size`` labels is split at its weakest link, level
  by level (all oversized clusters at once per round), until every piece fits: the families are the
  maximal single-linkage clusters of at most ``max_size`` labels, so a chain of loosely
  related labels falls apart into its tight cores. Keeping each label's ``max_size`` nearest
  neighbours loses no edge a family needs: a label with more neighbours above a threshold sits in
  a cluster that is too big at that threshold. Labels that end alone are not in any family (the
  count of those that had a neighbour above the threshold is ``left_out``); labels whose vector is
  zero have no direction and are left out. Only families of at least 2 labels are tested.

Test: ``Y_family = (Y @ F) > 0`` (a sample carries the family when it carries any member; ``F`` is the
labels x families one-hot matrix), counted against every group with one sparse product and tested
exactly like ``association`` (:func:`tagscan.scan.detectors.association.run_family`: one-sided
hypergeometric, Tarone's filter, Benjamini-Hochberg or -Yekutieli per budget). Budgets
(``ScanContext.family_blocks`` over families): ``label_family:watchlist`` holds the families with at
least one watchlist label (a family's watch weight is its members' highest) on groups about people,
and ``label_family:discovery`` every other (family, group) pair.

Test rule ("adds information", folded into the test): a (family, group) pair's p-value is the family's
exact one-sided p-value when it is smaller than the exact one-sided p-value of each of its member
labels alone in that group, and 1 otherwise (a family carried by one strong member adds nothing over
``association``). That is a valid p-value (never below the family's), and Benjamini-Hochberg (or -Yekutieli)
runs on it over the whole family with Tarone's family size, so the findings shown are exactly the
rejections of the correction and their q-values are the ones it gave them. (Until issue 10 the family
p-value was corrected first and the filter dropped rejections afterwards, so the FDR guarantee covered a
set the user did not see.) Because every rejection of the folded test is a rejection of the plain family
test, it is computed from the plain test's rejections: their informative subset is re-adjusted with
the same family size. The family record's ``n_significant`` counts the findings; ``n_not_informative``
counts the pairs the plain family test would have rejected that one member explains (set to 1 by the
rule), so a reader sees what the rule removed; run.json carries it in ``detector_facts`` as
``label_family.label_families.not_informative_<budget>``.

A finding's label is the family's representative: the member closest to the family centroid,
chosen among the members with the family's highest watch weight (so a watchlist family is reported
under a watchlist label and ranked with its weight). ``detail`` lists the members with their counts
in the group and the best single-member p-value. Extra columns: ``family_index`` and
``example_rows`` (sample row numbers for review: group members carrying any member label, best
score first).

Settings (``scan.detectors.label_family``): ``similarity`` (default 0.8; also the older
``scan.family_similarity``), ``max_size`` (default 25). A summary of the families goes to run.json's
``detector_facts`` as ``label_family.label_families``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from tagscan.errors import ConfigError, DataError
from tagscan.inputs.shards import MappedPositives
from tagscan.scan import stats
from tagscan.scan.counts import count_cells
from tagscan.scan.detectors.association import run_family
from tagscan.scan.detectors.base import Detector, DetectorConfig, DetectorResult, ScanContext, register

__all__ = ["LabelFamilies", "LabelFamilyConfig", "LabelFamilyDetector", "label_families"]

log = logging.getLogger(__name__)

NAME = "label_family"
DEFAULT_SIMILARITY = 0.8
DEFAULT_MAX_SIZE = 25
EXAMPLE_CANDIDATES = 32
_SHOW_MEMBERS = 12


@dataclasses.dataclass(frozen=True)
class LabelFamilies:
    """Families of labels: ``family`` (int64 per label, -1 for none), ``representative`` (label index
    per family), ``members`` (CSC labels x families one-hot, int64), ``left_out`` (labels with a
    neighbour above the threshold that ended alone because of the size cap)."""

    family: np.ndarray
    representative: np.ndarray
    members: sp.csc_matrix
    left_out: int

    def __len__(self) -> int:
        return len(self.representative)


def _check_options(similarity: object, max_size: object) -> tuple[float, int]:
    try:
        sim = float(similarity)
    except (TypeError, ValueError):
        sim = float("nan")
    if not 0.0 < sim <= 1.0:
        raise ConfigError(
            f"similarity must be a cosine in (0, 1]; found {similarity!r}. Use e.g. 0.8."
        )
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < 2:
        raise ConfigError(f"max_size must be an integer >= 2; found {max_size!r}. Use e.g. 25.")
    return sim, int(max_size)


def _capped_single_linkage(
    nv: int, src: np.ndarray, dst: np.ndarray, sc: np.ndarray, max_size: int
) -> tuple[np.ndarray, int]:
    """Maximal single-linkage clusters of at most ``max_size`` nodes over the given edges.

    The single-linkage hierarchy lives in the maximum spanning forest of the graph. Every component
    with more than ``max_size`` nodes loses its weakest forest edge(s) (all oversized components at
    once, one level per round) until every piece fits; each node keeps the first piece that fits.
    Returns (piece id per node, number of nodes that had a neighbour in the graph but ended alone
    because of the cap).
    """
    if len(src) == 0:  # no pair of labels is similar enough: every label is its own piece
        return np.arange(nv, dtype=np.int64), 0
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    order = np.lexsort((-sc, hi, lo))
    lo, hi, sc = lo[order], hi[order], sc[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]  # one edge per pair, best score
    lo, hi, sc = lo[first], hi[first], sc[first]
    # Maximum spanning forest = minimum spanning forest of 2 - cosine (> 0, so no edge vanishes).
    A = sp.csr_matrix((2.0 - sc, (lo, hi)), shape=(nv, nv))
    T = minimum_spanning_tree(A).tocoo()
    eu, ev, es = T.row.astype(np.int64), T.col.astype(np.int64), 2.0 - T.data
    alive = np.ones(len(eu), dtype=bool)
    code = np.full(nv, -1, dtype=np.int64)
    next_id = 0
    while True:  # one level of the hierarchy per round
        G = sp.csr_matrix((np.ones(int(alive.sum()), dtype=np.int8), (eu[alive], ev[alive])), shape=(nv, nv))
        ncomp, comp = connected_components(G, directed=False)
        size = np.bincount(comp, minlength=ncomp)
        new = (code < 0) & (size[comp] <= max_size)
        code[new] = next_id + comp[new]
        next_id += ncomp
        over = size > max_size
        cut = alive & over[comp[eu]]
        if not cut.any():
            break
        weakest = np.full(ncomp, np.inf)
        np.minimum.at(weakest, comp[eu[cut]], es[cut])
        alive &= ~(cut & (es <= weakest[comp[eu]]))
    linked = np.zeros(nv, dtype=bool)
    linked[eu], linked[ev] = True, True
    alone = np.bincount(code, minlength=next_id)[code] == 1
    return code, int((linked & alone).sum())


def label_families(
    label_vectors: np.ndarray,
    *,
    similarity: float = DEFAULT_SIMILARITY,
    max_size: int = DEFAULT_MAX_SIZE,
    weights: np.ndarray | None = None,
) -> LabelFamilies:
    """Group labels into families of near-synonyms (see the module docstring for the rule).

    ``weights`` (per label, e.g. watch weights) steer the representative: the member closest to the
    centroid among those with the family's highest weight.
    """
    from tagscan.embed.index import VectorIndex  # faiss lives behind the index module

    similarity, max_size = _check_options(similarity, max_size)
    W = np.asarray(label_vectors, dtype=np.float64)
    if W.ndim != 2:
        raise DataError(f"label_vectors: expected a 2-D (labels x dim) array, found shape {W.shape}")
    L = W.shape[0]
    if not np.isfinite(W).all():
        raise DataError("label_vectors: holds NaN or infinite values; re-embed those labels")
    norms = np.sqrt(np.einsum("ij,ij->i", W, W))
    valid = np.flatnonzero(norms > 0)
    family = np.full(L, -1, dtype=np.int64)
    if len(valid) < 2:
        return LabelFamilies(family, np.zeros(0, dtype=np.int64), sp.csc_matrix((L, 0), dtype=np.int64), 0)
    Wn = np.ascontiguousarray(W[valid] / norms[valid, None], dtype=np.float32)
    nv = len(valid)
    k = min(max_size + 1, nv)
    scores, ids = VectorIndex.build(Wn).search(Wn, k)
    src = np.repeat(np.arange(nv, dtype=np.int64), k)
    dst, sc = ids.ravel(), scores.ravel().astype(np.float64)
    keep = (dst >= 0) & (dst != src) & (sc >= similarity)
    src, dst, sc = src[keep], dst[keep], sc[keep]

    code, left_out = _capped_single_linkage(nv, src, dst, sc, max_size)
    if left_out:
        log.info(
            "%d labels with near-synonyms ended alone under the family size cap (%d)", left_out, max_size
        )
    next_id = int(code.max()) + 1
    fam_size = np.bincount(code[code >= 0], minlength=next_id)
    member = (code >= 0) & (fam_size[np.maximum(code, 0)] >= 2)
    fam_codes, fam = np.unique(code[member], return_inverse=True)
    nf = len(fam_codes)
    lab = valid[member]
    family[lab] = fam
    F = sp.csc_matrix((np.ones(len(lab), dtype=np.int64), (lab, fam)), shape=(L, nf))
    if nf == 0:
        return LabelFamilies(family, np.zeros(0, dtype=np.int64), F, left_out)
    # Representative: closest to the (normalised) centroid among the members of top weight.
    vecs = Wn[member].astype(np.float64)
    cent = sp.csr_matrix((np.ones(len(lab)), (fam, np.arange(len(lab)))), shape=(nf, len(lab))) @ vecs
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-300)
    to_centre = np.einsum("ij,ij->i", vecs, cent[fam])
    w = np.zeros(len(lab)) if weights is None else np.asarray(weights, dtype=np.float64)[lab]
    top_w = np.full(nf, -np.inf)
    np.maximum.at(top_w, fam, w)
    is_top = w >= top_w[fam]
    order = np.lexsort((-lab, to_centre, is_top, fam))  # best last within each family; ties: lower index
    last = np.flatnonzero(np.r_[fam[order][1:] != fam[order][:-1], True])
    rep = lab[order][last]
    return LabelFamilies(family, rep.astype(np.int64), F, left_out)


def _binary_csr(Y: sp.spmatrix) -> sp.csr_matrix:
    B = sp.csr_matrix(Y, dtype=np.int64, copy=True)
    B.data = (B.data != 0).astype(np.int64)
    B.eliminate_zeros()
    return B


def _member_pvalues(ctx: ScanContext, fams: LabelFamilies, g: np.ndarray, f: np.ndarray):
    """For each (group, family) row: the member labels, their counts and exact p-values in the group.

    Returns (row starts into the flat member arrays, member label, member count, member p).
    """
    c, groups = ctx.counts, ctx.groups
    F = fams.members
    lens = np.diff(F.indptr)[f]
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    pos = np.arange(int(lens.sum())) - np.repeat(starts, lens) + np.repeat(F.indptr[f], lens)
    mlab = F.indices[pos].astype(np.int64)
    mg = np.repeat(g, lens)
    L = len(ctx.labels)
    keys = c.group * L + c.label  # sorted: cells are ordered by (group, label)
    q = mg * L + mlab
    k = np.zeros(len(q), dtype=np.int64)
    if len(keys):
        at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        found = keys[at] == q
        k[found] = c.count[at[found]]
    n = groups.sizes[mg]
    K = c.universe_label_counts[groups.universe[mg], mlab]
    N = groups.universe_sizes[mg]
    p = stats.hypergeom_upper_tail(k, n, K, N)
    return starts, mlab, k, p


def _examples(ctx: ScanContext, fams: LabelFamilies, rows: pd.DataFrame) -> list[np.ndarray]:
    """Review candidates per finding: group members with any member label, best score first."""
    F = fams.members  # labels x families, CSC: a family's member labels are its column's indices
    S = ctx.score_columns(np.unique(F[:, np.unique(rows["family_index"].to_numpy(dtype=np.int64))].indices))
    out = []
    for g, f in zip(rows["group_index"], rows["family_index"]):  # one list per finding
        labs = F.indices[F.indptr[f] : F.indptr[f + 1]]
        parts = [
            (S.indices[S.indptr[j] : S.indptr[j + 1]], S.data[S.indptr[j] : S.indptr[j + 1]]) for j in labs
        ]
        r = np.concatenate([p[0] for p in parts]).astype(np.int64)
        v = np.concatenate([p[1] for p in parts]).astype(np.float64)
        keep = np.isin(r, ctx.groups.members(int(g)))
        r, v = r[keep], v[keep]
        order = np.lexsort((-v, r))
        r, v = r[order], v[order]
        first = np.r_[True, r[1:] != r[:-1]]  # each sample once, with its best score
        r, v = r[first], v[first]
        out.append(r[np.lexsort((r, -v))][:EXAMPLE_CANDIDATES])
    return out


def _any_member(Y: sp.spmatrix, Mf: sp.csr_matrix) -> sp.csr_matrix:
    """Per sample, whether it has any member label of each family (0/1 int8 CSR)."""
    Yf = sp.csr_matrix(_binary_csr(Y) @ Mf)
    Yf.data = (Yf.data > 0).astype(np.int8)
    Yf.eliminate_zeros()
    return Yf


class LabelFamilyConfig(DetectorConfig):
    """``similarity``: the cosine at which two labels are near-synonyms; ``max_size``: the most labels in
    one family."""

    similarity: float = Field(default=DEFAULT_SIMILARITY, gt=0.0, le=1.0)
    max_size: int = Field(default=DEFAULT_MAX_SIZE, ge=2)


@register
class LabelFamilyDetector(Detector):
    """Families of near-synonym labels over-represented in a group, when no member alone explains it."""

    name = NAME
    Config = LabelFamilyConfig
    requires = ("label_vectors",)
    direction = "over"
    pairs_predictions = False  # rescans: the family's pooled count (any member), not its representative label
    legacy = {"similarity": "family_similarity"}

    def run(self, ctx: ScanContext, config: LabelFamilyConfig) -> DetectorResult:
        sim, max_size = _check_options(config.similarity, config.max_size)
        L = len(ctx.labels)
        lv = np.asarray(ctx.label_vectors)
        if lv.ndim != 2 or lv.shape[0] != L:
            raise DataError(
                f"label_vectors: expected one row per label ({L}), found shape {lv.shape}; "
                "embed the label names in the label index order"
            )
        weight = np.asarray(ctx.watch_weight, dtype=np.float64)
        fams = label_families(lv, similarity=sim, max_size=max_size, weights=weight)
        nf = len(fams)
        fam_w = np.zeros(nf)
        if nf:
            F = fams.members.tocoo()
            np.maximum.at(fam_w, F.col, weight[F.row])
        summary = {
            "similarity": sim,
            "max_size": max_size,
            "n_families": nf,
            "n_labels_in_families": int((fams.family >= 0).sum()),
            "largest": int(np.diff(fams.members.indptr).max()) if nf else 0,
            "left_out": fams.left_out,
        }
        if nf == 0:
            empty = [
                {
                    "name": f"{NAME}:{b}",
                    "n_labels": 0,
                    "n_pairs": 0,
                    "n_testable": 0,
                    "tarone_level": 0.0,
                    "n_significant": 0,
                    "n_reported": 0,
                    "n_not_informative": 0,
                    "correction": ctx.correction,
                    "alternative": "greater",
                }
                for b in ("watchlist", "discovery")
            ]
            return DetectorResult(pd.DataFrame(), tuple(empty), {"label_families": summary})
        # Per sample, so shard by shard (a shard holds every positive of its samples), never held whole.
        Yf = MappedPositives(ctx.positive_store(), functools.partial(_any_member, Mf=fams.members.tocsr()), fams.members.shape[1])
        rep = fams.representative
        fctx = dataclasses.replace(
            ctx,
            Y=None,
            scores=None,
            positives=Yf,
            labels=ctx.labels[rep],
            label_names=ctx.label_names[rep],
            counts=count_cells(ctx.groups, Yf),
            watch_weight=fam_w,
            watch_category=np.asarray(ctx.watch_category, dtype=object)[rep],
            truth=None,
            vectors=None,
            label_vectors=None,
        )
        frames, records = [], []
        for budget, blocks in fctx.family_blocks().items():
            rows, fam = run_family(fctx, f"{NAME}:{budget}", blocks)
            rec = dataclasses.asdict(fam) if dataclasses.is_dataclass(fam) else dict(fam)
            plain = len(rows)
            rows = self._keep_informative(ctx, fams, rows, sim) if plain else rows
            rec["n_not_informative"] = int(rows.attrs.pop("n_not_informative", 0)) if plain else 0
            rec["n_significant"] = rec["n_reported"] = len(rows)
            summary[f"not_informative_{budget}"] = rec["n_not_informative"]
            records.append(rec)
            if len(rows):
                frames.append(rows)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return DetectorResult(out, tuple(records), {"label_families": summary})

    @staticmethod
    def _keep_informative(
        ctx: ScanContext, fams: LabelFamilies, rows: pd.DataFrame, sim: float
    ) -> pd.DataFrame:
        g = rows["group_index"].to_numpy(dtype=np.int64)
        f = rows["label_index"].to_numpy(dtype=np.int64)
        starts, mlab, mk, mp = _member_pvalues(ctx, fams, g, f)
        best = np.minimum.reduceat(mp, starts)
        p = rows["p_value"].to_numpy(dtype=np.float64)
        informative = p < best
        # The folded test: p-value 1 for a pair one member explains; BH over the family's full size.
        # Every rejection of it is a rejection of the plain test, so its informative subset suffices.
        m = int(rows["family_size"].iat[0])
        adjust = stats.benjamini_yekutieli if ctx.correction == "by" else stats.benjamini_hochberg
        q = np.ones(len(p))
        if informative.any():
            q[informative] = adjust(p[informative], m=max(m, int(informative.sum())))
        keep = informative & (q <= ctx.fdr)
        n_not_informative = int((~informative).sum())
        rows = rows.assign(q_value=q)
        rows = rows.assign(detector=NAME, label_index=fams.representative[f], family_index=f)
        ends = np.r_[starts[1:], len(mlab)]
        details = []
        for i in np.flatnonzero(keep):  # one string per reported finding
            sl = slice(starts[i], ends[i])
            order = np.lexsort((mlab[sl], -mk[sl]))
            names = [f"{ctx.label_names[mlab[sl][j]]} {mk[sl][j]:,}" for j in order[:_SHOW_MEMBERS]]
            more = ends[i] - starts[i] - _SHOW_MEMBERS
            j_best = int(np.argmin(mp[sl]))
            details.append(
                f"family of {ends[i] - starts[i]} near-synonyms (cosine >= {sim:.2f}), counts in group: "
                + ", ".join(names)
                + (f" and {more} more" if more > 0 else "")
                + f"; best single label p={mp[sl][j_best]:.2g} ({ctx.label_names[mlab[sl][j_best]]})"
                + f" vs family p={rows['p_value'].iat[i]:.2g}"
            )
        rows = rows.loc[keep].reset_index(drop=True)
        rows["detail"] = details
        rows["example_rows"] = _examples(ctx, fams, rows)
        rows.attrs["n_not_informative"] = n_not_informative
        return rows
