"""Heavy dependencies stay confined to their one module each."""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'transformers', 'faiss', 'label_studio_sdk'}:
            raise ImportError(f'blocked for this test: {name}')
        return None
sys.meta_path.insert(0, Block())
"""


def test_scan_core_imports_without_torch_faiss_or_sdk():
    code = BLOCKER + (
        "import tagscan.scan, tagscan.scan.stats, tagscan.scan.groups, tagscan.scan.counts, "
        "tagscan.scan.findings, tagscan.scan.detectors, tagscan.scan.severity, "
        "tagscan.config, tagscan.yamlio, tagscan.inputs, tagscan.runs, tagscan.scan.watchlist, tagscan.cli, tagscan.pipeline, "
        "tagscan.embed, tagscan.embed.cache\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_blocker_really_blocks():
    code = BLOCKER + "import tagscan.embed.index\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "blocked for this test: faiss" in out.stderr


def test_text_embedder_module_does_not_load_the_image_stack():
    """A text scan pays for torch and the text model only: the CLIP image processor pulls in
    transformers' processing stack (seconds of imports) and is imported by ClipEmbedder itself."""
    code = (
        "import sys, tagscan.embed.embedders\n"
        "heavy = [m for m in ('transformers.processing_utils', 'transformers.image_processing_utils',\n"
        "         'transformers.models.clip.image_processing_pil_clip') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_default_scan_imports_no_ray(synth_config):
    """Ray is an optional extra (engine.kind: ray): a scan with the default engine runs with it blocked."""
    code = BLOCKER.replace("{'torch', 'transformers', 'faiss', 'label_studio_sdk'}", "{'ray'}") + (
        "from tagscan.cli import app\n"
        f"app(['scan', {str(synth_config)!r}], standalone_mode=False)\n"
        "print('ray imported' if any(m.split('.')[0] == 'ray' for m in sys.modules) else 'no ray')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "no ray"
