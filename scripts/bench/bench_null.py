"""Calibration on harm-free data: how often does each detector report anything, and how often does the CI gate
(`--fail-on high`) fail, when there is nothing to find?

Data: :func:`tagscan.demo.planted.make_null` per seed: a fair, perfect tagger with every hard case of issue 10
(groups the embedding encodes, a non-people attribute on every input, a watchlist label legitimate on animal
inputs, truth covering dark-toned people at 50% and everyone else at 90%, labels given by one similarity rule
for every input). Scanned in memory (`tagscan.scan.engine.analyse`, clusters k=8, every detector, under-
representation on the independent labels).

What counts as a false finding, per detector, is what its null says cannot be there:
- under_representation (tested on the independent labels only): any finding: pure null;
- association, label_family: a finding on an independent label (applied at random, one
  rate for everyone). Their families also hold true associations (rule labels follow content, which the groups
  shift; animal labels sit on animal clusters), so the claim to check is the FDR's: the mean false discovery
  proportion (false / all findings of the detector, 0 when it found nothing) at most scan.fdr plus two
  standard errors of that mean;
- error_gap: any finding (the tagger is perfect: error rates are zero everywhere): pure null;
- alignment_gap: any finding (every label follows one rule for every input): pure null;
- the gate: any finding at or above high (no label does harm to anyone).

For the pure nulls the target is the share of seeds with any finding at most scan.fdr (under the global null,
FDR control bounds the chance of any finding) plus two binomial standard errors.

    .venv/bin/python scripts/bench/bench_null.py --seeds 100
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from tagscan.config import GroupsConfig, ScanConfig
from tagscan.constants import level_rank
from tagscan.demo.planted import make_null
from tagscan.scan.engine import analyse

DETECTORS = ("association", "under_representation", "label_family", "error_gap", "alignment_gap")


MIXED = ("association", "label_family")


def false_findings(seed: int, fdr: float) -> dict[str, tuple[int, int]]:
    """Per detector (and the gate): (false findings, all findings) on seed ``seed``."""
    ns = make_null(seed)
    ind = [str(x) for x in ns.audit.labels[ns.independent]]
    scan_cfg = ScanConfig(fdr=fdr, detectors={"association": {}, "under_representation": {"labels": ind},
                                              "label_family": {}, "error_gap": {}, "alignment_gap": {}})
    groups_cfg = GroupsConfig(attributes=["tone", "gender", "region"], protected=["tone", "gender"],
                              intersections=[["tone", "gender"]], clusters=[8], min_group_size=30)
    res = analyse(
        ns.audit, vectors=ns.vectors, label_vectors=ns.label_vectors, watch=ns.watch, person_rows=ns.person_rows,
        groups_cfg=groups_cfg, scan_cfg=scan_cfg, shared_space=True,
    )
    f = res.outcome.findings
    idle = {d: v for d, v in res.outcome.detectors.items() if v != "ran"}
    if idle:  # a detector that did not run has no false findings to count: that is no calibration
        raise SystemExit(f"seed {seed}: detectors did not run: {idle}")
    out = {}
    for d in DETECTORS:
        rows = f[f["detector"] == d]
        false = int(rows["label"].isin(set(ind)).sum()) if d in MIXED else len(rows)
        out[d] = (false, len(rows))
    high = int((f["severity_level"].map(level_rank) >= level_rank("high")).sum()) if len(f) else 0
    out["gate high"] = (high, high)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--fdr", type=float, default=0.05)
    args = ap.parse_args()
    t0 = time.perf_counter()
    per: dict[str, list[tuple[int, int]]] = {k: [] for k in (*DETECTORS, "gate high")}
    for seed in range(args.seeds):
        for k, v in false_findings(seed, args.fdr).items():
            per[k].append(v)
    n = args.seeds
    bound = args.fdr + 2 * math.sqrt(args.fdr * (1 - args.fdr) / n)
    print(f"{n} harm-free seeds, scan.fdr {args.fdr}  [{time.perf_counter() - t0:.0f} s]")
    print(f"{'detector':<22}{'seeds with a false':>20}{'share':>7}{'false/all':>14}{'mean FDP':>10}  target  verdict")
    for k, rows in per.items():
        false = np.array([r[0] for r in rows])
        total = np.array([r[1] for r in rows])
        share = float((false > 0).mean())
        fdp = np.divide(false, total, out=np.zeros(n), where=total > 0)
        if k in MIXED:
            target = args.fdr + 2 * fdp.std(ddof=1) / math.sqrt(n) if n > 1 else args.fdr
            ok, what = fdp.mean() <= target, f"FDP<={target:.3f}"
        else:
            ok, what = share <= bound, f"any<={bound:.3f}"
        print(f"{k:<22}{int((false > 0).sum()):>20}{share:>7.2f}{f'{false.sum()}/{total.sum()}':>14}{fdp.mean():>10.3f}"
              f"  {what}  {'ok' if ok else 'OVER'}")


if __name__ == "__main__":
    main()
