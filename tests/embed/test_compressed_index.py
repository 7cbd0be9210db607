"""Beyond a memory budget the index is a compressed IVF index (issue 12): IVF-SQ8 (a quarter of IVFFlat's
memory), else IVF-PQ; it saves and loads as itself, and its recall@10 against exact search is measured."""

from __future__ import annotations

import json

import numpy as np
import pytest
from vector_sets import clustered, recall_at

from tagscan.embed.index import (
    MEMORY_BUDGET_BYTES,
    VectorIndex,
    index_bytes,
    ivf_nlist,
    ivf_nprobe,
    plan_index,
    save_index,
)
from tagscan.errors import DataError

N, D = 12_000, 16


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    base = clustered(N, D, 60, seed=2)
    rng = np.random.default_rng(3)
    queries = base[rng.choice(N, 300, replace=False)] + 0.15 * rng.standard_normal((300, D))
    queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
    _, truth = VectorIndex.build(base).search(queries, 10)
    return base, queries, truth


def test_the_kind_follows_the_memory_budget():
    n, d, nlist = 1_000_000, 384, ivf_nlist(1_000_000)
    assert MEMORY_BUDGET_BYTES == 2 << 30
    ivf = index_bytes("ivf", n, d, nlist=nlist)
    assert plan_index(n, d) == ("ivf", 0) and ivf < MEMORY_BUDGET_BYTES  # 1.5 GiB: under the default budget
    assert plan_index(n, d, memory_budget_bytes=ivf) == ("ivf", 0)
    assert plan_index(n, d, memory_budget_bytes=ivf - 1) == ("ivfsq", 0)
    sq = index_bytes("ivfsq", n, d, nlist=nlist)
    assert sq < ivf / 3.5
    kind, m = plan_index(n, d, memory_budget_bytes=sq - 1)
    assert kind == "ivfpq" and d % m == 0 and index_bytes("ivfpq", n, d, nlist=nlist, m=m) <= sq - 1
    assert plan_index(3_000_000, 384)[0] == "ivfsq"  # 3 M x 384: IVFFlat would be 4.3 GiB
    assert plan_index(50_000, 384, memory_budget_bytes=30_000_000) == ("ivfsq", 0)  # below the IVF row threshold too
    assert plan_index(5_000, 384, memory_budget_bytes=1) == ("ivfsq", 0)  # too few rows to train PQ
    assert plan_index(0, 384, memory_budget_bytes=1) == ("exact", 0)


def test_ivfsq_beyond_the_budget_keeps_high_recall(data, tmp_path):
    base, queries, truth = data
    budget = index_bytes("exact", N, D) - 1  # the exact index (N is below the IVF threshold) does not fit
    index = VectorIndex.build(base, memory_budget_bytes=budget)
    assert index.kind == "ivfsq" and index.ntotal == N and index.dim == D
    assert index.nlist == ivf_nlist(N) and index.nprobe == ivf_nprobe(index.nlist)
    assert "IndexIVFScalarQuantizer" in repr(index) and "nprobe=" in repr(index)
    scores, found = index.search(queries, 10)
    assert recall_at(10, found, truth) >= 0.9
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    index.save(tmp_path / "sq.faiss")
    loaded = VectorIndex.load(tmp_path / "sq.faiss")
    assert loaded.kind == "ivfsq" and loaded.nprobe == index.nprobe and loaded.ntotal == N
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)
    loaded.nprobe = loaded.nlist  # every list probed: the rest of the loss is the 8-bit codes'
    assert recall_at(10, loaded.search(queries, 10)[1], truth) >= recall_at(10, found, truth)


def test_ivfpq_when_even_sq8_is_over_the_budget(data, tmp_path):
    base, queries, truth = data
    nlist = ivf_nlist(N)
    budget = index_bytes("ivfpq", N, D, nlist=nlist, m=D // 4)
    index = VectorIndex.build(base, memory_budget_bytes=budget, seed=1)
    assert index.kind == "ivfpq" and index.ntotal == N and index.nlist == nlist
    _, found = index.search(queries, 10)
    recall = recall_at(10, found, truth)
    assert recall >= 0.45  # 4 bytes a row for 16 floats: far coarser than SQ8, far above chance (10 / N)
    index.save(tmp_path / "pq.faiss")
    loaded = VectorIndex.load(tmp_path / "pq.faiss")
    assert loaded.kind == "ivfpq" and "IndexIVFPQ" in repr(loaded)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)


def test_save_index_rebuilds_when_the_budget_changes_the_kind(data, tmp_path):
    base = data[0][:2_000]
    first = save_index(base, tmp_path, "inputs")
    assert first.loaded and first.index.kind == "exact"
    assert json.loads((tmp_path / "inputs.json").read_text())["kind"] == "exact"
    kept = save_index(base, tmp_path, "inputs")
    assert not kept.loaded  # same vectors, same kind: the saved file is kept
    small = save_index(base, tmp_path, "inputs", memory_budget_bytes=index_bytes("exact", 2_000, D) // 2)
    assert small.loaded and small.index.kind == "ivfsq"
    assert VectorIndex.load(tmp_path / "inputs.faiss").kind == "ivfsq"
    meta = json.loads((tmp_path / "inputs.json").read_text())
    assert meta["kind"] == "ivfsq" and meta["ntotal"] == 2_000
    del meta["kind"]  # an index saved before kinds were recorded is kept when the plan is exact
    (tmp_path / "inputs.json").write_text(json.dumps(meta))
    assert save_index(base, tmp_path, "inputs", memory_budget_bytes=1).loaded


@pytest.mark.parametrize("budget", [0, -5, 1.5, True, "2GB"])
def test_bad_memory_budget_is_a_data_error(data, budget):
    with pytest.raises(DataError, match=r"^memory_budget_bytes: must be a positive integer byte count"):
        VectorIndex.build(data[0][:100], memory_budget_bytes=budget)


def test_a_memory_mapped_matrix_is_indexed_as_the_array(data, tmp_path):
    base, queries, truth = data
    np.save(tmp_path / "v.npy", base)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    index = VectorIndex.build(mapped, memory_budget_bytes=index_bytes("exact", N, D) - 1)
    assert index.kind == "ivfsq"
    reference = VectorIndex.build(base, memory_budget_bytes=index_bytes("exact", N, D) - 1)
    np.testing.assert_array_equal(index.search(queries, 10)[1], reference.search(queries, 10)[1])
    assert save_index(mapped, tmp_path / "a", "x").index.ntotal == N
    first = json.loads((tmp_path / "a" / "x.json").read_text())["content"]
    save_index(base, tmp_path / "b", "x")
    assert json.loads((tmp_path / "b" / "x.json").read_text())["content"] == first  # blockwise hash = whole hash
