"""Groups of samples: attribute values, their intersections, and clusters of the embedding space.

A group lives inside a *universe*: the samples for which its definition applies. An attribute group
``skin_tone=dark`` lives among the samples whose ``skin_tone`` is not null (null = not applicable,
so a landscape photo is neither inside nor outside a skin-tone group); an intersection among the
samples where all of its attributes are set; a cluster among all samples. Rates "outside" a group
are rates in its universe minus the group.

The membership matrix is sparse (samples x groups, one-hot per grouping), built without a loop
over samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Groups", "build_groups", "complements", "group_id_for", "people_views", "untested_by_reason"]

ALL = "all samples"


@dataclass(frozen=True, eq=False)
class Groups:
    """The tested groups of one scan.

    - ``ids``: group ids (``skin_tone=dark``, ``skin_tone=dark & gender=man``, ``cluster:k16/3``).
    - ``kinds``: ``attribute`` | ``intersection`` | ``cluster``.
    - ``membership``: CSC int8 (n_samples x n_groups).
    - ``universe``: per group, the column of ``universes`` it is tested within.
    - ``universes``: CSC int8 (n_samples x n_universes); column 0 is all samples.
    - ``universe_names``: e.g. ``all samples``, ``skin_tone set``, ``skin_tone & gender set``.
    - ``sizes`` / ``universe_sizes``: int64 per group.
    - ``untested``: ids of groups left out, with the reason (``below min_group_size`` ...).
    - ``aliases``: group id -> the other names of the same member set in the same universe (a cluster
      identical at k=16 and k=64 is tested once, under its first name, and named both ways).
    - ``view_of``: per group, -1, or the index of the group it restricts to the samples that show people
      (:func:`people_views`); None when no view was made.
    """

    ids: np.ndarray
    kinds: np.ndarray
    membership: sp.csc_matrix
    universe: np.ndarray
    universes: sp.csc_matrix
    universe_names: tuple[str, ...]
    sizes: np.ndarray
    universe_sizes: np.ndarray
    untested: tuple[tuple[str, str], ...] = ()
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    view_of: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, group_id: str) -> int:
        hits = np.flatnonzero(self.ids == group_id)
        if len(hits) == 0:
            raise KeyError(group_id)
        return int(hits[0])

    def members(self, g: int) -> np.ndarray:
        """Row numbers of the members of group ``g`` (sorted)."""
        M = self.membership
        return M.indices[M.indptr[g] : M.indptr[g + 1]].astype(np.int64)


def group_id_for(attributes: Sequence[str], values: Sequence[str]) -> str:
    return " & ".join(f"{a}={v}" for a, v in zip(attributes, values))


def _one_hot(codes: np.ndarray, n_codes: int) -> sp.csc_matrix:
    """samples x codes one-hot for codes >= 0 (negative codes belong to no column)."""
    rows = np.flatnonzero(codes >= 0)
    return sp.csc_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, codes[rows])), shape=(len(codes), n_codes)
    )


def _joined_keys(cols: list[np.ndarray]) -> np.ndarray:
    """Per row, its values joined by ``\\x1f`` (as strings); each distinct combination is built once and
    shared by its rows, so memory is one pointer per row, not one string."""
    codes, uniques = zip(*(pd.factorize(pd.Series(c).astype(str)) for c in cols))
    dims = tuple(max(len(u), 1) for u in uniques)
    combined = np.ravel_multi_index(tuple(np.asarray(c, dtype=np.int64) for c in codes), dims)
    distinct, inverse = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(distinct, dims)
    joined = np.array(["\x1f".join(str(u[i]) for u, i in zip(uniques, idx)) for idx in zip(*parts)], dtype=object)
    return joined[inverse.ravel()]


def build_groups(
    samples: pd.DataFrame,
    *,
    attributes: Sequence[str],
    intersections: Sequence[Sequence[str]] = (),
    clusters: Mapping[int, np.ndarray] | None = None,
    cluster_universe: np.ndarray | None = None,
    min_group_size: int = 30,
) -> Groups:
    """Build the membership matrix of every testable group.

    ``clusters`` maps a granularity k to an assignment array (int64 per sample, -1 for none).
    ``cluster_universe`` (bool per sample) is where clusters are tested: the held-out half of the
    samples when clusters were fitted on the other half; None means all samples.
    A group is tested when it has at least ``min_group_size`` members and at least one sample of
    its universe lies outside it.
    """
    n = len(samples)
    blocks: list[sp.csc_matrix] = []
    ids: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    universe_of: list[np.ndarray] = []
    uni_cols: list[np.ndarray] = [np.ones(n, dtype=bool)]
    uni_names: list[str] = [ALL]

    def add(keys: np.ndarray, valid: np.ndarray, name_of, kind: str, uni_mask: np.ndarray | None, uni_name: str) -> None:
        codes = np.full(n, -1, dtype=np.int64)
        if valid.any():
            c, uniques = pd.factorize(keys[valid], sort=True)
            codes[valid] = c
        else:
            uniques = np.array([], dtype=object)
        if uni_mask is None:
            u = 0
        elif uni_name in uni_names:
            u = uni_names.index(uni_name)
        else:
            u = len(uni_cols)
            uni_cols.append(uni_mask)
            uni_names.append(uni_name)
        blocks.append(_one_hot(codes, len(uniques)))
        ids.append(np.array([name_of(v) for v in uniques], dtype=object))
        kinds.append(np.full(len(uniques), kind, dtype=object))
        universe_of.append(np.full(len(uniques), u, dtype=np.int64))

    for a in attributes:
        col = samples[a].to_numpy(dtype=object)
        valid = pd.notna(col)
        add(col, valid, lambda v, a=a: f"{a}={v}", "attribute", valid, f"{a} set")

    for combo in intersections:
        cols = [samples[a].to_numpy(dtype=object) for a in combo]
        valid = np.logical_and.reduce([pd.notna(c) for c in cols])
        keys = np.full(n, None, dtype=object)
        if valid.any():
            keys[valid] = _joined_keys([c[valid] for c in cols])
        add(
            keys,
            valid,
            lambda v, combo=combo: group_id_for(combo, str(v).split("\x1f")),
            "intersection",
            valid,
            " & ".join(combo) + " set",
        )

    cu = None if cluster_universe is None else np.asarray(cluster_universe, dtype=bool)
    for k, assign in sorted((clusters or {}).items()):
        assign = np.asarray(assign, dtype=np.int64)
        valid = assign >= 0 if cu is None else (assign >= 0) & cu
        add(assign, valid, lambda v, k=k: f"cluster:k{k}/{int(v)}", "cluster", cu, "held-out half" if cu is not None else ALL)

    M = sp.hstack(blocks, format="csc") if blocks else sp.csc_matrix((n, 0), dtype=np.int8)
    gid = np.concatenate(ids) if ids else np.array([], dtype=object)
    gkind = np.concatenate(kinds) if kinds else np.array([], dtype=object)
    guni = np.concatenate(universe_of) if universe_of else np.array([], dtype=np.int64)
    U = sp.csc_matrix(np.column_stack(uni_cols).astype(np.int8))
    sizes = np.diff(M.indptr).astype(np.int64)
    usizes = np.asarray(U.sum(axis=0)).ravel().astype(np.int64)[guni]

    small = sizes < min_group_size
    whole = sizes >= usizes
    keep = ~small & ~whole
    untested = tuple(
        [(g, f"below min_group_size ({s} < {min_group_size})") for g, s in zip(gid[small], sizes[small])]
        + [(g, "covers its whole universe: nothing to compare with") for g in gid[whole & ~small]]
    )
    keep_idx = np.flatnonzero(keep)
    keep_idx, aliases = _distinct(M, guni, gid, keep_idx)
    # Drop universes no kept group uses, keeping column 0 (all samples).
    used = np.unique(np.concatenate([[0], guni[keep_idx]]))
    remap = np.full(len(uni_names), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return Groups(
        ids=gid[keep_idx],
        kinds=gkind[keep_idx],
        membership=M[:, keep_idx].tocsc(),
        universe=remap[guni[keep_idx]],
        universes=U[:, used].tocsc(),
        universe_names=tuple(uni_names[i] for i in used),
        sizes=sizes[keep_idx],
        universe_sizes=usizes[keep_idx],
        untested=untested,
        aliases=aliases,
    )


def _member_keys(M: sp.csc_matrix, cols: np.ndarray, universe: np.ndarray) -> list[bytes]:
    """A digest per column of its universe and member rows: equal digests mean the same hypothesis."""
    out = []
    for g in cols:
        h = hashlib.blake2b(int(universe[g]).to_bytes(8, "little"), digest_size=16)
        h.update(np.ascontiguousarray(np.sort(M.indices[M.indptr[g] : M.indptr[g + 1]]), dtype=np.int64).tobytes())
        out.append(h.digest())
    return out


def _distinct(M: sp.csc_matrix, guni: np.ndarray, gid: np.ndarray, keep_idx: np.ndarray):
    """Keep the first of the groups with the same members in the same universe; the others become its aliases.

    Why: the same member set at two granularities (a cluster identical at k=16 and k=64) is one hypothesis;
    testing it twice would count it twice in its family and list the same evidence twice.
    """
    first: dict[bytes, int] = {}
    aliases: dict[str, list[str]] = {}
    kept = []
    for g, key in zip(keep_idx, _member_keys(M, keep_idx, guni)):
        if key in first:
            aliases.setdefault(str(gid[first[key]]), []).append(str(gid[g]))
        else:
            first[key] = int(g)
            kept.append(int(g))
    return np.asarray(kept, dtype=np.int64), {k: tuple(v) for k, v in aliases.items()}


def people_views(groups: Groups, person_rows: np.ndarray, about_people: np.ndarray, *, min_group_size: int = 30) -> Groups:
    """Add, for each group about people whose universe also holds inputs without people, the same group
    restricted to people, tested within its universe's people (``<id> (people)``, universe ``people in <u>``).

    Why: a watchlist label may be legitimately common elsewhere (an animal tag on animal photos); on a
    group of people it must be compared with other people, as a protected attribute's groups already are
    (their universe is where the attribute is set). The views are where watchlist labels are tested on
    those groups (:meth:`tagscan.scan.detectors.ScanContext.family_blocks`); ``view_of`` links each
    view to its group. A view below ``min_group_size``, or covering its whole universe, is not made.
    """
    person = np.asarray(person_rows, dtype=bool)
    n_groups = len(groups)
    U = sp.csc_matrix(groups.universes)
    people_u = np.asarray(U.T @ person.astype(np.int64)).ravel()
    u_sizes = np.diff(U.indptr)
    mixed_u = people_u < u_sizes  # universes holding inputs without people
    M = sp.csc_matrix(groups.membership)
    pcol = person.astype(np.int8)[:, None]
    cand = np.flatnonzero(np.asarray(about_people, dtype=bool) & mixed_u[groups.universe])
    view_of = np.full(n_groups, -1, dtype=np.int64)
    if len(cand) == 0:
        return replace(groups, view_of=view_of)
    V = sp.csc_matrix(M[:, cand].multiply(pcol), dtype=np.int8)
    V.eliminate_zeros()
    v_sizes = np.diff(V.indptr).astype(np.int64)
    new_u = np.unique(groups.universe[cand])
    UP = sp.csc_matrix(U[:, new_u].multiply(pcol), dtype=np.int8)
    UP.eliminate_zeros()
    up_sizes = np.diff(UP.indptr).astype(np.int64)
    u_col = {int(u): len(groups.universe_names) + i for i, u in enumerate(new_u)}
    uni = np.array([u_col[int(u)] for u in groups.universe[cand]], dtype=np.int64)
    usz = up_sizes[np.searchsorted(new_u, groups.universe[cand])]
    ok = (v_sizes >= min_group_size) & (v_sizes < usz)
    keep = np.flatnonzero(ok)
    return Groups(
        ids=np.concatenate([groups.ids, np.array([f"{gid} (people)" for gid in groups.ids[cand[keep]]], dtype=object)]),
        kinds=np.concatenate([groups.kinds, groups.kinds[cand[keep]]]),
        membership=sp.hstack([M, V[:, keep]], format="csc").astype(np.int8),
        universe=np.concatenate([groups.universe, uni[keep]]),
        universes=sp.hstack([U, UP], format="csc").astype(np.int8),
        universe_names=groups.universe_names + tuple(f"people in {groups.universe_names[u]}" for u in new_u),
        sizes=np.concatenate([groups.sizes, v_sizes[keep]]),
        universe_sizes=np.concatenate([groups.universe_sizes, usz[keep]]),
        untested=groups.untested,
        aliases=groups.aliases,
        view_of=np.concatenate([view_of, cand[keep]]),
    )


def complements(groups: Groups) -> np.ndarray:
    """Per group, the index of its complement, or -1: the other group when a universe holds exactly two
    disjoint tested groups that cover it (``a=x`` vs ``a=y``). A label over-represented in one is
    under-represented in the other by the same test, so the pair is tested once."""
    out = np.full(len(groups), -1, dtype=np.int64)
    uni, counts = np.unique(groups.universe, return_counts=True)
    M = sp.csc_matrix(groups.membership, dtype=np.int64)
    for u in uni[counts == 2]:
        a, b = np.flatnonzero(groups.universe == u)
        if groups.sizes[a] + groups.sizes[b] == groups.universe_sizes[a] and (M[:, a].T @ M[:, b]).sum() == 0:
            out[a], out[b] = b, a
    return out


def untested_by_reason(untested: tuple[tuple[str, str], ...], min_group_size: int) -> dict[str, int]:
    """How many groups were left out, per reason (the per-group reasons carry each size)."""
    out: dict[str, int] = {}
    for _, reason in untested:
        key = f"below min_group_size {min_group_size}" if reason.startswith("below min_group_size") else reason.split(":")[0]
        out[key] = out.get(key, 0) + 1
    return out
