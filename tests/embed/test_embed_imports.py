"""``import tagscan.embed`` and its light modules must not import torch, transformers or faiss."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {BLOCKED}:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def run(code: str, blocked: set[str]) -> subprocess.CompletedProcess:
    script = BLOCKER.replace("{BLOCKED}", repr(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("code", "blocked"),
    [
        (
            "import tagscan.embed; assert 'EmbeddingCache' in dir(tagscan.embed)",
            {"torch", "transformers", "faiss"},
        ),
        (
            "import tagscan.embed.cache; from tagscan.embed import EmbeddingCache",
            {"torch", "transformers", "faiss"},
        ),
        (
            "import tagscan.embed.index; from tagscan.embed import VectorIndex, kmeans",
            {"torch", "transformers"},
        ),
        (
            "import tagscan.embed.images; from tagscan.embed import ImageEmbeddingJob, load_image, resolve_image_refs",
            {"torch", "transformers", "faiss"},
        ),
    ],
)
def test_light_imports(code, blocked):
    result = run(code, blocked)
    assert result.returncode == 0, result.stderr


def test_lazy_exports_resolve_to_their_modules():
    import tagscan.embed as embed
    from tagscan.embed import cache, index

    assert embed.EmbeddingCache is cache.EmbeddingCache
    assert embed.VectorIndex is index.VectorIndex
    assert set(embed.__all__) <= set(dir(embed))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        embed.nope  # noqa: B018
