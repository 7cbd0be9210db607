"""The embedding stage: live vectors, indexes and term embedder; cached vectors and unchanged indexes are reused."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tagscan.config import EmbedConfig
from tagscan.embed.index import VectorIndex
from tagscan.embed.stage import EmbedOutcome, TermEmbedder, embed_audit_set
from tagscan.inputs import AuditSet

PLUGIN = textwrap.dedent(
    """
    import numpy as np

    calls = []

    class Hashing:
        name = "stage-hashing-v1"
        dim = 8

        def embed_texts(self, texts):
            calls.append(len(texts))
            rows = np.zeros((len(texts), self.dim))
            for i, text in enumerate(texts):
                for j, ch in enumerate(text.encode()):
                    rows[i, (ch + 3 * j) % self.dim] += 1.0 + j
                rows[i, 0] += 0.5
            return rows
    """
)
TEXTS = ["a dog on grass", "a cat", "two people", "a red car", "a dog on grass", "the sea at night"]
LABELS = ["dog", "cat", "person", "car", "sea"]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    name = "tagscan_stage_plugin_test"
    (tmp_path / f"{name}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"python:{name}:Hashing"
    sys.modules.pop(name, None)


def _audit(vectors: np.ndarray | None = None) -> AuditSet:
    n, n_labels = len(TEXTS), len(LABELS)
    Y = sp.csr_matrix(np.eye(n, n_labels, dtype=np.int8))
    return AuditSet(
        samples=pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "text": TEXTS}),
        attributes=(),
        labels=np.array([f"L{j}" for j in range(n_labels)], dtype=object),
        label_names=np.array(LABELS, dtype=object),
        Y=Y,
        scores=Y.astype(np.float32),
        vectors=vectors,
        input_hashes={"embeddings": "0123456789abcdef"} if vectors is not None else {},
    )


def _stage(audit: AuditSet, spec: str, tmp_path, **options) -> EmbedOutcome:
    return embed_audit_set(
        audit,
        EmbedConfig(input="text", model=spec, batch_size=4),
        image_root=tmp_path,
        cache_root=tmp_path / "cache",
        index_dir=tmp_path / "index",
        **options,
    )


def test_the_outcome_holds_live_indexes_and_a_term_embedder(plugin, tmp_path):
    out = _stage(_audit(), plugin, tmp_path)
    assert (out.input_model, out.label_model) == ("stage-hashing-v1", "stage-hashing-v1")
    assert out.vectors.shape == (6, 8) and out.label_vectors.shape == (5, 8)
    assert (out.computed_inputs, out.computed_labels) == (5, 5)  # one input text is there twice
    assert out.kept is None and out.skipped == ()
    assert {name: path.name for name, path in out.index_paths.items()} == {"inputs": "inputs.faiss", "labels": "labels.faiss"}
    for name in ("inputs", "labels"):
        assert (tmp_path / "index" / f"{name}.faiss").is_file() and (tmp_path / "index" / f"{name}.json").is_file()
        assert out.indexes[name].loaded  # built in this call: held, not read back from its file
    assert isinstance(out.input_index, VectorIndex) and out.input_index.ntotal == 6
    assert out.label_index.ntotal == 5

    assert isinstance(out.terms, TermEmbedder) and out.terms.name == "stage-hashing-v1"
    terms = out.terms.embed(["cat", "sea"])
    np.testing.assert_allclose(terms, out.label_vectors[[1, 4]], atol=1e-6)
    _, ids = out.label_index.search(terms, 1)
    assert ids[:, 0].tolist() == [1, 4]


def test_a_rerun_embeds_nothing_and_reads_the_unchanged_indexes_only_when_used(plugin, tmp_path):
    first = _stage(_audit(), plugin, tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "index").iterdir()}
    again = _stage(_audit(), plugin, tmp_path)
    assert (again.computed_inputs, again.computed_labels) == (0, 0)
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "index").iterdir()} == stamps  # nothing rewritten
    assert not again.indexes["inputs"].loaded and not again.indexes["labels"].loaded
    scores, ids = again.input_index.search(first.vectors[:2], 3)
    expected = first.input_index.search(first.vectors[:2], 3)
    np.testing.assert_array_equal(ids, expected[1])
    np.testing.assert_allclose(scores, expected[0], atol=1e-6)
    assert again.indexes["inputs"].loaded and not again.indexes["labels"].loaded


def test_precomputed_vectors_without_labels_need_no_embedder(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(len(TEXTS), 5)).astype(np.float32) * 3
    out = _stage(_audit(raw), "python:never_imported_module:x", tmp_path, need_labels=False)
    assert out.input_model == "precomputed:0123456789ab"
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-6)
    assert out.label_vectors is None and out.label_model is None and out.label_index is None
    assert out.terms is None and set(out.indexes) == {"inputs"}
