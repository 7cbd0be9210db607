"""What a warm rescan pays to learn that its text model did not change: stat vs hashing the weights.

A rescan whose texts are all cached never loads the model (``embed/deferred.py``), but it must still
know that the model folder holds the same bytes as when its vectors were cached. Hashing every
weight file answers that at disk/sha256 speed, seconds for a multi-GB model on every scan; the
stat memo (``model_files.json``, keyed by each file's size, mtime, ctime, inode) answers it from
``stat`` alone. Both are timed in one run, alternating, on:

- ``minilm``: the packaged all-MiniLM-L6-v2 (about 90 MB);
- ``synthetic``: a text-model folder with one ``--size-gb`` GB weight file of random bytes (the
  size of a large encoder; the bench waits out the racy window after writing it, so the memo takes it).

    .venv/bin/python scripts/bench/bench_model_identity.py [--size-gb 1.0] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tagscan.embed.embedders import default_text_model_dir
from tagscan.embed.identity import content_key, hash_model_files


def synthetic_model(folder: Path, size_gb: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 1024}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    chunk = os.urandom(1 << 24)
    with open(folder / "model.safetensors", "wb") as fh:
        for _ in range(max(1, round(size_gb * 1024 / 16))):
            fh.write(chunk)
    time.sleep(2.5)  # past the racy window (embed.identity._RACY_NS), so the memo may record them
    return folder


def time_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, model_dir: Path, cache: Path, repeat: int) -> None:
    def full_hash() -> None:
        hash_model_files(hashlib.sha256(), model_dir)

    def stat_memo() -> None:
        content_key(model_dir, cache_root=cache)

    size = sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file())
    first = time_once(stat_memo)  # records the stat key (the files' ctime may still be too recent)
    recorded = (cache / "model_files.json").is_file()
    hashed, memo = [], []
    for _ in range(repeat):
        hashed.append(time_once(full_hash))
        memo.append(time_once(stat_memo))
    h, m = statistics.median(hashed), statistics.median(memo)
    print(
        f"{name:<10} {size / 1e6:>8,.0f} MB   first call {first * 1e3:>8.1f} ms   "
        f"hash every scan {h * 1e3:>8.1f} ms   stat memo {m * 1e3:>7.2f} ms   ratio {h / m:>8,.0f}x"
        + ("" if recorded else "   (files changed too recently to be recorded: the memo column hashed too)")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"median of {args.repeat}, hashing and stat memo alternating")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bench("minilm", default_text_model_dir(), tmp_path / "cache-minilm", args.repeat)
        model = synthetic_model(tmp_path / "big", args.size_gb)
        bench("synthetic", model, tmp_path / "cache-big", args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
