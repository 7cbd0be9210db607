"""Counting on Ray (issue 12): ``count_shard`` as one task per prediction shard, summed in a tree on the
workers, gives the cells of the in-process count exactly, and a scan with ``--engine ray`` the findings of a
local scan (the same flagged set, q-values within 1e-9 relative); a shard folder a worker cannot see is a
one-line error naming the fix. On the session-scoped local Ray of conftest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.config import EngineConfig
from tagscan.demo.planted import Planted, SynthSpec, make_tables, write_audit_set
from tagscan.inputs.shards import InMemoryPositives, ShardedPositives, write_shard
from tagscan.scan.counts import RayCellCounter, cell_counter, count_cells
from tagscan.scan.groups import build_groups

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()
PLANTED = [Planted("gorilla", {"tone": "dark"}, 0.08), Planted("mugshot", {"tone": "dark", "gender": "man"}, 0.12)]
KEY = ["detector", "label", "group"]


def _set(n: int = 1500, seed: int = 4):
    """Groups and positives (samples x labels CSR) of a small generated audit set."""
    samples, pred, _ = make_tables(SynthSpec(n=n, n_labels=60, seed=seed, planted=PLANTED))
    labels = sorted(set(pred["label"]))
    rows = pd.Index(samples["sample_id"]).get_indexer(pred["sample_id"])
    cols = pd.Index(labels).get_indexer(pred["label"])
    S = sp.csr_matrix((pred["score"].to_numpy(np.float32), (rows, cols)), shape=(n, len(labels)))
    S.sort_indices()
    groups = build_groups(samples, attributes=["tone", "gender"], intersections=[["tone", "gender"]],
                          clusters={}, cluster_universe=None, min_group_size=20)
    return groups, S


def _same_cells(a, b) -> None:
    for name in ("group", "label", "count", "group_size", "label_count", "total", "universe_label_counts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_ray_counts_over_several_shards_equal_the_local_count(ray_cluster, tmp_path):
    groups, S = _set()
    Y = sp.csr_matrix((np.ones(S.nnz, dtype=np.int8), S.indices, S.indptr), shape=S.shape)
    local = count_cells(groups, InMemoryPositives(Y, S))
    assert len(local) > 100 and local.count.sum() > 0

    # In memory, cut into blocks of about shard_positives positives: several tasks, a tree of sums.
    counter = cell_counter(EngineConfig(kind="ray", shard_positives=S.nnz // 7))
    assert isinstance(counter, RayCellCounter)
    _same_cells(counter(groups, InMemoryPositives(Y, S)), local)
    assert counter.n_tasks >= 7

    # The store's own blocks (block_rows), an odd number of them.
    counter = RayCellCounter(EngineConfig(kind="ray"))
    _same_cells(counter(groups, InMemoryPositives(Y, S, block_rows=300)), local)
    assert counter.n_tasks == 5

    # A shard folder: each task reads its own part file.
    folder = tmp_path / "shards"
    folder.mkdir()
    bounds = [0, 100, 700, 701, 1200, 1500]
    parts = [write_shard(folder, i, a, S[a:b]) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    store = ShardedPositives.finish(folder, S.shape, parts, S.nnz)
    counter = RayCellCounter(EngineConfig(kind="ray"))
    _same_cells(counter(groups, store), local)
    assert counter.n_tasks == 5


def test_a_shard_folder_a_worker_cannot_see_is_one_line(ray_cluster, tmp_path):
    from tagscan.errors import ConfigError

    groups, S = _set(n=300)
    folder = tmp_path / "shards"
    folder.mkdir()
    store = ShardedPositives.finish(folder, S.shape, [write_shard(folder, 0, 0, S)], S.nnz)
    # The folder the driver opened is not where the workers look (here: gone once the store was opened).
    moved = tmp_path / "elsewhere"
    shutil.move(folder, moved)
    with pytest.raises(ConfigError) as caught:
        RayCellCounter(EngineConfig(kind="ray"))(groups, store)
    (line,) = str(caught.value).splitlines()
    assert line.startswith("Ray node ") and f"cannot see the prediction shards ({folder})" in line
    assert "put the workspace on storage every worker reads" in line


def _scan(cfg: Path, *args: str) -> tuple[pd.DataFrame, dict, str]:
    res = runner.invoke(app, ["scan", str(cfg), *args])
    assert res.exit_code == 0, res.output
    folder = next(line.split(": ", 1)[1] for line in res.stdout.splitlines() if line.startswith("run folder: "))
    run = json.loads((Path(folder) / "run.json").read_text())
    return pd.read_parquet(Path(folder) / "findings.parquet"), run, res.stdout


def test_scan_with_engine_ray_gives_the_findings_of_a_local_scan(ray_cluster, tmp_path):
    spec = SynthSpec(n=3000, n_labels=120, planted=PLANTED)
    local_cfg = write_audit_set(tmp_path / "local", spec)
    # The label names are embedded by the local scan first (same cache): this one runs only the counting on Ray.
    ray_cfg = write_audit_set(tmp_path / "ray", spec, config={"engine": {"kind": "ray", "shard_positives": 1500}})
    a, run_a, _ = _scan(local_cfg, "--engine", "local")
    b, run_b, out = _scan(ray_cfg)

    assert run_a["engine"] == {"embed": "local", "counts": "local", "address": None, "count_tasks": 0}
    assert run_b["engine"]["counts"] == "ray" and run_b["engine"]["count_tasks"] >= 3
    assert f"counted on Ray (a Ray started on this machine): {run_b['engine']['count_tasks']} shard task(s)" in out
    assert run_a["counts"]["cells_nonzero"] == run_b["counts"]["cells_nonzero"]

    flagged = a[a["q_value"] <= run_a["config"]["scan"]["fdr"]]
    assert ((flagged["label"] == "gorilla") & (flagged["group"] == "tone=dark")).any()
    assert set(map(tuple, a[KEY].to_numpy())) == set(map(tuple, b[KEY].to_numpy()))
    merged = a.merge(b, on=KEY, suffixes=("_local", "_ray"))
    assert len(merged) == len(a)
    np.testing.assert_allclose(merged["q_value_ray"], merged["q_value_local"], rtol=1e-9, atol=0)


def test_streamed_scan_counted_on_ray_gives_the_findings_of_an_in_memory_scan(ray_cluster, tmp_path):
    """Out of core and on Ray together: the predictions read in record batches into shards on disk, each
    shard counted by a Ray task that reads its own part file, against the whole tables in this process."""
    spec = SynthSpec(n=3000, n_labels=120, planted=PLANTED)
    local_cfg = write_audit_set(tmp_path / "local", spec, config={"data": {"stream": False}})
    ray_cfg = write_audit_set(
        tmp_path / "ray", spec,
        config={"engine": {"kind": "ray"}, "data": {"stream": True, "batch_rows": 2000, "shard_samples": 700}},
    )
    a, run_a, _ = _scan(local_cfg, "--engine", "local")
    b, run_b, _ = _scan(ray_cfg)
    assert run_b["engine"]["counts"] == "ray" and run_b["engine"]["count_tasks"] == 5  # 3,000 samples / 700
    assert run_a["counts"]["cells_nonzero"] == run_b["counts"]["cells_nonzero"]
    assert set(map(tuple, a[KEY].to_numpy())) == set(map(tuple, b[KEY].to_numpy()))
    merged = a.merge(b, on=KEY, suffixes=("_local", "_ray"))
    assert len(merged) == len(a) > 0
    np.testing.assert_allclose(merged["q_value_ray"], merged["q_value_local"], rtol=1e-9, atol=0)
