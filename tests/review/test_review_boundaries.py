"""label_studio_sdk stays in the Label Studio backend's transport: the rest of the package, the backend
registry and the Label Studio codec import without it; building a Label Studio backend needs it."""

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
        "tagscan.review.service, tagscan.review.backend, tagscan.review.backends, "
        "tagscan.review.backends.label_studio, tagscan.review.backends.label_studio.codec, "
        "tagscan.review.backends.label_studio.urls\n"
        "assert tagscan.review.get_backend('label_studio').name == 'label_studio'\n"
        "assert 'label_studio_sdk' not in sys.modules and 'httpx' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_backend_needs_the_sdk():
    code = BLOCK + "import tagscan.review\ntagscan.review.get_backend('label_studio')('http://127.0.0.1:1', 'k')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "blocked for this test: label_studio_sdk" in out.stderr


def test_only_the_transport_imports_the_sdk():
    """Read the imports (module and function level) of every review module."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "review"
    users = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "label_studio_sdk" for n in names):
                users.add(path.relative_to(root).as_posix())
    assert users == {"backends/label_studio/transport.py"}
