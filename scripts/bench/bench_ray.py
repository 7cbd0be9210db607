"""In-process vs Ray, side by side: embedding N texts, and (``--counting``) the whole scan with counting on Ray.

Embedding: N texts with the packaged all-MiniLM-L6-v2, in one run.

For each size N, on fresh embedding caches, the median of ``--repeat`` runs of:

- ``local``: the in-process path of the embed stage (``embed_texts_cached``): with start-up = loading
  the model, and without (the model already loaded).
- ``ray``: the Ray engine (``RaySession.embed_missing`` and reading the vectors back from the cache, as
  the stage does) on a local cluster: with start-up = ``ray.init`` + the actor pool starting and each
  actor loading the model (shutdown not counted); without = N rows at the steady rate measured between
  the first and the last batch the actors return (rows through the actors, shard writes).

The overhead ratio is ray / local. The local Ray runs on loopback as tests do (../shared/RAY.md); its
actor pool is the engine's default (1-CPU actors leaving one CPU free: on 2 cores, one single-threaded
actor against a 2-thread in-process torch), or ``--actors``/``--actor-cpus``.

    .venv/bin/python scripts/bench/bench_ray.py [--sizes 5000 20000] [--repeat 3] [--actors K] [--actor-cpus C]
        [--local-threads T]

Counting (``--counting``): the 1 M scan of ``bench_scale.py`` (its ``make``: N samples x 50,000 labels x 10
predictions, three attributes, an intersection, clusters at k=64,256,666: about 1,000 groups), through
``analyse`` in a fresh subprocess each: ``local`` (in-process counting) and ``ray`` (a local loopback Ray
started in the subprocess, counting as Ray tasks over blocks of ``--shard-positives`` positives summed in a
tree; tests and findings in the driver). Wall time with Ray's start-up (``ray.init``) included, shutdown
shown apart; the counts stage alone; driver peak RSS (ru_maxrss) and the Ray workers' peaks (VmHWM of
each worker process under the driver; their RSS counts the object-store pages they mapped); the overhead
ratio ray / local; and a check that both give the same flagged (detector, label, group) set with q-values
equal to 1e-9 relative.

    .venv/bin/python scripts/bench/bench_ray.py --counting [--sizes 1000000 10000000] [--labels 50000]
        [--ks 64,256,666] [--shard-positives 5000000]

Out of core on Ray (``--counting --streamed``): the files of ``bench_scale.py --stream`` (N samples x 50,000
labels x 10 predictions in a folder of Parquet files, ``data.stream: true``, no inputs), scanned with
``tagscan``'s ``run_scan`` in a fresh process each: ``local`` and ``ray`` (a local loopback Ray; one counting
task per shard of 262,144 samples, each reading its own part file). Same columns as above.

    .venv/bin/python scripts/bench/bench_ray.py --counting --streamed --sizes 10000000 [--stream-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from tagscan.config import EngineConfig  # noqa: E402
from tagscan.embed.cache import EmbeddingCache  # noqa: E402
from tagscan.embed.loader import load_embedder  # noqa: E402
from tagscan.embed.stage import embed_texts_cached  # noqa: E402

WORDS = "dog cat person woman man child car tree beach city kitchen pizza horse bird boat street".split()


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{' '.join(rng.choice(WORDS, size=8))} #{seed}-{i}" for i in range(n)]


_HOME: str | None = None


def start_local_ray(num_cpus: int, object_store_mb: int = 512) -> tuple[object, str, str]:
    """A loopback-only Ray as ../shared/RAY.md says; returns (ray, temp dir, home)."""
    import ray  # imported before HOME moves, as the tests' fixture does

    global _HOME
    if _HOME is None:  # one HOME per process: a second ray.init looks for the first one's auth token there
        _HOME = tempfile.mkdtemp(prefix="rh-")
        Path(_HOME, "ray_bootstrap_config.yaml").write_text("{}\n")
    home, temp = _HOME, tempfile.mkdtemp(prefix="r-", dir="/tmp")
    saved_home = os.environ.get("HOME")
    os.environ.update({"HOME": home, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"})

    ray.init(num_cpus=num_cpus, num_gpus=0, object_store_memory=object_store_mb * 1024**2, include_dashboard=False,
             log_to_driver=False, _temp_dir=temp)
    if saved_home is not None:
        os.environ["HOME"] = saved_home
    return ray, temp, home


def run_local(items: list[str], *, with_load: bool, embedder=None) -> float:
    root = Path(tempfile.mkdtemp(prefix="bench-local-"))
    try:
        start = time.perf_counter()
        emb = load_embedder("default", input_kind="text", batch_size=64) if with_load else embedder
        vectors, computed = embed_texts_cached(root, emb, items, "texts")
        took = time.perf_counter() - start
        assert computed == len(items) and len(vectors) == len(items)
        return took
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_ray(session, name: str, items: list[str]) -> tuple[float, float]:
    """(seconds from the call to the vectors read back, seconds the rows would take at the steady rate).

    The steady rate is measured between the first and the last batch the actors return: the pool
    start, the model loads and the first batch are left out."""
    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    session.cache_root = root
    marks: list[tuple[float, int]] = []
    try:
        start = time.perf_counter()
        done = session.embed_missing(
            items, spec="default", input_kind="text", batch_size=64, name=name,
            progress=lambda k: marks.append((time.perf_counter(), k)),
        )

        def absent(missing):
            raise AssertionError(f"{len(missing)} vectors missing after the Ray run")

        vectors, _ = EmbeddingCache(root, name).embed(items, absent)
        took = time.perf_counter() - start
        assert done == len(items) and len(vectors) == len(items)
        if len(marks) < 2:
            return took, float("nan")
        rows_after_first = sum(k for _, k in marks[1:])
        steady = (marks[-1][0] - marks[0][0]) / rows_after_first * len(items)
        return took, steady
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- counting: the whole scan, counts in-process or on Ray ---------------------------------------------

def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (from /proc: Ray's raylet, GCS and worker processes of this driver)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _worker_peaks_gb() -> list[float]:
    """Peak RSS (VmHWM) of each Ray worker process under this driver, in GB."""
    peaks = []
    for pid in _descendants(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if cmd.startswith("ray::") or "default_worker.py" in cmd:
            kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
            peaks.append(kb / 1024**2)
    return peaks


def _finish(out: dict, ray, temp: str | None) -> None:
    """Workers' peaks and Ray's shutdown time (when this worker started a Ray), then the driver's peak."""
    if ray is not None:
        peaks = _worker_peaks_gb()
        out["worker_peak_gb"], out["workers_sum_gb"], out["n_workers"] = max(peaks, default=0.0), sum(peaks), len(peaks)
        t1 = time.perf_counter()
        ray.shutdown()
        out["shutdown"] = time.perf_counter() - t1
        shutil.rmtree(temp, ignore_errors=True)
        if _HOME is not None:
            shutil.rmtree(_HOME, ignore_errors=True)
    out["driver_peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def count_worker(kind: str, n: int, args) -> dict:
    """In a fresh process: the scan of bench_scale's data through ``analyse``, counting ``local`` or on ``ray``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scale import make

    from tagscan.config import GroupsConfig, ScanConfig
    from tagscan.progress import Timer
    from tagscan.scan.counts import RayCellCounter
    from tagscan.scan.engine import analyse

    audit, vec, watch, person = make(n, args.labels, args.per, args.dim, 0)
    t = Timer()
    t0 = time.perf_counter()
    count, ray, temp = None, None, None
    if kind == "ray":
        ray, temp, _ = start_local_ray(os.cpu_count() or 2, object_store_mb=args.object_store_mb)
        count = RayCellCounter(EngineConfig(kind="ray", shard_positives=args.shard_positives))
    init = time.perf_counter() - t0
    res = analyse(
        audit, vectors=vec, label_vectors=None, watch=watch, person_rows=person,
        groups_cfg=GroupsConfig(attributes=["tone", "gender", "age"], intersections=[["tone", "gender"]], clusters=args.ks),
        scan_cfg=ScanConfig(watchlist=None), timer=t, count=count,
    )
    wall = time.perf_counter() - t0
    out = {"wall": wall, "init": init, "counts": t.timings.get("counts", 0.0), "stages": t.timings,
           "groups": len(res.groups), "cells": len(res.counts), "positives": int(audit.Y.nnz),
           "findings": len(res.outcome.findings), "tasks": getattr(count, "n_tasks", 0)}
    _finish(out, ray, temp)
    res.outcome.findings[["detector", "label", "group", "q_value"]].to_parquet(args.findings_out)
    return out


def streamed_worker(kind: str, args) -> dict:
    """In a fresh process: ``run_scan`` over the out-of-core files in ``--stream-dir``, counting local or on Ray."""
    from tagscan.config import load_config
    from tagscan.pipeline import run_scan

    cfg = load_config(Path(args.stream_dir) / "tagscan.yaml")
    t0 = time.perf_counter()
    ray, temp = None, None
    if kind == "ray":
        ray, temp, _ = start_local_ray(os.cpu_count() or 2, object_store_mb=args.object_store_mb)
        cfg = cfg.model_copy(update={"engine": cfg.engine.model_copy(update={"kind": "ray"})})
    init = time.perf_counter() - t0
    res = run_scan(cfg)
    wall = time.perf_counter() - t0
    rec = res.record.to_json()
    out = {"wall": wall, "init": init, "counts": rec["timings"].get("counts", 0.0), "stages": rec["timings"],
           "groups": rec["counts"]["groups_tested"], "cells": rec["counts"]["cells_nonzero"],
           "positives": rec["counts"]["positives"], "findings": len(res.findings),
           "tasks": (rec.get("engine") or {}).get("count_tasks", 0)}
    _finish(out, ray, temp)
    res.findings[["detector", "label", "group", "q_value"]].to_parquet(args.findings_out)
    return out


def _run_count_worker(kind: str, n: int, args, folder: Path) -> dict:
    target = folder / f"{kind}-{n}.parquet"
    if args.streamed:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_scale import write_stream_data

        data = Path(args.stream_dir or folder) / f"n{n}"
        if not (data / "tagscan.yaml").is_file():
            write_stream_data(data, n, args.labels, args.per)
        shutil.rmtree(data / "ws", ignore_errors=True)
        cmd = [sys.executable, __file__, "--counting", "--streamed", "--worker", kind, "--stream-dir", str(data),
               "--object-store-mb", str(args.object_store_mb), "--findings-out", str(target)]
    else:
        cmd = [sys.executable, __file__, "--counting", "--worker", kind, "--sizes", str(n), "--labels", str(args.labels),
               "--per", str(args.per), "--dim", str(args.dim), "--ks", ",".join(map(str, args.ks)),
               "--shard-positives", str(args.shard_positives), "--object-store-mb", str(args.object_store_mb),
               "--findings-out", str(target)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{kind} {'streamed ' if args.streamed else ''}worker at N={n} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["findings_path"] = str(target)
    return res


def _same_findings(a_path: str, b_path: str) -> str:
    import pandas as pd

    a, b = pd.read_parquet(a_path), pd.read_parquet(b_path)
    key = ["detector", "label", "group"]
    if set(map(tuple, a[key].to_numpy())) != set(map(tuple, b[key].to_numpy())):
        return "DIFFERENT flagged sets"
    m = a.merge(b, on=key, suffixes=("_a", "_b"))
    x = pd.to_numeric(m["q_value_a"]).to_numpy(dtype=np.float64, na_value=np.nan)
    y = pd.to_numeric(m["q_value_b"]).to_numpy(dtype=np.float64, na_value=np.nan)
    both = np.isfinite(x) & np.isfinite(y)
    rel = float(np.max(np.abs(x - y)[both] / np.maximum(np.abs(x[both]), 1e-300))) if both.any() else 0.0
    ok = bool(np.allclose(y, x, rtol=1e-9, atol=0, equal_nan=True))
    return f"same {len(a):,} flagged (detector, label, group); q max rel diff {rel:.1e} ({'ok' if ok else 'OVER 1e-9'})"


def counting_main(args) -> int:
    if args.worker:
        work = streamed_worker(args.worker, args) if args.streamed else count_worker(args.worker, args.sizes[0], args)
        print(json.dumps(work))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="bench-count-"))
    cpus = os.cpu_count() or 2
    print(f"# scan with counting in-process vs on a local Ray ({cpus} CPUs): N samples x {args.labels:,} labels x "
          f"{args.per} predictions, k={args.ks}, Ray blocks of {args.shard_positives:,} positives")
    try:
        for n in args.sizes:
            lo = _run_count_worker("local", n, args, folder)
            ry = _run_count_worker("ray", n, args, folder)
            print(f"N={n:,}: {lo['positives']:,} positives, {lo['groups']:,} groups, {lo['cells']:,} non-zero cells, "
                  f"{ry['tasks']} Ray counting tasks")
            print(f"  local: wall {lo['wall']:.1f} s (counts {lo['counts']:.1f} s), driver peak {lo['driver_peak_gb']:.2f} GB")
            print(f"  ray:   wall {ry['wall']:.1f} s incl. ray.init {ry['init']:.1f} s (counts {ry['counts']:.1f} s; "
                  f"shutdown {ry['shutdown']:.1f} s more), driver peak {ry['driver_peak_gb']:.2f} GB, worker peak "
                  f"{ry['worker_peak_gb']:.2f} GB ({ry['n_workers']} workers, {ry['workers_sum_gb']:.2f} GB summed)")
            print(f"  overhead ratio ray / local: {ry['wall'] / lo['wall']:.2f}x wall with start-up, "
                  f"{(ry['wall'] - ry['init']) / lo['wall']:.2f}x without; counts stage {ry['counts'] / lo['counts']:.2f}x")
            print(f"  findings: {_same_findings(lo['findings_path'], ry['findings_path'])}")
            print(f"  stages local (s): {json.dumps(lo['stages'])}")
            print(f"  stages ray   (s): {json.dumps(ry['stages'])}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="N texts (default 5000 20000), or N samples with --counting (default 1000000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--actors", type=int, default=None)
    parser.add_argument("--actor-cpus", type=float, default=None)
    parser.add_argument("--local-threads", type=int, default=None,
                        help="torch threads in-process (default: torch's; 1 matches a 1-CPU actor)")
    parser.add_argument("--counting", action="store_true", help="the scan with counting in-process vs on Ray")
    parser.add_argument("--labels", type=int, default=50_000)
    parser.add_argument("--per", type=int, default=10)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], default=[64, 256, 666])
    parser.add_argument("--shard-positives", type=int, default=5_000_000)
    parser.add_argument("--streamed", action="store_true", help="with --counting: out of core (bench_scale --stream files)")
    parser.add_argument("--stream-dir", help="with --streamed: where the files are (kept there for a rerun)")
    parser.add_argument("--object-store-mb", type=int, default=2048)
    parser.add_argument("--worker", choices=["local", "ray"], help=argparse.SUPPRESS)
    parser.add_argument("--findings-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.counting:
        args.sizes = args.sizes or [1_000_000]
        return counting_main(args)
    args.sizes = args.sizes or [5000, 20000]
    if args.local_threads:
        import torch

        torch.set_num_threads(args.local_threads)
    from tagscan.embed.ray_engine import RaySession

    embedder = load_embedder("default", input_kind="text", batch_size=64)
    name = embedder.name
    engine = EngineConfig(kind="ray", num_actors=args.actors, num_cpus_per_actor=args.actor_cpus)
    cpus = os.cpu_count() or 2
    rows = []
    for n in args.sizes:
        local_cold, local_warm, ray_cold, ray_warm = [], [], [], []
        for r in range(args.repeat):
            items = texts(n, seed=1000 * n + r)  # new texts each run: nothing cached anywhere
            local_cold.append(run_local(items, with_load=True))
            local_warm.append(run_local(texts(n, seed=1000 * n + r + 500), with_load=False, embedder=embedder))
            # Ray with start-up: init + pool start + model loads + embed + read back (shutdown not counted).
            t0 = time.perf_counter()
            ray, temp, home = start_local_ray(cpus)
            session = RaySession(engine, Path(temp), cache_configured=True)
            try:
                _, steady = run_ray(session, name, texts(n, seed=1000 * n + r + 700))
                ray_cold.append(time.perf_counter() - t0)
                ray_warm.append(steady)
            finally:
                ray.shutdown()
                shutil.rmtree(temp, ignore_errors=True)
        med = statistics.median
        rows.append((n, med(local_cold), med(ray_cold), med(local_warm), med(ray_warm)))
        print(f"N={n}: done ({args.repeat} runs)", file=sys.stderr, flush=True)
    if _HOME is not None:
        shutil.rmtree(_HOME, ignore_errors=True)
    import torch

    print(f"# {cpus} CPUs; in-process torch threads {torch.get_num_threads()}; medians of {args.repeat} runs; "
          "seconds; ratio = ray / local")
    print(f"{'N':>8} | {'local+startup':>13} {'ray+startup':>11} {'ratio':>6} | {'local':>7} {'ray':>7} {'ratio':>6} | ray rows/s")
    for n, lc, rc, lw, rw in rows:
        print(f"{n:>8} | {lc:>13.2f} {rc:>11.2f} {rc / lc:>6.2f} | {lw:>7.2f} {rw:>7.2f} {rw / lw:>6.2f} | {n / rw:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
