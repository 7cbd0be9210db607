"""A ``python:`` embedder of numpy loads, embeds and caches without torch or transformers being importable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# As in tests/test_boundaries.py: any import of these packages fails in the child process.
BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'transformers', 'faiss', 'label_studio_sdk'}:
            raise ImportError(f'blocked for this test: {name}')
        return None
sys.meta_path.insert(0, Block())
"""

NUMPY_EMBEDDER = textwrap.dedent(
    """
    import numpy as np

    class Hashing:
        name = "numpy-hashing-v1"
        dim = 8

        def embed_texts(self, texts):
            rows = np.zeros((len(texts), self.dim))
            for i, text in enumerate(texts):
                for j, ch in enumerate(text.encode()):
                    rows[i, (ch + j) % self.dim] += 1.0
                rows[i, 0] += 1.0
            return rows
    """
)

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from tagscan.embed import load_embedder
    from tagscan.embed.deferred import embedder
    from tagscan.embed.stage import TermEmbedder

    plugin = load_embedder("python:numpy_plugin_for_test:Hashing", input_kind="text", batch_size=4)
    vectors = plugin.embed_texts(["a dog", "a cat"])
    assert vectors.shape == (2, 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # The stage's route (through the record of known models) and the cache load no torch either.
    staged = embedder("python:numpy_plugin_for_test:Hashing", input_kind="text", cache_root=sys.argv[1], batch_size=4)
    np.testing.assert_allclose(TermEmbedder(staged, sys.argv[1]).embed(["a dog", "a cat"]), vectors, atol=1e-6)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers", "faiss"})
    print(plugin.name, heavy)
    """
)


def test_a_numpy_plugin_embedder_loads_without_torch(tmp_path):
    (tmp_path / "numpy_plugin_for_test.py").write_text(NUMPY_EMBEDDER)
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER + SCRIPT, str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["numpy-hashing-v1", "[]"]


def test_the_blocker_stops_a_model_spec_at_the_torch_import(tmp_path):
    """The same loader with a model spec does need torch: the block above is real."""
    code = BLOCKER + "from tagscan.embed import load_embedder\nload_embedder('default')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "blocked for this test: torch" in out.stderr
