"""Where the machine's embedding cache lives (config, TAGSCAN_CACHE_DIR, XDG_CACHE_HOME, ~/.cache), and that
two processes filling one cache at once both finish with every vector readable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tagscan.embed.cache import EmbeddingCache, embedding_cache_root, tagscan_cache_dir
from tagscan.errors import ConfigError


def test_the_test_suite_never_uses_the_real_user_cache(user_cache_dir):
    assert tagscan_cache_dir() == user_cache_dir
    assert not user_cache_dir.is_relative_to(Path.home() / ".cache")


def test_precedence_config_then_env_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tagscan_cache_dir(tmp_path / "cfg") == tmp_path / "cfg"
    assert tagscan_cache_dir() == tmp_path / "env"
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", "")  # empty counts as unset
    assert tagscan_cache_dir() == tmp_path / "xdg" / "tagscan"
    monkeypatch.delenv("TAGSCAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # invalid by the XDG spec: ignored
    assert tagscan_cache_dir() == tmp_path / "home" / ".cache" / "tagscan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tagscan_cache_dir() == tmp_path / "home" / ".cache" / "tagscan"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", "rel")  # relative: from the current folder, as a shell would
    assert tagscan_cache_dir() == tmp_path / "rel"


def test_embedding_root_is_created_and_an_unusable_one_names_the_fix(tmp_path):
    root = embedding_cache_root(tmp_path / "c")
    assert root == tmp_path / "c" / "embeddings" and root.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        ConfigError,
        match=r"^embedding cache: cannot create '.*file/embeddings' \(.*\); set embed\.cache_dir in the config "
        r"or TAGSCAN_CACHE_DIR in the environment to a writable folder$",
    ):
        embedding_cache_root(tmp_path / "file")


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from tagscan.embed.cache import EmbeddingCache

    root, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    items = [f"item {i}" for i in range(start, stop)]

    def compute(batch):
        return np.array([[float(item.split()[1]), 1.0, -1.0] for item in batch], dtype=np.float32)

    vectors, computed = EmbeddingCache(root, "model:x").embed(items, compute, shard_size=1)
    assert np.array_equal(vectors, compute(items)), "read back other vectors than computed"
    print(computed)
    """
)


def test_two_processes_filling_one_cache_at_once_both_finish_and_every_vector_reads_back(tmp_path, caplog):
    """Overlapping items, one shard per item: each shard is written aside and renamed into place, so neither
    process ever reads a half-written shard of the other, and no temporary file is left."""
    root = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(a), str(b)], stdout=subprocess.PIPE, text=True
        )
        for a, b in ((0, 300), (150, 450))
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    cache = EmbeddingCache(root, "model:x")
    with caplog.at_level("WARNING"):
        vectors, computed = cache.embed([f"item {i}" for i in range(450)], lambda batch: 1 / 0)
    assert computed == 0 and not caplog.records
    np.testing.assert_array_equal(vectors[:, 0], np.arange(450, dtype=np.float32))
    assert not list(cache.directory.glob(".shard-*")) and len(cache) == 450
