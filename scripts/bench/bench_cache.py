"""The embedding cache out of core: reading N cached input vectors back, before and after issue 12.

A cache holding N texts' 384-wide vectors (what an earlier scan, or Ray workers, embedded: shards of
16,384 rows) is written once per size; then, each in a fresh process on the same cache (so peak RSS is its
own), ``EmbeddingCache(...).embed(texts, ...)`` with every text cached, which is what a rescan's embed stage
does, twice:

- ``before``: the cache as it was before this change (``git show <rev>:embed/cache.py``, loaded from a
  temporary file): every shard read into memory, one dict of digests, the result gathered in memory.
- ``after``: the cache now: keys in one sorted array, vectors memory-mapped in their shards, the result
  written a block of rows at a time to a ``.npy`` (``spill_to``) once it is over 2 GiB, returned mapped.

Printed per size: wall, peak RSS of each, the ratio of peaks, the after-peak ratio between sizes, and
whether both returned the same vectors (a sha256 over the rows, read in blocks).

    .venv/bin/python scripts/bench/bench_cache.py --sizes 1000000,3000000 [--before-rev ad0702b] [--after-only 10000000]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384
SHARD = 16_384
ROOT = Path(__file__).resolve().parents[2]


def texts(n: int) -> list[str]:
    return [f"input text number {i}" for i in range(n)]


def write_cache(folder: Path, n: int) -> None:
    from tagscan.embed.cache import EmbeddingCache

    cache = EmbeddingCache(folder, "bench")
    items = texts(n)
    rng = np.random.default_rng(0)
    for start in range(0, n, SHARD):
        block = rng.standard_normal((min(SHARD, n - start), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        cache.append(items[start : start + SHARD], block)


def load_cache_module(which: str, rev: str):
    if which == "after":
        from tagscan.embed import cache

        return cache
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:embed/cache.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "cache_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("cache_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(which: str, folder: Path, n: int, rev: str) -> dict:
    module = load_cache_module(which, rev)
    items = texts(n)[::-1]  # another order than the shards'
    rss_items = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    def fail(batch):
        raise SystemExit(f"{len(batch)} items missing from the cache")

    t0 = time.perf_counter()
    cache = module.EmbeddingCache(folder, "bench")
    kwargs = {"spill_to": folder / "out" / "inputs.npy"} if which == "after" else {}
    vectors, computed = cache.embed(items, fail, **kwargs)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    digest = hashlib.sha256()
    for start in range(0, len(vectors), 65_536):
        digest.update(np.ascontiguousarray(vectors[start : start + 65_536]).tobytes())
    return {"wall": wall, "peak_rss_gb": peak, "items_rss_gb": rss_items, "computed": computed,
            "mapped": isinstance(vectors, np.memmap), "sha256": digest.hexdigest()[:16]}


def run(which: str, folder: Path, n: int, rev: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", which, "--dir", str(folder), "--n", str(n), "--before-rev", rev]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{which} worker at {n:,} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,3000000", help="sizes measured before and after")
    ap.add_argument("--after-only", default="", help="larger sizes measured after only (e.g. 10000000)")
    ap.add_argument("--before-rev", default="ad0702b", help="the commit whose embed/cache.py is 'before'")
    ap.add_argument("--dir", help="where the caches go (default: a new temp folder, removed at the end)")
    ap.add_argument("--worker", choices=["before", "after"])
    ap.add_argument("--n", type=int)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.dir), args.n, args.before_rev)))
        return
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-cache-"))
    sizes = [(int(x), True) for x in args.sizes.split(",") if x] + [(int(x), False) for x in args.after_only.split(",") if x]
    print(f"embedding cache read-back, {DIM}-wide float32 vectors in shards of {SHARD:,} rows "
          f"({DIM * 4 / 1e3:.3f} kB a row); before = {args.before_rev}:embed/cache.py")
    peaks = {}
    try:
        for n, both in sizes:
            folder = base / f"n{n}"
            t0 = time.perf_counter()
            write_cache(folder, n)
            print(f"  n={n:,}: wrote the cache ({n * DIM * 4 / 1e9:.2f} GB of vectors) in {time.perf_counter() - t0:.0f} s")
            after = run("after", folder, n, args.before_rev)
            peaks[n] = after["peak_rss_gb"]
            line = (f"    after:  {after['wall']:.1f} s, peak RSS {after['peak_rss_gb']:.2f} GB "
                    f"(the {n:,} texts alone {after['items_rss_gb']:.2f} GB), memory-mapped result: {after['mapped']}")
            print(line)
            if both:
                before = run("before", folder, n, args.before_rev)
                print(f"    before: {before['wall']:.1f} s, peak RSS {before['peak_rss_gb']:.2f} GB")
                print(f"    peak after/before {after['peak_rss_gb'] / before['peak_rss_gb']:.2f}x, wall after/before "
                      f"{after['wall'] / before['wall']:.2f}x, same vectors: {after['sha256'] == before['sha256']}")
            shutil.rmtree(folder)
        ns = sorted(peaks)
        for small, large in zip(ns, ns[1:]):
            print(f"  after: peak at {large:,} / peak at {small:,} = {peaks[large] / peaks[small]:.2f}x "
                  f"for {large / small:.0f}x the rows")
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
