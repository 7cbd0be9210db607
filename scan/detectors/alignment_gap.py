"""The alignment_gap detector: a label applied to a group more often than its content's likeness to the label explains.

Only meaningful when inputs and label names live in one embedding space (the same text model
embedded both, or a CLIP-style pair): the detector requires ``vectors``, ``label_vectors`` and
``ctx.shared_space`` true, and is skipped with that reason otherwise.

Why it conditions on the similarity: a test that compares the similarity of the group's positives
with that of the other positives (the earlier design, a Welch t) assumes the group sits where everyone
else sits in the embedding space. It does not whenever the embedding encodes the group (skin-tone words
move a caption's vector, colour moves an image's; a k-means cluster by construction), and then one rule
applied alike to everyone, ``y = [cos(v, w) > 0.35]``, gave 6-16 findings of 60 tests over 5 seeds.

Test, per (group, label) in a universe. ``s_i = cos(v_i, w_l)`` is computed for every input of the
universe (dense row blocks of ``V @ W.T``: O(samples x labels x dim), the cost of one exhaustive kNN
pass). The inputs with a defined similarity are cut into ``strata`` (up to :data:`MAX_STRATA`, at
least :data:`MIN_PER_STRATUM` inputs each on average) at the quantiles of ``s`` over all samples. Null:
within a stratum, whether an input got the label does not depend on the group, i.e. the rule is the
same function of the similarity for everyone, wherever the group sits. Conditional on the stratum
margins, the group's count in stratum b is hypergeometric (``n_b`` group members among ``N_b``
universe inputs, ``K_b`` of them positive); the observed count ``O`` is their sum over strata (a
Cochran-Mantel-Haenszel count), with mean ``E = sum n_b K_b / N_b``. A hypergeometric variable is a sum
of independent Bernoulli variables (its generating function has real roots), so ``O`` is one too, with
at most ``T = sum min(n_b, K_b)`` terms; by Hoeffding (1956, Theorem 4) its upper tail is at most the
binomial ``P(Bin(T, E / T) >= O)`` whenever ``O >= E + 1``. That bound is the p-value (``1`` when
``O < E + 1``): valid for every group size and every skew of similarities, conservative rather than
approximate (the Welch t with few skewed inputs had P(p < 0.01) = 0.054).
One-sided: the harm is the group getting the label where the similarity does not explain it (the
planted case: a label applied to a group's inputs at caption-label similarity ~0.15 where the
label's own captions sit at ~0.69).

What the null covers, and what not: any rule that is the same function of the input-label similarity
for everyone (deterministic or random), whatever the group's place in the space. A rule that uses
content the similarity does not capture (a tagger correct on things the label name does not describe)
is outside the null; within a stratum a group that differs in such content can show a real, not
harmful, excess. Clusters are left out for that reason: they are cut from the very content a
legitimate tagger reads, so at equal similarity to a label a cluster differs in content by
construction (on the demo's photo tagger 262 of 383 findings were clusters); attribute groups and
intersections are tested, and over-application to a cluster stays ``association``'s to find. A label
that names a value of a grouping attribute ('man', 'woman' when ``gender`` is grouped; found as
:func:`tagscan.scan.expected.restating_pairs` finds 'man' on gender=man) is left out on every group: it follows
who is pictured, which the attribute records and the similarity does not (a perfect caption tagger tags "a
tan girl" 'woman' at a similarity "a light-skinned woman" does not need, and on MiniLM captions that gave
'woman' on skin_tone=medium at 1.07x in 4 of 10 fair seeds). association and error_gap test such labels. The
labels left out are the fact ``attribute_value_labels_left_out``.

The residual bias of finite strata is bounded by
the stratum containing a rule's threshold, and the Hoeffding bound's slack covers it in the calibration
tests (tests/scan/test_alignment_gap.py).

Policies:

- **Testability**: Tarone's filter on the smallest attainable p, ``(E / T) ** T`` (1 when
  ``T < E + 1``), over every (group, label) pair of the budget with a positive in its universe; then
  Benjamini-Hochberg (or Benjamini-Yekutieli with ``ctx.correction == "by"``) on the testable pairs
  with Tarone's family size, per budget (``alignment_gap:watchlist``: watchlist labels on groups about
  people; ``alignment_gap:discovery``: every other pair; as given by ``ScanContext.family_blocks``).
- **Zero vectors**: an input or label vector of norm 0 has no direction and no similarity; such inputs
  are left out of every stratum (they still count in the label rates), a label without a direction
  is not tested.

Row columns: ``count``, ``group_size``, ``label_count``, ``universe_size``, ``expected``, the rates and
the lift are those of the label itself (as in ``association``), for context; the tested effect is
``effect`` (``O / E``: the group's count of the label over the count its similarities explain) with
``effect_low``, its conservative lower bound (``T`` times the one-sided 97.5% Clopper-Pearson lower
bound of ``O / T``, over ``E``; at least 1), and the columns ``expected_given_similarity`` (``E``),
``similarity_in`` / ``similarity_outside`` (mean similarity of the positives inside and outside),
``strata``, ``detail`` and ``example_rows`` (sample row numbers for review: the group's inputs that
received the label and look least like it, first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from scipy import stats as sps

from tagscan.errors import DataError
from tagscan.scan import stats
from tagscan.scan.detectors.base import (
    Change,
    Detector,
    DetectorConfig,
    DetectorResult,
    ScanContext,
    cell_table,
    gap_change,
    register,
)
from tagscan.scan.expected import restating_pairs

__all__ = [
    "AlignmentGapConfig",
    "AlignmentGapDetector",
    "MAX_STRATA",
    "MIN_PER_STRATUM",
    "effect_change",
    "positive_similarities",
    "similarity_strata_test",
]

NAME = "alignment_gap"
MAX_STRATA = 50
MIN_PER_STRATUM = 20
EXAMPLE_CANDIDATES = 32
_BLOCK = 8192  # positives per block of row-wise dot products
_ROWS = 4096  # inputs per block of the dense similarity pass
#: Input-label similarities the pass computes at most by default (inputs x labels): 2e9 is about 10
#: minutes on 2 CPU cores at 384 dimensions, e.g. 200,000 inputs x 10,000 labels.
DEFAULT_MAX_PAIRS = 2_000_000_000


def _as_vectors(x: np.ndarray, what: str, rows: int, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] != rows or (dim is not None and arr.shape[1] != dim):
        want = f"({rows}, {dim if dim is not None else 'dim'})"
        raise DataError(
            f"{what}: expected a {want} array, found shape {arr.shape}; embed every "
            f"{'sample' if what == 'vectors' else 'label'} in order with the same model"
        )
    for start in range(0, len(arr), _ROWS * 16):  # in row blocks: the inputs may be memory-mapped
        if not np.isfinite(arr[start : start + _ROWS * 16]).all():
            raise DataError(f"{what}: holds NaN or infinite values; re-embed those rows")
    return arr


def positive_similarities(
    Y: sp.csr_matrix, vectors: np.ndarray, label_vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of every positive (non-zero of ``Y``, in CSR order) and whether it is defined.

    Row-wise dot products of ``vectors[rows]`` and ``label_vectors[cols]`` in blocks, in float64.
    Returns ``(similarity, defined)``; similarity is 0 where undefined (a zero vector).
    """
    Y = sp.csr_matrix(Y)
    n_s, L = Y.shape
    V = _as_vectors(vectors, "vectors", n_s)
    W = _as_vectors(label_vectors, "label_vectors", L, V.shape[1])
    vn = np.sqrt(np.einsum("ij,ij->i", V, V, dtype=np.float64))
    wn = np.sqrt(np.einsum("ij,ij->i", W, W, dtype=np.float64))
    rows = np.repeat(np.arange(n_s, dtype=np.int64), np.diff(Y.indptr))
    cols = Y.indices.astype(np.int64)
    sim = np.zeros(len(rows))
    for s in range(0, len(rows), _BLOCK):
        r, c = rows[s : s + _BLOCK], cols[s : s + _BLOCK]
        sim[s : s + _BLOCK] = np.einsum("ij,ij->i", V[r].astype(np.float64), W[c].astype(np.float64))
    denom = vn[rows] * wn[cols]
    defined = denom > 0
    sim = np.divide(sim, denom, out=np.zeros(len(rows)), where=defined)
    return np.clip(sim, -1.0, 1.0), defined


def _unit_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", X, X))
    return np.divide(X, norm[:, None], out=np.zeros_like(X), where=norm[:, None] > 0), norm > 0


def similarity_strata_test(
    observed: np.ndarray, expected: np.ndarray, terms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p-value, smallest attainable p-value and conservative effect of a stratified count.

    ``observed`` is a sum of independent hypergeometric counts with mean ``expected`` and at most
    ``terms`` Bernoulli terms (see the module docstring). By Hoeffding (1956, Theorem 4) the upper
    tail at ``O >= E + 1`` is at most the binomial ``P(Bin(T, E / T) >= O)``; below that, 1. The
    smallest attainable p is the same bound at ``O = T``. ``effect_low`` is ``T`` times the one-sided
    97.5% Clopper-Pearson lower bound of ``O / T``, over ``E``, at least 1.
    """
    obs, exp_, terms = (np.asarray(x, dtype=np.float64) for x in (observed, expected, terms))
    ok = (terms > 0) & (exp_ > 0)
    pbar = np.divide(exp_, terms, out=np.zeros_like(exp_), where=ok).clip(0.0, 1.0)
    bound = ok & (obs >= exp_ + 1.0)
    p = np.ones_like(obs)
    p[bound] = sps.binom.sf(obs[bound] - 1.0, terms[bound], pbar[bound])
    reach = ok & (terms >= exp_ + 1.0)
    min_p = np.ones_like(obs)
    min_p[reach] = np.exp(terms[reach] * np.log(pbar[reach]))
    low = np.zeros_like(obs)
    pos = ok & (obs > 0)
    low[pos] = sps.beta.ppf(0.025, obs[pos], terms[pos] - obs[pos] + 1.0) * terms[pos] / exp_[pos]
    return np.clip(p, 0.0, 1.0), np.clip(min_p, 0.0, 1.0), np.maximum(low, 1.0)


def _recorded(row, key: str) -> float | None:
    v = row.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def effect_change(prev, cur) -> Change:
    """Rescans of alignment_gap: did ``O / E`` grow (see :meth:`AlignmentGapDetector.change`)."""
    o0, e0 = _recorded(prev, "effect_observed"), _recorded(prev, "effect_expected")
    o1, e1 = _recorded(cur, "effect_observed"), _recorded(cur, "effect_expected")
    if None in (o0, e0, o1, e1) or e0 <= 0 or e1 <= 0:
        return gap_change(prev, cur)
    k0, k1 = int(round(o0)), int(round(o1))
    p = float(sps.binom.sf(k1 - 1, k0 + k1, e1 / (e0 + e1))) if k1 > 0 else 1.0
    return Change(
        min(max(p, 0.0), 1.0), k1 * e0 > k0 * e1,
        f"effect given similarity up is worse; conditional binomial ({k0} vs {e0:.1f} expected, then {k1} vs {e1:.1f})",
    )


def _n_strata(n_defined: int) -> int:
    return int(np.clip(n_defined // MIN_PER_STRATUM, 1, MAX_STRATA))


def _strata_counts(ctx: ScanContext, Y: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Per (group, label), dense: O, E, T of the stratified count and the positives' similarity sums.

    One pass over labels; per label the similarity of every input, its stratum, and four sparse
    products with the group and universe membership matrices. Dense groups x labels arrays: the
    test needs every pair's E and T for Tarone's filter, zero cells included.
    """
    groups = ctx.groups
    n_s, L = Y.shape
    V = _as_vectors(ctx.vectors, "vectors", n_s)  # unit rows a block at a time (it may be memory-mapped)
    vdef = np.concatenate([_unit_rows(V[r : r + _ROWS])[1] for r in range(0, n_s, _ROWS)] or [np.zeros(0, bool)])
    W, wdef = _unit_rows(_as_vectors(ctx.label_vectors, "label_vectors", L, V.shape[1]))
    Gt = sp.csc_matrix(groups.membership, dtype=np.float64).T.tocsr()
    Ut = sp.csc_matrix(groups.universes, dtype=np.float64).T.tocsr()
    uni = np.asarray(groups.universe, dtype=np.int64)
    nG = len(groups)
    out = {k: np.zeros((nG, L)) for k in ("O", "E", "T", "k_all", "k_in", "s_in", "k_uni", "s_uni")}
    out["strata"] = np.zeros(L, dtype=np.int64)
    Yc = sp.csc_matrix(Y)
    rows_def = np.flatnonzero(vdef)
    for j0 in range(0, L, 64):  # labels in blocks: one dense (inputs x block) similarity pass
        js = np.arange(j0, min(L, j0 + 64))
        S = np.empty((n_s, len(js)))
        for r in range(0, n_s, _ROWS):
            S[r : r + _ROWS] = _unit_rows(V[r : r + _ROWS])[0] @ W[js].T
        for c, j in enumerate(js):
            if not wdef[j]:
                continue
            s = np.clip(S[:, c], -1.0, 1.0)
            y = np.zeros(n_s, dtype=bool)
            y[Yc.indices[Yc.indptr[j] : Yc.indptr[j + 1]][Yc.data[Yc.indptr[j] : Yc.indptr[j + 1]] != 0]] = True
            B = _n_strata(len(rows_def))
            edges = np.quantile(s[rows_def], np.linspace(0, 1, B + 1)[1:-1]) if B > 1 else np.zeros(0)
            b = np.searchsorted(edges, s[rows_def], side="right")
            Z = sp.csr_matrix((np.ones(len(rows_def)), (rows_def, b)), shape=(n_s, B))
            yd = y[rows_def]
            Zy = sp.csr_matrix((np.ones(int(yd.sum())), (rows_def[yd], b[yd])), shape=(n_s, B))
            n_gb = (Gt @ Z).toarray()
            k_gb = (Gt @ Zy).toarray()
            N_ub = (Ut @ Z).toarray()[uni]
            K_ub = (Ut @ Zy).toarray()[uni]
            out["E"][:, j] = np.divide(n_gb * K_ub, N_ub, out=np.zeros_like(n_gb), where=N_ub > 0).sum(1)
            out["T"][:, j] = np.minimum(n_gb, K_ub).sum(1)
            out["O"][:, j] = k_gb.sum(1)
            out["k_all"][:, j] = Gt @ y.astype(np.float64)
            sy = np.where(y & vdef, s, 0.0)
            out["k_in"][:, j] = Gt @ (y & vdef).astype(np.float64)
            out["s_in"][:, j] = Gt @ sy
            out["k_uni"][:, j] = (Ut @ (y & vdef).astype(np.float64))[uni]
            out["s_uni"][:, j] = (Ut @ sy)[uni]
            out["strata"][j] = B
    return out


def _examples(ctx: ScanContext, sims: sp.csc_matrix, g_idx: np.ndarray, l_idx: np.ndarray) -> list[np.ndarray]:
    """Review candidates per finding: the group's positives that look least like the label first."""
    S = sims
    out = []
    for g, lab in zip(g_idx, l_idx):  # one list per finding
        sl = slice(S.indptr[lab], S.indptr[lab + 1])
        rows, vals = S.indices[sl].astype(np.int64), S.data[sl]
        keep = np.isin(rows, ctx.groups.members(int(g))) & np.isfinite(vals)
        rows, vals = rows[keep], vals[keep]
        out.append(rows[np.lexsort((rows, vals))][:EXAMPLE_CANDIDATES])
    return out


class AlignmentGapConfig(DetectorConfig):
    """``max_pairs``: the most input-label similarities (inputs x labels) the pass may compute; a larger
    scan skips the detector, saying so in run.json (its cost and its dense blocks grow with that product)."""

    max_pairs: int = Field(default=DEFAULT_MAX_PAIRS, ge=1)


@register
class AlignmentGapDetector(Detector):
    """A group gets a label more often than its inputs' similarity to the label explains (stratified count)."""

    name = NAME
    Config = AlignmentGapConfig
    requires = ("vectors", "label_vectors", "shared_space")

    def missing(self, ctx: ScanContext, config: DetectorConfig) -> list[str]:
        """Its requirements, and at most ``max_pairs`` input-label similarities to compute."""
        out = super().missing(ctx, config)
        n_s, L = ctx.shape()
        limit = getattr(config, "max_pairs", DEFAULT_MAX_PAIRS)
        if not out and n_s * L > limit:
            out.append(
                f"at most scan.detectors.{NAME}.max_pairs ({limit:,}) input-label similarities; this scan has "
                f"{n_s:,} inputs x {L:,} labels = {n_s * L:,} (raise max_pairs to run it: about 10 minutes "
                "per 2e9 on 2 CPU cores)"
            )
        return out
    direction = "over"  # rows carry the label's own rates; the tested effect is effect / effect_low

    def change(self, prev, cur, paired):
        """Rescans: the tested effect ``O / E`` (the group's positives over those its similarities explain)
        growing is worse. With both runs' ``effect_observed`` / ``effect_expected`` recorded: the exact
        conditional test of two standardised ratios (given ``O0 + O1``, ``O1`` is binomial with success
        probability ``E1 / (E0 + E1)`` when the ratio did not change; one-sided, upper tail). Conservative when
        the runs share samples (their counts are positively correlated). Rows of the earlier Welch design
        (findings.parquet without those columns) fall back to their similarity gap (:func:`gap_change`)."""
        return effect_change(prev, cur)

    def run(self, ctx: ScanContext, config: DetectorConfig) -> DetectorResult:
        correction = ctx.correction
        Y = ctx.matrices()[0]  # read only; out of core too (its similarity pass is samples x labels anyway)
        st = _strata_counts(ctx, Y)
        p_all, min_p_all, low_all = similarity_strata_test(st["O"], st["E"], st["T"])
        by_label = None  # similarity per positive (inf where undefined), by label, for review examples
        clusters = np.asarray(ctx.groups.kinds) == "cluster"
        # Labels that name an attribute's value ('man', 'woman') follow who is pictured: left out (docstring).
        restating = np.zeros(st["E"].shape, dtype=bool)
        _, rl = restating_pairs(ctx.labels, ctx.label_names, ctx.groups.ids, ctx.groups.kinds, ctx.watch_weight > 0)
        restating[:, np.unique(rl)] = True
        frames, fams = [], []
        for budget, blocks in ctx.family_blocks().items():
            name = f"{NAME}:{budget}"
            in_fam = np.zeros(st["E"].shape, dtype=bool)
            for lm, gm in blocks:
                in_fam |= np.outer(gm, lm)
            in_fam &= ~clusters[:, None] & ~restating  # left out: clusters, labels naming the group (docstring)
            pairs = in_fam & (st["T"] > 0)  # a positive in the universe within the similarity strata
            g, lab = np.nonzero(pairs)
            live = [lm for lm, gm in blocks if gm.any()]
            testable, m_eff = stats.tarone_bh_family(min_p_all[g, lab], ctx.fdr)
            g, lab = g[testable], lab[testable]
            p = p_all[g, lab]
            if len(p):
                adjust = stats.benjamini_yekutieli if correction == "by" else stats.benjamini_hochberg
                q = adjust(p, m=max(m_eff, len(p)))
            else:
                q = np.zeros(0)
            hit = q <= ctx.fdr
            level = float(min_p_all[g, lab].max()) if len(g) else 0.0  # largest testable smallest-p
            fams.append(
                {
                    "name": name,
                    "n_labels": int(np.logical_or.reduce(live).sum()) if live else 0,
                    "n_pairs": int(pairs.sum()),
                    "n_testable": int(m_eff),
                    "tarone_level": level,
                    "n_significant": int(hit.sum()),
                    "correction": correction,
                    "alternative": "greater given similarity (stratified hypergeometric, Hoeffding bound)",
                }
            )
            if not hit.any():
                continue
            gi, li = g[hit], lab[hit]
            rows = self._rows(ctx, name, gi, li, p[hit], q[hit], max(m_eff, len(p)), st, low_all[gi, li])
            if by_label is None:
                sim, defined = positive_similarities(Y, ctx.vectors, ctx.label_vectors)
                w = defined & (Y.data != 0)
                by_label = sp.csr_matrix(
                    (np.where(w, sim, np.inf), Y.indices, Y.indptr), shape=Y.shape
                ).tocsc()
            rows["example_rows"] = _examples(ctx, by_label, gi, li)
            frames.append(rows)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        facts = {
            "strata": {"max": MAX_STRATA, "min_per_stratum": MIN_PER_STRATUM},
            "attribute_value_labels_left_out": sorted(str(x) for x in ctx.labels[np.unique(rl)]),
        }
        return DetectorResult(out, tuple(fams), facts)

    @staticmethod
    def _rows(ctx, name, g, lab, p, q, m, st, effect_low) -> pd.DataFrame:
        groups, uc = ctx.groups, ctx.counts
        uni = np.asarray(groups.universe, dtype=np.int64)[g]
        n = np.asarray(groups.sizes, dtype=np.int64)[g]
        N = np.asarray(groups.universe_sizes, dtype=np.int64)[g]
        K = np.asarray(uc.universe_label_counts[uni, lab]).astype(np.int64).ravel()
        k = np.rint(st["k_all"][g, lab]).astype(np.int64)
        obs, exp_ = st["O"][g, lab], st["E"][g, lab]
        k_in, s_in = st["k_in"][g, lab], st["s_in"][g, lab]
        k_out, s_out = st["k_uni"][g, lab] - k_in, st["s_uni"][g, lab] - s_in
        m_in = np.divide(s_in, k_in, out=np.full(len(g), np.nan), where=k_in > 0)
        m_out = np.divide(s_out, k_out, out=np.full(len(g), np.nan), where=k_out > 0)
        effect = np.divide(obs, exp_, out=np.full(len(g), np.inf), where=exp_ > 0)
        B = st["strata"][lab]
        detail = [
            f"{int(o):,} inputs of the group got the label where {e:.1f} were expected from their similarity to it "
            f"({b} similarity strata): {r:.2f}x, at least {lo:.2f}x; mean cosine of the positives {a:.3f} in group "
            f"vs {c:.3f} outside"
            for o, e, b, r, lo, a, c in zip(obs, exp_, B, effect, effect_low, m_in, m_out)
        ]
        return cell_table(
            detector=NAME, family=name, group_index=g, label_index=lab,
            k=k, n=n, K=K, N=N, p=p, q=q, family_size=m,
            **{
                "expected_given_similarity": exp_,
                "effect": effect,
                "effect_low": effect_low,
                "effect_observed": obs,
                "effect_expected": exp_,
                "similarity_in": m_in,
                "similarity_outside": m_out,
                "strata": B,
                "detail": detail,
            },
        )
