"""Scan engine at scale, and the ratio against a plain pandas crosstab + scipy baseline.

Target size: 1,000,000 samples x 20,000 labels x 10 predictions each, 64-d vectors, clusters at
k=64 and k=256 (fitted on one half, tested on the other), three attributes and one intersection.
Each measurement runs in a fresh subprocess (so peak RSS is its own) on the same seeded data:

- ``ours``: `tagscan.scan.engine.analyse` (k-means, groups, sparse counts, exact tests with Tarone +
  BH per family, GPS shrinkage, ranking, review examples): wall time and peak RSS.
- ``baseline``: what one writes without tagscan: for each grouping column a `pd.crosstab` of
  group x label over the long predictions table, `scipy.stats.hypergeom.sf` on every non-zero
  cell, and BH (`scipy.stats.false_discovery_control`). It gets the cluster assignments for free.

The baseline runs on growing sizes until one takes longer than --baseline-budget seconds; the
ratio is reported at the largest size both finished.

    .venv/bin/python scripts/bench/bench_scale.py [--samples 1000000] [--labels 20000] [--baseline-budget 600]
    .venv/bin/python scripts/bench/bench_scale.py --labels 50000 --ks 64,256,666 --no-baseline   # the issue's 50k x 1,000 groups

Out of core (``--stream 1000000,3000000,10000000``): for each size, Parquet files on disk (samples with three
attributes set only on the 60% of inputs that show people, and a folder of prediction files, 10 per sample over
50,000 labels, rows of a sample spread across files), then ``tagscan scan`` in a fresh process reading them in
record batches (``data.stream: true``, ``embed.input: none``): wall, peak RSS, and the peak ratio 3 M / 1 M.
The files are written by this process, in chunks, before the scan process starts.

    .venv/bin/python scripts/bench/bench_scale.py --stream 1000000,3000000,10000000 --labels 50000

With ``--inputs text`` every sample also has a caption (``embed.input: text``, the default model, clusters at
k=64): the embedding cache is filled beforehand with one seeded random unit vector per caption and per label
name, as Ray workers or an earlier scan would leave it (embedding millions of captions here would take hours),
so the scan reads its input vectors back from the cache (past 2 GiB into a memory-mapped file), builds the
inputs' FAISS index (exact, then IVF-SQ8 / IVF-PQ past 2 GiB), fits k-means on a sample and assigns every input
in blocks; alignment_gap (inputs x labels) is over its max_pairs and says it skipped.

    .venv/bin/python scripts/bench/bench_scale.py --stream 1000000,3000000 --labels 50000 --inputs text
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def make(n: int, L: int, per: int, dim: int, seed: int):
    from tagscan.inputs import AuditSet
    from tagscan.scan.watchlist import WatchAssignment

    rng = np.random.default_rng(seed)
    person = rng.random(n) < 0.6
    samples = pd.DataFrame(
        {
            "sample_id": np.char.add("s", np.arange(n).astype(str)).astype(object),
            "tone": np.where(person, rng.choice(["light", "medium", "dark"], size=n), None).astype(object),
            "gender": np.where(person, rng.choice(["woman", "man"], size=n), None).astype(object),
            "age": np.where(person, rng.choice(["child", "adult", "senior"], size=n), None).astype(object),
        }
    )
    pop = 1.0 / np.arange(1, L + 1) ** 0.9
    pop /= pop.sum()
    rows = np.repeat(np.arange(n), per)
    cols = rng.choice(L, size=n * per, p=pop)
    dark = np.flatnonzero(samples["tone"].to_numpy(dtype=object) == "dark")
    extra = dark[rng.random(len(dark)) < 0.02]
    rows = np.concatenate([rows, extra])
    cols = np.concatenate([cols, np.zeros(len(extra), dtype=np.int64)])
    Y = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, L))
    Y.data = np.minimum(Y.data, 1).astype(np.int8)
    S = Y.astype(np.float32)
    S.data = rng.uniform(0.5, 1, size=S.nnz).astype(np.float32)
    centres = rng.normal(size=(128, dim)).astype(np.float32)
    vec = centres[rng.integers(0, 128, size=n)] + 0.7 * rng.normal(size=(n, dim)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    labels = np.char.add("tag", np.arange(L).astype(str)).astype(object)
    w = np.zeros(L)
    w[:20] = 1.0
    cat = np.where(w > 0, "dehumanizing", None).astype(object)
    audit = AuditSet(samples=samples, attributes=("tone", "gender", "age"), labels=labels, label_names=labels, Y=Y, scores=S)
    watch = WatchAssignment(category=cat, weight=w, matched_term=np.full(L, None, dtype=object), similarity=w.copy())
    return audit, vec.astype(np.float32), watch, person


def worker_ours(n: int, L: int, per: int, dim: int, ks: list[int]) -> dict:
    from tagscan.config import GroupsConfig, ScanConfig
    from tagscan.progress import Timer as _Timer
    from tagscan.scan.engine import analyse

    audit, vec, watch, person = make(n, L, per, dim, 0)
    t = _Timer()
    t0 = time.perf_counter()
    res = analyse(
        audit, vectors=vec, label_vectors=None, watch=watch, person_rows=person,
        groups_cfg=GroupsConfig(attributes=["tone", "gender", "age"], intersections=[["tone", "gender"]], clusters=ks),
        scan_cfg=ScanConfig(watchlist=None), timer=t,
    )
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "stages": t.timings,
        "cells": len(res.counts),
        "groups": len(res.groups),
        "findings": len(res.outcome.findings),
        "positives": int(audit.Y.nnz),
    }


def worker_baseline(n: int, L: int, per: int, dim: int, ks: list[int]) -> dict:
    from scipy import stats as sst

    from tagscan.scan.clusters import fit_clusters

    audit, vec, watch, person = make(n, L, per, dim, 0)
    cl = fit_clusters(vec, ks, seed=0)  # given for free: not timed
    t0 = time.perf_counter()
    Yc = audit.Y.tocoo()
    long = pd.DataFrame({"row": Yc.row, "label": Yc.col})
    df = audit.samples.copy()
    df["tone&gender"] = np.where(df["tone"].notna() & df["gender"].notna(), df["tone"] + "|" + df["gender"], None)
    for k, a in cl.assignments.items():
        df[f"k{k}"] = np.where(cl.test_mask, a, -1)
    pvals = []
    cols = ["tone", "gender", "age", "tone&gender"] + [f"k{k}" for k in ks]
    for col in cols:
        g = df[col].to_numpy(dtype=object)
        valid = pd.notna(g) & (g != -1)
        N = int(valid.sum())
        lg = long[valid[long["row"].to_numpy()]]
        tab = pd.crosstab(g[lg["row"].to_numpy()], lg["label"].to_numpy())
        n_g = pd.Series(g[valid]).value_counts().reindex(tab.index).to_numpy()
        K = tab.sum(axis=0).to_numpy()
        counts = tab.to_numpy()
        gi, li = np.nonzero(counts)
        pvals.append(sst.hypergeom.sf(counts[gi, li] - 1, N, K[li], n_g[gi]))
    p = np.concatenate(pvals)
    q = sst.false_discovery_control(p)
    wall = time.perf_counter() - t0
    return {"wall": wall, "cells": int(len(p)), "significant": int((q <= 0.05).sum())}


def run_worker(kind: str, n: int, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--samples", str(n), "--labels", str(args.labels),
           "--per", str(args.per), "--dim", str(args.dim), "--ks", ",".join(map(str, args.ks))]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.baseline_budget * 3 + 600)
    if out.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_stream_data(folder, n: int, L: int, per: int, seed: int = 0, chunk: int = 500_000, inputs: str = "none") -> None:
    """Samples, a vocabulary and a folder of prediction files for the out-of-core run, written in chunks."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, L + 1) ** 0.9
    pop /= pop.sum()
    cdf = np.cumsum(pop)
    labels = np.char.add("tag", np.arange(L).astype(str))
    pq.write_table(pa.table({"label": labels, "name": np.char.add("thing ", np.arange(L).astype(str))}), folder / "vocabulary.parquet")
    swriter = None
    n_files = 4
    pwriters = [None] * n_files
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        m = b - a
        ids = np.char.add("s", np.arange(a, b).astype(str))
        person = rng.random(m) < 0.6
        cols = {"sample_id": ids}
        if inputs == "text":
            cols["text"] = np.char.add("a photo, caption number ", np.arange(a, b).astype(str))
        for attr, vals in (("tone", ["light", "medium", "dark"]), ("gender", ["woman", "man"]), ("age", ["child", "adult", "senior"])):
            v = np.asarray(vals, dtype=object)[rng.integers(0, len(vals), m)]
            v[~person] = None
            cols[attr] = pa.array(v, type=pa.string())
        st = pa.table(cols)
        swriter = swriter or pq.ParquetWriter(folder / "samples.parquet", st.schema)
        swriter.write_table(st)
        rows = np.repeat(np.arange(m), per)
        lab = np.minimum(np.searchsorted(cdf, rng.random(m * per)), L - 1)
        dark = np.flatnonzero(np.asarray(cols["tone"].to_pylist(), dtype=object) == "dark")
        extra = dark[rng.random(len(dark)) < 0.02]  # one planted association: tag0 on dark-toned people
        rows = np.concatenate([rows, extra])
        lab = np.concatenate([lab, np.zeros(len(extra), dtype=np.int64)])
        score = rng.uniform(0.5, 1.0, len(rows)).astype(np.float32)
        which = rng.integers(0, n_files, len(rows))  # a sample's rows land in several files
        for f in range(n_files):
            sel = which == f
            t = pa.table({"sample_id": ids[rows[sel]], "label": labels[lab[sel]], "score": score[sel]})
            pwriters[f] = pwriters[f] or pq.ParquetWriter(folder / "predictions" / f"part-{f}.parquet", t.schema)
            pwriters[f].write_table(t)
    swriter.close()
    for w in pwriters:
        w.close()
    cfg = {
        "name": "scale",
        "workspace": str(folder / "ws"),
        "data": {"samples": "samples.parquet", "predictions": "predictions", "vocabulary": "vocabulary.parquet",
                 "stream": True},
        "embed": {"input": "none"},
        "groups": {"attributes": ["tone", "gender", "age"], "protected": ["tone", "gender", "age"],
                   "intersections": [["tone", "gender"]], "min_group_size": 30},
        "scan": {"threshold": 0.5, "watchlist": None},
    }
    if inputs == "text":
        cfg["embed"] = {"input": "text", "model": "default", "cache_dir": str(folder / "cache")}
        cfg["groups"]["clusters"] = [64]
        fill_cache(folder / "cache", np.char.add("a photo, caption number ", np.arange(n).astype(str)),
                   np.char.add("thing ", np.arange(L).astype(str)))
    import yaml

    (folder / "tagscan.yaml").write_text(yaml.safe_dump(cfg))


def fill_cache(cache_dir, texts: np.ndarray, names: np.ndarray, shard: int = 16_384) -> None:
    """The embedding cache as an earlier scan or Ray workers leave it: a seeded random unit vector per text."""
    from pathlib import Path

    from tagscan.embed.cache import EmbeddingCache, embedding_cache_root
    from tagscan.embed.stage import stage_embedder

    root = embedding_cache_root(Path(cache_dir))
    emb = stage_embedder("default", "text", batch_size=64, cache_root=root)
    cache = EmbeddingCache(root, emb.name)
    rng = np.random.default_rng(7)
    for items in (texts, names):
        for a in range(0, len(items), shard):
            block = rng.standard_normal((min(shard, len(items) - a), emb.dim), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            cache.append(items[a : a + shard].tolist(), block)


def worker_stream(folder: str) -> dict:
    from pathlib import Path

    from tagscan.config import load_config
    from tagscan.pipeline import run_scan

    t0 = time.perf_counter()
    res = run_scan(load_config(Path(folder) / "tagscan.yaml"))
    rec = res.record.to_json()
    return {"wall": time.perf_counter() - t0, "findings": len(res.findings), "stages": rec.get("timings"),
            "positives": rec["counts"]["positives"], "detectors": rec.get("detectors"),
            "index": _index_kind(Path(folder) / "ws" / "index" / "inputs.json")}


def _index_kind(path) -> dict | None:
    if not path.is_file():
        return None
    meta = json.loads(path.read_text())
    return {k: meta.get(k) for k in ("kind", "ntotal", "dim")}


def run_stream(args) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    sizes = [int(x) for x in args.stream.split(",")]
    root = Path(args.stream_dir or tempfile.mkdtemp(prefix="tagscan-scale-"))
    print(f"out of core: {args.labels:,} labels x {args.per} predictions per sample, files under {root}")
    peaks = {}
    for n in sizes:
        folder = root / f"n{n}"
        t0 = time.perf_counter()
        if not (folder / "tagscan.yaml").is_file():
            write_stream_data(folder, n, args.labels, args.per, inputs=args.inputs)
        made = time.perf_counter() - t0
        shutil.rmtree(folder / "ws", ignore_errors=True)
        cmd = [sys.executable, __file__, "--worker", "stream", "--stream-dir", str(folder)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"stream worker failed at n={n:,}:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        peaks[n] = r["peak_rss_gb"]
        size = sum(p.stat().st_size for p in (folder / "predictions").glob("*.parquet")) / 1e9
        print(f"  n={n:,} ({r['positives']:,} positives, {size:.2f} GB of prediction files, written in {made:.0f} s): "
              f"scan {r['wall']:.1f} s wall, peak RSS {r['peak_rss_gb']:.2f} GB, {r['findings']} findings")
        print(f"    stages (s): {json.dumps(r['stages'])}")
        if args.inputs != "none":
            print(f"    detectors: {json.dumps(r['detectors'])}; input index: {json.dumps(r['index'])}")
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    ns = sorted(peaks)
    for a, b in zip(ns, ns[1:]):
        print(f"peak ratio {b:,} / {a:,} samples: {peaks[b] / peaks[a]:.2f}x for {b / a:.0f}x the rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--labels", type=int, default=20_000)
    ap.add_argument("--per", type=int, default=10)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], default=[64, 256])
    ap.add_argument("--baseline-budget", type=float, default=600.0)
    ap.add_argument("--baseline-sizes", default="50000,100000,200000,500000,1000000")
    ap.add_argument("--no-baseline", action="store_true", help="measure tagscan only")
    ap.add_argument("--worker", choices=["ours", "baseline", "stream"])
    ap.add_argument("--stream", help="out of core: comma-separated sample counts, e.g. 1000000,3000000,10000000")
    ap.add_argument("--stream-dir", help="where the out-of-core files go (default: a new temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the out-of-core files")
    ap.add_argument("--inputs", choices=["none", "text"], default="none", help="out of core: captions to embed too")
    args = ap.parse_args()
    if args.worker == "stream":
        res = worker_stream(args.stream_dir)
        res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(json.dumps(res))
        return
    if args.stream:
        run_stream(args)
        return
    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_baseline
        res = fn(args.samples, args.labels, args.per, args.dim, args.ks)
        res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(json.dumps(res))
        return

    print(f"scan engine at {args.samples:,} samples x {args.labels:,} labels x {args.per} predictions, k={args.ks}")
    ours = run_worker("ours", args.samples, args)
    print(f"  tagscan: {ours['wall']:.1f} s wall, peak RSS {ours['peak_rss_gb']:.2f} GB, {ours['cells']:,} non-zero cells, "
          f"{ours['groups']} groups, {ours['findings']} findings")
    print(f"  stages (s): {json.dumps(ours['stages'])}")
    if args.no_baseline:
        return
    print(f"baseline (pandas crosstab + scipy.stats.hypergeom.sf + BH) on growing sizes, budget {args.baseline_budget:.0f} s:")
    last = None
    for n in [int(x) for x in args.baseline_sizes.split(",") if int(x) <= args.samples]:
        b = run_worker("baseline", n, args)
        o = ours if n == args.samples else run_worker("ours", n, args)
        same = o["wall"] - o["stages"].get("clusters", 0.0)
        print(f"  n={n:,}: baseline {b['wall']:.1f} s ({b['peak_rss_gb']:.2f} GB), tagscan {o['wall']:.1f} s "
              f"({o['peak_rss_gb']:.2f} GB), {same:.1f} s without k-means (which the baseline gets for free): "
              f"ratio {b['wall'] / o['wall']:.1f}x whole, {b['wall'] / same:.1f}x same work")
        last = (n, b, o)
        if b["wall"] > args.baseline_budget:
            break
    if last:
        n, b, o = last
        same = o["wall"] - o["stages"].get("clusters", 0.0)
        print(f"ratio at the largest size both finished (n={n:,}): baseline / tagscan = {b['wall'] / o['wall']:.1f}x wall "
              f"(whole scan incl. k-means), {b['wall'] / same:.1f}x on the same work (groups, counts, tests), "
              f"{b['peak_rss_gb'] / o['peak_rss_gb']:.1f}x peak memory")


if __name__ == "__main__":
    main()
