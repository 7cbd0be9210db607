"""label_studio_sdk stays in tagscan.review.label_studio: the rest of the package imports without it."""

from __future__ import annotations

import subprocess
import sys

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'label_studio_sdk':
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
"""


def test_review_imports_without_the_sdk():
    code = BLOCK + (
        "import tagscan.review, tagscan.review.codec, tagscan.review.aggregate, tagscan.review.store, "
        "tagscan.review.service, tagscan.review.backend\n"
        "assert 'label_studio_sdk' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_backend_needs_the_sdk():
    code = BLOCK + "import tagscan.review\ntagscan.review.LabelStudioBackend\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "blocked for this test: label_studio_sdk" in out.stderr
