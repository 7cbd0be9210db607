"""The detector engine: registry rules, skipped and failed detectors are recorded, never swallowed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import ScanContext, default_settings
from tagscan.scan.detectors.base import _REGISTRY, Detector, get_detector, register
from tagscan.scan.detectors.label_family import _capped_single_linkage
from tagscan.scan.findings import scan
from tagscan.scan.groups import build_groups


def _ctx():
    rng = np.random.default_rng(0)
    n = 500
    a = np.array(rng.choice(["x", "y"], size=n), dtype=object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "a": a})
    Y = rng.random((n, 3)) < 0.1
    Y[:, 0] = np.where(a == "x", rng.random(n) < 0.5, rng.random(n) < 0.05)
    Y = sp.csr_matrix(Y.astype(np.int8))
    g = build_groups(df, attributes=["a"], min_group_size=10)
    labels = np.array(["l0", "l1", "l2"], dtype=object)
    return df, ScanContext(Y=Y, scores=Y.astype(np.float32), labels=labels, label_names=labels, groups=g,
                           counts=count_cells(g, Y), watch_weight=np.zeros(3), watch_category=np.full(3, None, object))


def test_failed_detector_is_recorded_and_others_still_report():
    class Broken(Detector):
        name = "broken_for_test"

        def run(self, ctx, config):
            raise RuntimeError("boom")

    register(Broken)
    try:
        df, ctx = _ctx()
        out = scan(ctx, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
                   detectors=default_settings(["association", "broken_for_test"]))
        assert out.detectors["broken_for_test"] == "failed: RuntimeError: boom"
        assert out.detectors["association"] == "ran"
        assert ((out.findings["label"] == "l0") & (out.findings["group"] == "a=x")).any()
    finally:
        _REGISTRY.pop("broken_for_test", None)


def test_registry_refuses_duplicates_and_lists_valid_names():
    class Dup(Detector):
        name = "association"

    with pytest.raises(ValueError, match="already registered"):
        register(Dup)
    with pytest.raises(KeyError, match="valid detectors: .*association"):
        get_detector("no_such_detector")


def test_label_families_with_no_similar_pair():
    code, left_out = _capped_single_linkage(4, np.array([], np.int64), np.array([], np.int64), np.array([]), 25)
    assert code.tolist() == [0, 1, 2, 3] and left_out == 0
