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
        "tagscan.config, tagscan.data, tagscan.workspace, tagscan.watchlist, tagscan.cli, tagscan.pipeline, "
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
