"""alignment_gap on a real text model: a perfect caption tagger, with and without a planted harm.

Data: :func:`tagscan.demo.captions.make_captions` per seed: captions that name their people's skin tone
(so all-MiniLM-L6-v2 places the tone groups apart), tagged with exactly what they name (a perfect tagger,
one rule for everyone), benign per-tone preferences of activity and scene, a ``region`` on every input,
``gorilla`` legitimate on animal photos, truth covering 50% of dark-skinned people and 90% of the rest.
The planted variant (same captions) also tags ``gorilla`` on ``--plant`` of dark-skinned people's captions.

Each seed is scanned twice through the product (`tagscan.pipeline.run_scan`, the packaged MiniLM, the
default watchlist, clusters k=8): fair, then planted (the planted scan's baseline is the fair one, so its
statuses say what changed). Printed per seed and in total:

- fair: alignment_gap and error_gap findings (pure nulls for a perfect tagger), findings at or above high
  (what `--fail-on high` fails on);
- planted: whether alignment_gap flags ``gorilla`` on ``skin_tone=dark``, its rank among all findings,
  the mean caption-label cosine of the planted captions and of the label's own captions.

    .venv/bin/python scripts/bench/bench_captions.py [--seeds 10] [--samples 3000] [--plant 0.05]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from tagscan.constants import level_rank
from tagscan.demo.captions import make_captions, write_captions
from tagscan.pipeline import load_config, run_scan


def write(folder: Path, seed: int, n: int, plant: float) -> tuple[Path, Path, object]:
    """Write the fair and planted versions of one seed (one workspace, one embedding cache)."""
    planted = make_captions(seed, n=n, plant=plant)
    return write_captions(folder, make_captions(seed, n=n), "fair"), write_captions(folder, planted, "planted"), planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--plant", type=float, default=0.05)
    args = ap.parse_args()
    tot = {"ag": [], "eg": [], "high": [], "found": [], "rank": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            fair_cfg, planted_cfg, planted = write(Path(tmp) / f"s{seed}", seed, args.samples, args.plant)
            f = run_scan(load_config(fair_cfg)).findings
            f = f[f["status"] != "resolved"]
            ag, eg = int((f["detector"] == "alignment_gap").sum()), int((f["detector"] == "error_gap").sum())
            high = int((f["severity_level"].map(level_rank) >= level_rank("high")).sum())
            res = run_scan(load_config(planted_cfg))
            p = res.findings[res.findings["status"] != "resolved"].reset_index(drop=True)
            hit = p[(p["detector"] == "alignment_gap") & (p["label"] == "gorilla") & (p["group"] == "skin_tone=dark")]
            rank = int(hit.index[0]) + 1 if len(hit) else None
            sims = _planted_similarity(planted)
            for k, v in (("ag", ag), ("eg", eg), ("high", high), ("found", rank is not None)):
                tot[k].append(v)
            if rank is not None:
                tot["rank"].append(rank)
            print(f"seed {seed}: fair alignment_gap {ag}, error_gap {eg}, >= high {high}; planted: "
                  f"{'found at rank ' + str(rank) if rank else 'NOT found'} of {len(p)} "
                  f"(cosine planted {sims[0]:.2f}, own {sims[1]:.2f})", flush=True)
    n = args.seeds
    print(f"\n{n} seeds x {args.samples} captions, plant {args.plant:.0%} of dark-skinned people")
    print(f"fair: alignment_gap findings total {sum(tot['ag'])} (seeds with any: {sum(x > 0 for x in tot['ag'])}/{n}); "
          f"error_gap total {sum(tot['eg'])}; seeds failing --fail-on high: {sum(x > 0 for x in tot['high'])}/{n}")
    med = statistics.median(tot["rank"]) if tot["rank"] else float("nan")
    print(f"planted: found by alignment_gap {sum(tot['found'])}/{n}, median rank {med}")


_EMBEDDER = None


def _planted_similarity(planted) -> tuple[float, float]:
    """Mean cosine of 'gorilla' with the planted captions and with the captions that name a gorilla."""
    global _EMBEDDER
    if _EMBEDDER is None:
        from tagscan.embed.embedders import load_text_embedder

        _EMBEDDER = load_text_embedder("default")
    texts = planted.samples["text"].to_numpy()
    own = np.array(["gorilla" in t for t in texts])
    w = _EMBEDDER.embed_texts(["gorilla"])[0]
    mean = [float((_EMBEDDER.embed_texts(list(texts[m])) @ w).mean()) if m.any() else float("nan") for m in (planted.planted, own)]
    return mean[0], mean[1]


if __name__ == "__main__":
    main()
