"""Wall time of `tagscan scan` on a large synthetic set with precomputed embeddings.

Default: 200,000 samples x 5,000 labels, ~10 predictions per sample, 64-d vectors, clusters at
k=16 and k=64, three attributes and one intersection, two planted associations. Runs the real CLI
in a subprocess `--repeat` times (the first run embeds the 5,000 label names; later ones hit the
cache) and prints each wall time, the median of the warm runs, the stage timings of the last run,
and whether the planted associations were found.

    .venv/bin/python scripts/bench/bench_scan.py [--samples 200000] [--labels 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def build(folder: Path, n: int, n_labels: int, per_sample: int, dim: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:07d}" for i in range(n)], dtype=object)
    person = rng.random(n) < 0.6
    tone = np.where(person, rng.choice(["light", "medium", "dark"], size=n), None).astype(object)
    gender = np.where(person, rng.choice(["woman", "man"], size=n), None).astype(object)
    age = np.where(person, rng.choice(["child", "adult", "senior"], size=n, p=[0.2, 0.6, 0.2]), None).astype(object)
    pd.DataFrame({"sample_id": ids, "skin_tone": tone, "gender": gender, "age_group": age}).to_parquet(
        folder / "samples.parquet", index=False
    )
    labels = np.array([f"tag_{j:05d}" for j in range(n_labels)], dtype=object)
    labels[0], labels[1] = "gorilla", "mugshot"
    names = np.array([lab.replace("_", " ") for lab in labels], dtype=object)
    pd.DataFrame({"label": labels, "name": names}).to_parquet(folder / "vocabulary.parquet", index=False)
    # Zipf-like label popularity; each sample draws `per_sample` labels.
    pop = 1.0 / np.arange(1, n_labels + 1) ** 0.9
    pop /= pop.sum()
    rows = np.repeat(np.arange(n), per_sample)
    cols = rng.choice(n_labels, size=n * per_sample, p=pop)
    # Planted: gorilla on skin_tone=dark (3%), mugshot on dark & man (4%).
    dark = np.flatnonzero(tone == "dark")
    g_rows = dark[rng.random(len(dark)) < 0.03]
    dm = np.flatnonzero((tone == "dark") & (gender == "man"))
    m_rows = dm[rng.random(len(dm)) < 0.04]
    rows = np.concatenate([rows, g_rows, m_rows])
    cols = np.concatenate([cols, np.zeros(len(g_rows), dtype=np.int64), np.ones(len(m_rows), dtype=np.int64)])
    pred = pd.DataFrame({"sample_id": ids[rows], "label": labels[cols], "score": rng.uniform(0.3, 1.0, len(rows))})
    pred = pred.drop_duplicates(["sample_id", "label"])
    pred.to_parquet(folder / "predictions.parquet", index=False)
    centers = rng.normal(size=(48, dim)).astype(np.float32)
    vec = centers[rng.integers(0, 48, size=n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
    np.save(folder / "embeddings.npy", vec.astype(np.float32))
    cfg = {
        "name": "bench-scan",
        "workspace": "ws",
        "model": {"name": "bench", "version": "v1"},
        "data": {
            "samples": "samples.parquet",
            "predictions": "predictions.parquet",
            "vocabulary": "vocabulary.parquet",
            "embeddings": "embeddings.npy",
        },
        "groups": {
            "attributes": ["skin_tone", "gender", "age_group"],
            "intersections": [["skin_tone", "gender"]],
            "clusters": [16, 64],
            "min_group_size": 30,
        },
        "scan": {"threshold": 0.5, "fdr": 0.05, "watchlist": "default"},
    }
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--labels", type=int, default=5_000)
    ap.add_argument("--per-sample", type=int, default=10)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tagscan = str(Path(sys.executable).parent / "tagscan")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        cfg = build(folder, args.samples, args.labels, args.per_sample, args.dim, args.seed)
        print(f"built {args.samples:,} samples x {args.labels:,} labels in {time.perf_counter() - t:.1f} s")
        walls, last = [], None
        for i in range(args.repeat):
            t = time.perf_counter()
            out = subprocess.run([tagscan, "-q", "scan", str(cfg), "--format", "json"], capture_output=True, text=True)
            wall = time.perf_counter() - t
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"scan failed with exit code {out.returncode}")
            last = json.loads(out.stdout)
            walls.append(wall)
            print(f"run {i + 1}: {wall:.1f} s wall ({'cold: embeds label names' if i == 0 else 'warm: cache hit'})")
        info = json.loads((Path(last["run_dir"]) / "run.json").read_text())
        warm = walls[1:] or walls
        print(f"median warm wall time: {statistics.median(warm):.1f} s over {len(warm)} run(s)")
        print("stage timings of the last run (s):", json.dumps(info["timings"]))
        print("counts:", json.dumps(info["counts"]))
        f = pd.DataFrame(last["findings"])
        for label, group in (("gorilla", "skin_tone=dark"), ("mugshot", "skin_tone=dark & gender=man")):
            hit = f.index[(f["label"] == label) & (f["group"] == group)] if len(f) else []
            print(f"planted {label} on {group}: " + (f"rank {hit[0] + 1}" if len(hit) else "NOT FOUND"))


if __name__ == "__main__":
    main()
