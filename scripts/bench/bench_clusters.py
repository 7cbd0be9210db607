"""Peak memory of ``fit_clusters`` on memory-mapped input vectors against the same vectors in memory, side by side.

Writes ``--rows`` x ``--dim`` clustered float32 unit rows to a .npy (in blocks, never whole in memory), then runs
``fit_clusters`` (``--k``, seed 0, fit share 0.5) in a fresh process per mode: ``mapped`` opens the file with
``np.load(mmap_mode="r")`` as tagscan's loader does; ``memory`` reads it whole first. Each child reports its wall
time, its peak resident set (VmHWM, which counts the file's pages it touched: the kernel can drop those at any
time) and its peak anonymous memory (RssAnon sampled every 20 ms: what the process itself holds), both above the
child's baseline after imports. Both modes must give the same clusters (checked by the cluster key and a digest
of the assignments).

    .venv/bin/python scripts/bench/bench_clusters.py [--rows 2000000] [--dim 64] [--k 16 64]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child(path: str, mode: str, ks: list[int]) -> None:
    from tagscan.scan.clusters import fit_clusters

    base_hwm, base_anon = _status("VmHWM"), _status("RssAnon")
    peak = [base_anon]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _status("RssAnon"))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start = time.perf_counter()
    vectors = np.load(path, mmap_mode="r") if mode == "mapped" else np.load(path)
    fit = fit_clusters(vectors, ks, seed=0, fit_share=0.5)
    wall = time.perf_counter() - start
    done.set()
    t.join()
    digest = hashlib.sha256(b"".join(fit.assignments[k].tobytes() for k in ks)).hexdigest()[:16]
    print(json.dumps({"wall": wall, "hwm": _status("VmHWM") - base_hwm, "anon": max(peak[0], _status("RssAnon")) - base_anon,
                      "key": fit.info["key"], "assign": digest, "fit_rows": fit.info["fit_rows"],
                      "data": int(vectors.nbytes)}))


def write_clustered(path: Path, n: int, d: int, seed: int, block: int = 262_144) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, d))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, block):
        m = min(block, n - start)
        rows = centres[rng.integers(len(centres), size=m)] + 0.8 * rng.standard_normal((m, d))
        out[start : start + m] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    out.flush()
    del out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.k)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-clusters-") as folder:
        path = Path(folder) / "vectors.npy"
        write_clustered(path, args.rows, args.dim, seed=0)
        results = {}
        for mode in ("memory", "mapped"):
            cmd = [sys.executable, __file__, "--child", str(path), mode, "--k", *map(str, args.k)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[mode] = json.loads(out)
    mem, mapped = results["memory"], results["mapped"]
    assert (mem["key"], mem["assign"]) == (mapped["key"], mapped["assign"]), "the two modes gave different clusters"
    mb = 1 / 2**20
    print(f"fit_clusters k={args.k} on {args.rows:,} x {args.dim} float32 ({mem['data'] * mb:,.0f} MiB), fit share 0.5, "
          f"fitted rows per k {mapped['fit_rows']}; same clusters in both modes (key {mapped['key']})")
    print(f"{'mode':<8}{'wall s':>8}{'peak RSS MiB':>14}{'peak anon MiB':>15}")
    for mode, r in results.items():
        print(f"{mode:<8}{r['wall']:>8.1f}{r['hwm'] * mb:>14.0f}{r['anon'] * mb:>15.0f}")
    print(f"mapped / memory: wall {mapped['wall'] / mem['wall']:.2f}x, peak RSS {mapped['hwm'] / mem['hwm']:.2f}x, "
          f"peak anonymous {mapped['anon'] / max(mem['anon'], 1):.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
