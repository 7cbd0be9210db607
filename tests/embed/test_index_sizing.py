"""VectorIndex sized to the data: exact below the threshold, IVF above; recall against exact search."""

from __future__ import annotations

import numpy as np
import pytest
from vector_sets import clustered, recall_at

from tagscan.embed.index import EXACT_THRESHOLD, VectorIndex, ivf_nlist, ivf_nprobe
from tagscan.errors import DataError


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    base = clustered(20_000, 32, 100, seed=0)
    rng = np.random.default_rng(1)
    noise = 0.2 * rng.standard_normal((300, 32))
    queries = base[rng.choice(len(base), 300, replace=False)] + noise  # near, not on, indexed rows
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return base, np.ascontiguousarray(queries, dtype=np.float32)


def test_exact_below_the_threshold(data):
    base, _ = data
    index = VectorIndex.build(base[:1000], exact_threshold=1001)
    assert index.kind == "exact" and index.nlist is None and index.nprobe is None
    assert EXACT_THRESHOLD == 100_000
    assert VectorIndex.build(base[:500]).kind == "exact"


def test_ivf_above_the_threshold_has_high_recall_at_10(data):
    base, queries = data
    exact = VectorIndex.build(base)
    ivf = VectorIndex.build(base, exact_threshold=10_000)
    assert ivf.kind == "ivf" and ivf.ntotal == len(base) and ivf.dim == 32
    assert ivf.nlist == ivf_nlist(len(base)) == min(round(4 * np.sqrt(20_000)), 20_000 // 39)
    assert ivf.nprobe == ivf_nprobe(ivf.nlist)
    _, truth = exact.search(queries, 10)
    scores, found = ivf.search(queries, 10)
    assert recall_at(10, found, truth) >= 0.9
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    assert "IndexIVFFlat" in repr(ivf) and "nprobe=" in repr(ivf)


def test_more_lists_probed_never_lowers_recall(data):
    base, queries = data
    _, truth = VectorIndex.build(base).search(queries, 10)
    ivf = VectorIndex.build(base, exact_threshold=1, nlist=256, nprobe=1)
    recalls = []
    for nprobe in (1, 4, 16, 256):
        ivf.nprobe = nprobe
        recalls.append(recall_at(10, ivf.search(queries, 10)[1], truth))
    assert recalls == sorted(recalls) and recalls[-1] == 1.0  # every list probed = exact


def test_save_and_load_keep_the_lists_and_nprobe(data, tmp_path):
    base, queries = data
    ivf = VectorIndex.build(base, exact_threshold=1, nlist=128, nprobe=7)
    path = tmp_path / "inputs.faiss"
    ivf.save(path)
    loaded = VectorIndex.load(path)
    assert (loaded.kind, loaded.nlist, loaded.nprobe, loaded.ntotal) == ("ivf", 128, 7, len(base))
    for a, b in zip(loaded.search(queries, 10), ivf.search(queries, 10)):
        np.testing.assert_array_equal(a, b)


def test_seeded_build_is_deterministic(data):
    base, queries = data
    a = VectorIndex.build(base, exact_threshold=1, nlist=64, seed=3).search(queries, 5)
    b = VectorIndex.build(base, exact_threshold=1, nlist=64, seed=3).search(queries, 5)
    np.testing.assert_array_equal(a[1], b[1])


def test_ivf_may_find_fewer_than_k_rows_marked_minus_one(data):
    base, queries = data
    ivf = VectorIndex.build(base[:2000], exact_threshold=1, nlist=40, nprobe=1)
    scores, ids = ivf.search(queries[:5], 1000)
    assert (ids == -1).any()
    assert np.isneginf(scores[ids == -1]).all() and np.isfinite(scores[ids >= 0]).all()


def test_small_data_gets_few_lists():
    assert ivf_nlist(100) == 2 and ivf_nlist(10) == 1
    assert ivf_nlist(1_000_000) == 4000 and ivf_nprobe(4000) == 250 and ivf_nprobe(10) == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"nlist": 0},
            r"^nlist: the number of IVF lists must be an integer in 1\.\.2000 \(the number of rows\), got 0",
        ),
        ({"nlist": 2001}, r"^nlist: .* got 2001"),
        (
            {"nlist": 10, "nprobe": 11},
            r"^nprobe: the number of lists searched must be an integer in 1\.\.10 \(nlist\), got 11",
        ),
        ({"exact_threshold": "big"}, r"^exact_threshold: must be an integer row count, got 'big'"),
    ],
)
def test_bad_sizing_arguments(data, kwargs, match):
    base, _ = data
    kwargs = {"exact_threshold": 1, **kwargs}
    with pytest.raises(DataError, match=match):
        VectorIndex.build(base[:2000], **kwargs)


def test_nprobe_setter_validates(data):
    base, _ = data
    with pytest.raises(
        DataError, match=r"^nprobe: only an IVF index has lists to probe; this index is exact$"
    ):
        VectorIndex.build(base[:100]).nprobe = 3
    ivf = VectorIndex.build(base[:2000], exact_threshold=1, nlist=10)
    with pytest.raises(DataError, match=r"^nprobe: must be an integer in 1\.\.10 \(nlist\), got 0$"):
        ivf.nprobe = 0
