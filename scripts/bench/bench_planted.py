"""Recall and severity ranks of planted harms, and the false-alarm rate on null data.

For --seeds planted data sets (tagscan.demo.planted.make_planted: an attribute harm, an intersection harm,
and a harm on a hidden subgroup that only a cluster can capture), runs the scan engine
(`tagscan.scan.engine.analyse`: clusters fitted on one half, tested on the other, Tarone + BH per
family) and reports how often each planted harm is found and its rank. Then, over --null-seeds
data sets with the same benign structure and no planted harm, reports the share of data sets with
any watchlist finding on a group of people (FDR control under the global null bounds it by ~fdr).

    .venv/bin/python scripts/bench/bench_planted.py [--seeds 20] [--null-seeds 100] [--samples 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tagscan.config import GroupsConfig, ScanConfig
from tagscan.demo.planted import PLANTED_HARMS as PLANTED
from tagscan.demo.planted import make_planted
from tagscan.scan.engine import analyse

GROUPS = GroupsConfig(attributes=["tone", "gender"], intersections=[["tone", "gender"]], clusters=[16, 64], min_group_size=30)


def run(seed: int, *, planted: bool, n: int, fdr: float):
    ps = make_planted(seed, n=n, planted=planted)
    res = analyse(
        ps.audit, vectors=ps.vectors, label_vectors=None, watch=ps.watch, person_rows=ps.person_rows,
        groups_cfg=GROUPS.model_copy(update={"seed": seed}), scan_cfg=ScanConfig(fdr=fdr, watchlist=None),
        examples_per_finding=3,
    )
    return ps, res


def planted_ranks(ps, res) -> dict[str, int | None]:
    f = res.outcome.findings.reset_index(drop=True)
    groups = res.groups
    ranks: dict[str, int | None] = {}
    for label, group, kind in PLANTED:
        if kind != "cluster":
            hit = f.index[(f["label"] == label) & (f["group"] == group)]
        else:
            # A cluster captures the hidden subgroup when most of its (held-out) members are in it.
            ok = []
            for i, row in f[(f["label"] == label) & (f["group_kind"] == "cluster")].iterrows():
                mem = groups.members(groups.index(row["group"]))
                if ps.hidden[mem].mean() >= 0.5:
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
    args = ap.parse_args()

    t0 = time.perf_counter()
    found: dict[str, list[int]] = {k: [] for _, _, k in PLANTED}
    missed = {k: 0 for _, _, k in PLANTED}
    for seed in range(args.seeds):
        ps, res = run(seed, planted=True, n=args.samples, fdr=args.fdr)
        for kind, rank in planted_ranks(ps, res).items():
            if rank is None:
                missed[kind] += 1
            else:
                found[kind].append(rank)
    print(f"planted harms over {args.seeds} seeds, {args.samples:,} samples x 2,000 labels, fdr {args.fdr}:")
    for _, group, kind in PLANTED:
        r = found[kind]
        recall = len(r) / args.seeds
        med = f"median rank {statistics.median(r):.0f}, worst {max(r)}" if r else "never found"
        print(f"  {kind:<12} ({group}): recall {recall:.0%}; {med}")

    alarms = 0
    per_seed = []
    for seed in range(1000, 1000 + args.null_seeds):
        ps, res = run(seed, planted=False, n=args.samples, fdr=args.fdr)
        f = res.outcome.findings
        bad = f[f["family"].str.endswith("watchlist") & f["about_people"].astype(bool)]
        alarms += len(bad) > 0
        per_seed.append(len(bad))
    print(
        f"null data over {args.null_seeds} seeds: {alarms} ({alarms / args.null_seeds:.0%}) had any watchlist "
        f"finding on a group of people (nominal FDR {args.fdr:.0%}); mean {np.mean(per_seed):.2f} per data set"
    )
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
