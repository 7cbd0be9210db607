"""Recall and severity ranks of planted harms, and false alarms on harm-free data with a non-people attribute.

For --seeds planted data sets (tagscan.demo.planted.make_planted: an attribute harm, an intersection harm,
and a harm on a hidden subgroup that only a cluster can capture), with two additions (issue 10):

- ``region`` on every input, an attribute that does not describe people (animal photos are mostly from
  the "savanna" region); ``groups.protected`` is [tone, gender];
- item 5's case: a watchlist label ``w_gorilla`` on a third of the animal photos (non-person inputs that
  carry an animal label), on 3% of a second latent group of people (a tight region of the embedding that
  no attribute captures), and on no other person.

It runs the scan engine (`tagscan.scan.engine.analyse`: clusters fitted on one half, tested on the other,
Tarone + BH per family) and reports how often each planted harm is found and its rank. Then, over
--null-seeds harm-free data sets with the same benign structure (region included), it reports the share
with any watchlist finding on a group of people, the mean number of findings at or above high, and the
share of data sets where ``--fail-on high`` would fail.

``--person-rows-from attributes`` marks as people every input with any attribute set, as the pipeline
did before issue 10 (for a before/after comparison on the older code); the default, ``protected``, reads
the protected attributes only (`tagscan.scan.engine.person_rows`).

    .venv/bin/python scripts/bench/bench_planted.py [--seeds 20] [--null-seeds 100] [--samples 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp

from tagscan.config import GroupsConfig, ScanConfig
from tagscan.demo.planted import PLANTED_HARMS, make_planted
from tagscan.inputs import AuditSet
from tagscan.scan.engine import analyse, person_rows
from tagscan.scan.watchlist import WatchAssignment

GROUPS = GroupsConfig(
    attributes=["tone", "gender", "region"], protected=["tone", "gender"], intersections=[["tone", "gender"]],
    clusters=[16, 64], min_group_size=30,
)
PLANTED = (*PLANTED_HARMS, ("w_gorilla", "latent people", "people view"))
REGIONS = np.array(["savanna", "north", "south", "coast"], dtype=object)


def with_region_and_latent_harm(ps, seed: int, *, planted: bool):
    """The planted set plus ``region`` on every input and item 5's label on a second latent group of people."""
    rng = np.random.default_rng([seed, 5])
    audit, vec = ps.audit, ps.vectors.copy()
    n = audit.n_samples
    person = ps.person_rows
    latent = person & ~ps.hidden & (rng.random(n) < 0.04)
    centre = rng.normal(size=vec.shape[1])
    vec[latent] = centre + 0.3 * rng.normal(size=(int(latent.sum()), vec.shape[1]))
    vec[latent] /= np.linalg.norm(vec[latent], axis=1, keepdims=True)
    labels = list(audit.labels)
    animal_cols = [j for j, lab in enumerate(labels) if str(lab).startswith("w_animal_") and lab not in ("w_animal_0", "w_animal_1")]
    animal = ~person & (np.asarray(audit.Y[:, animal_cols].sum(axis=1)).ravel() > 0)
    region = np.where(animal, np.where(rng.random(n) < 0.7, "savanna", rng.choice(REGIONS[1:], size=n)),
                      rng.choice(REGIONS, size=n)).astype(object)
    samples = audit.samples.assign(region=region)
    col = animal & (rng.random(n) < 1 / 3)
    if planted:
        col |= latent & (rng.random(n) < 0.03)
    Y = sp.hstack([audit.Y, sp.csr_matrix(col.astype(np.int8)[:, None])], format="csr")
    scores = sp.hstack([audit.scores, sp.csr_matrix(col.astype(np.float32)[:, None] * 0.9)], format="csr")
    labels = np.array([*labels, "w_gorilla"], dtype=object)
    aud = AuditSet(samples=samples, attributes=("tone", "gender", "region"), labels=labels, label_names=labels.copy(),
                   Y=Y, scores=scores)
    w = ps.watch
    watch = WatchAssignment(
        category=np.append(w.category, "dehumanizing"), weight=np.append(w.weight, 1.0),
        matched_term=np.append(w.matched_term, "w_gorilla"), similarity=np.append(w.similarity, 1.0),
    )
    return aud, vec, watch, latent


def run(seed: int, *, planted: bool, n: int, fdr: float, rows_from: str):
    ps = make_planted(seed, n=n, planted=planted)
    audit, vec, watch, latent = with_region_and_latent_harm(ps, seed, planted=planted)
    attrs = GROUPS.protected if rows_from == "protected" else GROUPS.attributes
    res = analyse(
        audit, vectors=vec, label_vectors=None, watch=watch, person_rows=person_rows(audit, list(attrs), []),
        groups_cfg=GROUPS.model_copy(update={"seed": seed}), scan_cfg=ScanConfig(fdr=fdr, watchlist=None),
        examples_per_finding=3,
    )
    return ps, latent, res


def planted_ranks(ps, latent, res) -> dict[str, int | None]:
    f = res.outcome.findings.reset_index(drop=True)
    groups = res.groups
    ranks: dict[str, int | None] = {}
    for label, group, kind in PLANTED:
        if kind not in ("cluster", "people view"):
            hit = f.index[(f["label"] == label) & (f["group"] == group)]
        else:
            # A cluster captures the hidden subgroup when most of its (held-out) members are in it.
            within = ps.hidden if kind == "cluster" else latent
            ok = []
            for i, row in f[(f["label"] == label) & (f["group_kind"] == "cluster")].iterrows():
                mem = groups.members(groups.index(row["group"]))
                if within[mem].mean() >= 0.5:
                    ok.append(i)
            hit = ok
        ranks[kind] = int(hit[0]) + 1 if len(hit) else None
    return ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--null-seeds", type=int, default=100)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--fdr", type=float, default=0.05)
    ap.add_argument("--person-rows-from", choices=("protected", "attributes"), default="protected")
    args = ap.parse_args()

    t0 = time.perf_counter()
    found: dict[str, list[int]] = {k: [] for _, _, k in PLANTED}
    for seed in range(args.seeds):
        ps, latent, res = run(seed, planted=True, n=args.samples, fdr=args.fdr, rows_from=args.person_rows_from)
        for kind, rank in planted_ranks(ps, latent, res).items():
            if rank is not None:
                found[kind].append(rank)
    print(
        f"planted harms over {args.seeds} seeds, {args.samples:,} samples x 2,001 labels, fdr {args.fdr}, "
        f"region on every input, people from {args.person_rows_from}:"
    )
    for label, group, kind in PLANTED:
        r = found[kind]
        recall = len(r) / args.seeds
        med = f"median rank {statistics.median(r):.0f}, worst {max(r)}, ranks {sorted(r)}" if r else "never found"
        print(f"  {kind:<12} {label} on {group}: recall {recall:.0%}; {med}")

    alarms, fails, high = 0, 0, []
    for seed in range(1000, 1000 + args.null_seeds):
        _, _, res = run(seed, planted=False, n=args.samples, fdr=args.fdr, rows_from=args.person_rows_from)
        f = res.outcome.findings
        bad = f[f["family"].str.endswith("watchlist") & f["about_people"].astype(bool)]
        alarms += len(bad) > 0
        n_high = int(f["severity_level"].isin(["critical", "high"]).sum())
        high.append(n_high)
        fails += n_high > 0
    k = args.null_seeds
    print(
        f"harm-free data over {k} seeds: {alarms} ({alarms / k:.0%}) had any watchlist finding on a group of "
        f"people (nominal FDR {args.fdr:.0%}); findings at or above high: mean {np.mean(high):.2f}, max "
        f"{max(high) if high else 0}; --fail-on high would fail on {fails} ({fails / k:.0%})"
    )
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
