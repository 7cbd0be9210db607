"""Warm rescan of an image set: the deferred CLIP (nothing loaded) vs loading CLIP as before.

Builds ``--images`` photo-sized JPEGs, a simulated tagger's predictions with a planted association,
and a ViT-B/32-sized random CLIP (``bench_embed.build_clip``; or yours with ``--clip DIR``). One cold
`tagscan scan` embeds everything; then warm rescans alternate in fresh processes:

- ``deferred``: the normal path: the model's identity comes from ``models.json``, every image and
  label vector from the cache, and neither torch nor CLIP is loaded;
- ``loaded``: the same rescan with ``models.json`` removed first, so CLIP is loaded (torch,
  transformers, the weights) only to learn its name, as every image rescan did before.

Prints each wall time, the medians and their ratio, and whether the planted association was found.

    .venv/bin/python scripts/bench/bench_image_rescan.py [--images 2000] [--repeat 3] [--clip DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))


def build(folder: Path, n: int, clip: Path, seed: int = 0) -> Path:
    from bench_embed import write_images  # photo-like 640 x 480 JPEGs

    rng = np.random.default_rng(seed)
    (folder / "img").mkdir(parents=True)
    refs = write_images(folder / "img", n, seed)
    tone = rng.choice(["light", "medium", "dark"], size=n)
    ids = [f"p{i:05d}" for i in range(n)]
    pd.DataFrame({"sample_id": ids, "image": [f"img/{Path(r).name}" for r in refs], "skin_tone": tone}).to_csv(
        folder / "samples.csv", index=False
    )
    labels = [f"tag {j}" for j in range(300)] + ["gorilla"]
    rows = []
    for i in range(n):
        rows += [(ids[i], labels[j], 0.9) for j in rng.choice(300, size=5, replace=False)]
        if rng.random() < (0.08 if tone[i] == "dark" else 0.005):
            rows.append((ids[i], "gorilla", 0.95))
    pd.DataFrame(rows, columns=["sample_id", "label", "score"]).to_csv(folder / "predictions.csv", index=False)
    cfg = {
        "name": "photos",
        "workspace": "ws",
        "model": {"name": "photo-tagger", "version": "v1"},
        "data": {"samples": "samples.csv", "predictions": "predictions.csv"},
        "embed": {"input": "image", "model": str(clip)},
        "groups": {"attributes": ["skin_tone"], "clusters": [8], "min_group_size": 30},
    }
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def scan(cfg: Path) -> tuple[float, bool, bool]:
    """Wall time of one `tagscan scan` process, whether it imported torch, whether it found the plant."""
    code = (
        "import sys, json\n"
        "from tagscan.config import load_config\n"
        "from tagscan.pipeline import run_scan\n"
        f"f = run_scan(load_config({str(cfg)!r})).findings\n"
        "found = bool(((f['label'] == 'gorilla') & (f['group'] == 'skin_tone=dark')).any())\n"
        "print(json.dumps(['torch' in sys.modules, found]))\n"
    )
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    torch_loaded, found = json.loads(res.stdout.strip().splitlines()[-1])
    return wall, torch_loaded, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clip", type=Path, default=None, help="a CLIP model folder (default: ViT-B/32-sized, random)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        clip = args.clip
        if clip is None:
            from bench_embed import build_clip

            clip = build_clip(tmp_path / "clip")
        cfg = build(tmp_path / "photos", args.images, clip)
        memo = cfg.parent / "ws" / "cache" / "embeddings" / "models.json"
        wall, torch_loaded, found = scan(cfg)
        print(f"cold scan ({args.images:,} images): {wall:.1f} s, planted association found: {found}")
        if not memo.is_file():
            raise SystemExit(f"expected the model's identity in {memo}")
        times: dict[str, list[float]] = {"deferred": [], "loaded": []}
        for _ in range(args.repeat):
            for mode in ("deferred", "loaded"):
                if mode == "loaded":
                    memo.unlink()
                wall, torch_loaded, found = scan(cfg)
                times[mode].append(wall)
                print(f"  warm {mode:<8} {wall:6.2f} s   torch imported: {torch_loaded}   found: {found}")
        d, l_ = statistics.median(times["deferred"]), statistics.median(times["loaded"])
        print(f"median warm rescan: deferred {d:.2f} s, loading CLIP {l_:.2f} s: {l_ / d:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
