"""Image inputs end to end through the CLI: a tiny random CLIP (checked-in fixture), real image files,
a planted association found; a missing image is exit 2 naming it, --skip-bad-images goes on and says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from tagscan.cli import app

runner = CliRunner()
TINY_CLIP = Path(__file__).parent / "fixtures" / "tiny-clip"


@pytest.fixture
def image_config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    (folder / "img").mkdir(parents=True)
    n = 400
    tone = np.array(rng.choice(["light", "dark"], size=n), dtype=object)
    rows = []
    for i in range(n):
        colour = (200, 60, 60) if i % 2 else (60, 60, 200)
        arr = np.clip(np.array(colour) + rng.normal(0, 25, size=(32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / "img" / f"{i:04d}.png")
        rows.append({"sample_id": f"p{i:04d}", "image": f"img/{i:04d}.png", "tone": tone[i]})
    pd.DataFrame(rows).to_csv(folder / "samples.csv", index=False)
    labels = [f"tag{j}" for j in range(20)] + ["gorilla"]
    pred = []
    for i in range(n):
        for j in rng.choice(20, size=3, replace=False):
            pred.append((f"p{i:04d}", labels[j], 0.9))
        if rng.random() < (0.25 if tone[i] == "dark" else 0.01):
            pred.append((f"p{i:04d}", "gorilla", 0.95))
    pd.DataFrame(pred, columns=["sample_id", "label", "score"]).to_csv(folder / "predictions.csv", index=False)
    cfg = {
        "name": "photos",
        "workspace": "ws",
        "model": {"name": "photo-tagger", "version": "v1"},
        "data": {"samples": "samples.csv", "predictions": "predictions.csv"},
        "embed": {"input": "image", "model": str(TINY_CLIP), "batch_size": 32},
        "groups": {"attributes": ["tone"], "clusters": [2], "min_group_size": 20},
        "scan": {"watchlist": "default"},
    }
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_image_scan_finds_planted_association(image_config):
    res = runner.invoke(app, ["-q", "scan", str(image_config), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    f = pd.DataFrame(out["findings"])
    assert (f.iloc[0]["label"], f.iloc[0]["group"]) == ("gorilla", "tone=dark")
    info = json.loads((Path(out["run_dir"]) / "run.json").read_text())
    assert info["embedding"]["input_model"].startswith("hf-clip") or "clip" in info["embedding"]["input_model"].lower()
    assert info["embedding"]["computed_inputs"] == 400
    # Rescan: every image comes from the content cache.
    res = runner.invoke(app, ["-q", "embed", str(image_config)])
    assert res.exit_code == 0 and "0 computed" in res.stdout, res.output


def test_missing_image_is_an_input_error_unless_skipped(image_config):
    (image_config.parent / "img" / "0007.png").unlink()
    (image_config.parent / "img" / "0008.png").write_bytes(b"not an image")
    res = runner.invoke(app, ["scan", str(image_config)])
    assert res.exit_code == 2, res.output
    line = res.stderr.strip().splitlines()[-1]
    assert "0007.png" in line and "--skip-bad-images" in line and "Traceback" not in res.output
    res = runner.invoke(app, ["scan", str(image_config), "--skip-bad-images"])
    assert res.exit_code == 0, res.output
    assert "skipped 2 unreadable image(s)" in res.stdout


def test_image_model_must_be_clip(image_config):
    c = yaml.safe_load(image_config.read_text())
    c["embed"]["model"] = "default"
    image_config.write_text(yaml.safe_dump(c))
    res = runner.invoke(app, ["scan", str(image_config)])
    assert res.exit_code == 2 and "embed.model" in res.stderr and "CLIP" in res.stderr, res.output


def test_warm_image_rescan_loads_no_torch_until_an_image_is_new(image_config):
    """A rescan whose images and label names are all cached reads their vectors without importing
    torch or transformers (the CLIP folder's identity was recorded by the first scan); a new image
    loads the model and is embedded, and the findings are those of a scan that loaded it."""
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from tagscan.config import load_config\n"
        "from tagscan.pipeline import run_scan\n"
        f"res = run_scan(load_config({str(image_config)!r}))\n"
        "f = res.findings\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules,\n"
        "  'computed': res.record.embedding.computed_inputs,\n"
        "  'pairs': sorted(f['label'] + '|' + f['group'])}))\n"
    )

    def scan() -> dict:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    cold, warm = scan(), scan()
    assert (cold["torch"], cold["computed"]) == (True, 400)
    assert (warm["torch"], warm["transformers"], warm["computed"]) == (False, False, 0)
    assert warm["pairs"] == cold["pairs"] and "gorilla|tone=dark" in warm["pairs"]
    # One new photo: the deferred CLIP loads, embeds only it, and the scan goes on.
    folder = image_config.parent
    Image.fromarray(np.full((32, 32, 3), 90, dtype=np.uint8)).save(folder / "img" / "new.png")
    samples = pd.read_csv(folder / "samples.csv", dtype=str)
    samples.loc[len(samples)] = {"sample_id": "p-new", "image": "img/new.png", "tone": "light"}
    samples.to_csv(folder / "samples.csv", index=False)
    grown = scan()
    assert (grown["torch"], grown["computed"]) == (True, 1)


def test_report_of_an_image_scan_shows_bounded_thumbnails_and_a_placeholder_for_a_missing_file(image_config):
    """Issue 11, item 5: the report embeds each example as a small <img src="data:..."> and stays one file."""
    import base64
    import io
    import re

    res = runner.invoke(app, ["-q", "scan", str(image_config), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    first = out["findings"][0]["examples"]
    gone = image_config.parent / "img" / f"{first[0][1:]}.png"  # p0007 -> img/0007.png
    gone.unlink()
    res = runner.invoke(app, ["-q", "report", str(image_config)])
    assert res.exit_code == 0, res.output
    html = Path(res.stdout.strip()).read_text(encoding="utf-8")
    tags = re.findall(r'<img class="thumb" src="data:(image/(?:jpeg|png));base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"', html)
    assert tags, "thumbnails embedded as data: URIs"
    for _, b64, w, h in tags:
        size = Image.open(io.BytesIO(base64.b64decode(b64))).size
        assert size == (int(w), int(h)) and max(size) <= 96  # 32 x 32 photos are never enlarged
    assert len(html.encode()) < 5 * 2**20
    assert "image file missing" in html and f"img/{gone.name}" in html  # the placeholder names the file
    assert not re.search(r'\ssrc="(?!data:)', html)  # nothing loaded from outside the file
