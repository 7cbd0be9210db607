"""In-process vs Ray embedding of N texts with the packaged all-MiniLM-L6-v2, side by side in one run.

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
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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


def start_local_ray(num_cpus: int) -> tuple[object, str, str]:
    """A loopback-only Ray as ../shared/RAY.md says; returns (ray, temp dir, home)."""
    import ray  # imported before HOME moves, as the tests' fixture does

    global _HOME
    if _HOME is None:  # one HOME per process: a second ray.init looks for the first one's auth token there
        _HOME = tempfile.mkdtemp(prefix="rh-")
        Path(_HOME, "ray_bootstrap_config.yaml").write_text("{}\n")
    home, temp = _HOME, tempfile.mkdtemp(prefix="r-", dir="/tmp")
    saved_home = os.environ.get("HOME")
    os.environ.update({"HOME": home, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"})

    ray.init(num_cpus=num_cpus, num_gpus=0, object_store_memory=512 * 1024**2, include_dashboard=False,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--actors", type=int, default=None)
    parser.add_argument("--actor-cpus", type=float, default=None)
    parser.add_argument("--local-threads", type=int, default=None,
                        help="torch threads in-process (default: torch's; 1 matches a 1-CPU actor)")
    args = parser.parse_args(argv)
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
