"""The Ray engine of the embed stage (issue 12): the same vectors and findings as in-process, a rescan that
embeds nothing, and one-line errors (exit 2) for a missing extra, an unreachable or remote address without a
shared cache, and a path a node cannot see. A few small runs on one session-scoped local Ray (conftest)."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.embed.cache import item_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()

THINGS = ["dog", "cat", "bicycle", "guitar", "tree", "boat", "car", "lamp", "chair", "horse"]
PLACES = ["beach", "park", "kitchen", "street", "forest", "office"]
MOODS = ["sunny", "rainy", "quiet", "busy", "old", "bright"]


def write_text_set(folder: Path, *, engine: dict | None = None, n: int = 240) -> Path:
    """A small text audit set with a planted association (``ape`` on ``tone=dark``); returns its config."""
    rng = np.random.default_rng(12)
    folder.mkdir(parents=True, exist_ok=True)
    tone = rng.choice(["light", "dark"], size=n)
    texts = [f"a {MOODS[i % 6]} photo of a {THINGS[i % 10]} at the {PLACES[(i // 10) % 6]}, take {i}" for i in range(n)]
    pd.DataFrame({"sample_id": [f"s{i:03d}" for i in range(n)], "text": texts, "tone": tone}).to_csv(
        folder / "samples.csv", index=False
    )
    labels = [f"tag{j}" for j in range(15)]
    pred = [(f"s{i:03d}", labels[j], 0.9) for i in range(n) for j in rng.choice(15, size=3, replace=False)]
    pred += [(f"s{i:03d}", "ape", 0.95) for i in range(n) if rng.random() < (0.3 if tone[i] == "dark" else 0.02)]
    pd.DataFrame(pred, columns=["sample_id", "label", "score"]).to_csv(folder / "predictions.csv", index=False)
    cfg = {
        "name": "texts",
        "workspace": "ws",
        "data": {"samples": "samples.csv", "predictions": "predictions.csv"},
        "embed": {"input": "text", "model": "default", "batch_size": 32},
        "groups": {"attributes": ["tone"], "clusters": [3], "min_group_size": 20},
        "scan": {"watchlist": "default"},
    }
    if engine is not None:
        cfg["engine"] = engine
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _findings(run_folder: str) -> pd.DataFrame:
    return pd.read_parquet(Path(run_folder) / "findings.parquet")


def _run_folder(output: str) -> str:
    return next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("run folder: "))


def _vectors(cache_root: Path, texts: list[str]) -> np.ndarray:
    """The cached vectors of ``texts`` (one model: one namespace folder), read from its shards."""
    (folder,) = [p for p in cache_root.iterdir() if p.is_dir()]
    rows = _shard_rows(folder)
    return np.stack([rows[item_key(t)] for t in texts])


def test_ray_scan_gives_the_vectors_and_findings_of_a_local_scan_and_a_rescan_embeds_nothing(
    ray_cluster, tmp_path, monkeypatch
):
    local_cache, ray_cache = tmp_path / "cache-local", tmp_path / "cache-ray"
    local_cfg = write_text_set(tmp_path / "local")
    ray_cfg = write_text_set(tmp_path / "ray", engine={"kind": "ray"})
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(local_cache))
    local = runner.invoke(app, ["scan", str(local_cfg), "--engine", "local"])
    assert local.exit_code == 0, local.output
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(ray_cache))
    remote = runner.invoke(app, ["scan", str(ray_cfg)])  # engine.kind: ray from the config
    assert remote.exit_code == 0, remote.output
    assert "0 of 240 inputs and 0 of 16 label names came from it" in remote.stdout

    texts = pd.read_csv(tmp_path / "local" / "samples.csv")["text"].tolist() + [f"tag{j}" for j in range(15)]
    np.testing.assert_allclose(
        _vectors(ray_cache / "embeddings", texts), _vectors(local_cache / "embeddings", texts), rtol=0, atol=1e-6
    )
    a, b = _findings(_run_folder(local.stdout)), _findings(_run_folder(remote.stdout))
    key = ["detector", "label", "group"]
    assert len(a) > 0 and ((a["label"] == "ape") & (a["group"] == "tone=dark")).any()
    assert set(map(tuple, a[key].to_numpy())) == set(map(tuple, b[key].to_numpy()))
    merged = a.merge(b, on=key, suffixes=("_local", "_ray"))
    np.testing.assert_allclose(merged["q_value_ray"], merged["q_value_local"], rtol=1e-9, atol=0)

    # A rescan on Ray: every vector is in the cache the workers wrote, nothing is embedded again.
    again = runner.invoke(app, ["embed", str(ray_cfg), "--engine", "ray"])
    assert again.exit_code == 0, again.output
    assert "240 inputs (0 computed, 240 from cache)" in again.stdout and "(0 computed)" in again.stdout
    # The local path reads the Ray workers' vectors as its own.
    shutil.rmtree(tmp_path / "local" / "ws")
    reread = runner.invoke(app, ["embed", str(local_cfg), "--engine", "local"])
    assert reread.exit_code == 0 and "240 inputs (0 computed, 240 from cache)" in reread.stdout, reread.output


def test_ray_not_installed_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra
    res = runner.invoke(app, ["scan", str(write_text_set(tmp_path / "d")), "--engine", "ray"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        "tagscan: error: engine.kind is ray but Ray is not installed; pip install 'tagscan[ray]' "
        "(or set engine.kind: local)"
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_is_one_line(tmp_path):
    address = f"ray://127.0.0.1:{_free_port()}"
    res = runner.invoke(app, ["embed", str(write_text_set(tmp_path / "d", engine={"kind": "ray", "address": address}))])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert f"cannot reach the Ray cluster at {address}" in line and "ray start --head" in line


def test_remote_address_needs_a_cache_dir_every_worker_reads(tmp_path, monkeypatch):
    monkeypatch.delenv("TAGSCAN_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the default cache folder: never the machine's
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    cfg = write_text_set(tmp_path / "d", engine={"kind": "ray", "address": "ray://head.example:10001"})
    res = runner.invoke(app, ["scan", str(cfg)])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert "is a remote Ray cluster" in line and "set embed.cache_dir to a folder on storage every worker reads" in line


def test_engine_section_rejects_unknown_keys_and_bad_addresses(tmp_path):
    for engine, needle in [
        ({"kind": "ray", "adress": "auto"}, "unknown key 'engine.adress'; did you mean 'address'?"),
        ({"kind": "spark"}, "key 'engine.kind'"),
        ({"kind": "ray", "address": "10.0.0.1:6379"}, 'must be null (a Ray on this machine), "auto" or "ray://HOST:PORT"'),
    ]:
        res = runner.invoke(app, ["scan", str(write_text_set(tmp_path / "d", engine=engine))])
        assert res.exit_code == 2 and needle in res.stderr, res.output


def test_a_node_that_cannot_see_a_path_is_one_line(ray_cluster, tmp_path):
    from tagscan.config import EngineConfig
    from tagscan.embed.ray_engine import RaySession
    from tagscan.errors import ConfigError

    with RaySession(EngineConfig(kind="ray"), tmp_path / "cache", cache_configured=True) as session:
        session.check_paths([])  # every node sees the cache folder (one machine)
        with pytest.raises(ConfigError, match=r"^Ray node .* cannot see the model or image folder \(/nowhere/model\); put it on"):
            session.check_paths([Path("/nowhere/model")])


def test_images_on_ray_equal_local_and_an_unreadable_one_is_skipped_as_locally(ray_cluster, tmp_path, monkeypatch):
    """Image inputs (the tiny CLIP fixture): the workers read the files and write the cache; an image they
    cannot read is left to the driver, which skips it with --skip-bad-images exactly as in-process."""
    from PIL import Image

    tiny_clip = Path(__file__).parents[1] / "fixtures" / "tiny-clip"
    rng = np.random.default_rng(3)
    folder = tmp_path / "photos"
    (folder / "img").mkdir(parents=True)
    n = 60
    for i in range(n - 1):
        arr = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / "img" / f"{i:03d}.png")
    (folder / "img" / f"{n - 1:03d}.png").write_bytes(b"not a png")  # hashed fine, unreadable on the worker
    tone = ["dark" if i % 2 else "light" for i in range(n)]
    pd.DataFrame({"sample_id": [f"p{i:03d}" for i in range(n)], "image": [f"img/{i:03d}.png" for i in range(n)],
                  "tone": tone}).to_csv(folder / "samples.csv", index=False)
    pd.DataFrame([(f"p{i:03d}", "gorilla" if tone[i] == "dark" and i % 3 else "tree", 0.9) for i in range(n)],
                 columns=["sample_id", "label", "score"]).to_csv(folder / "predictions.csv", index=False)
    cfg = folder / "tagscan.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "photos", "workspace": "ws",
        "data": {"samples": "samples.csv", "predictions": "predictions.csv"},
        "embed": {"input": "image", "model": str(tiny_clip), "batch_size": 16},
        "groups": {"attributes": ["tone"], "min_group_size": 10},
    }))
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(tmp_path / "cache-ray"))
    res = runner.invoke(app, ["embed", str(cfg), "--engine", "ray", "--skip-bad-images"])
    assert res.exit_code == 0, res.output
    assert "embedded 59 inputs (59 computed, 0 from cache)" in res.stdout
    assert "skipped 1 unreadable image(s), e.g." in res.stdout and "059.png" in res.stdout
    strict = runner.invoke(app, ["embed", str(cfg), "--engine", "ray"])  # without the flag: exit 2 naming the row
    assert strict.exit_code == 2 and "p059" in strict.stderr, strict.output
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(tmp_path / "cache-local"))
    assert runner.invoke(app, ["embed", str(cfg), "--engine", "local", "--skip-bad-images"]).exit_code == 0
    ray_root, local_root = tmp_path / "cache-ray" / "embeddings", tmp_path / "cache-local" / "embeddings"
    namespaces = sorted(p.name for p in ray_root.iterdir() if p.is_dir())
    assert len(namespaces) == 2 and namespaces == sorted(p.name for p in local_root.iterdir() if p.is_dir())
    for name in namespaces:  # image vectors, label names: the same vectors on either engine
        on_ray, here = _shard_rows(ray_root / name), _shard_rows(local_root / name)
        assert on_ray.keys() == here.keys() and len(on_ray) > 0
        np.testing.assert_allclose(
            np.stack([on_ray[k] for k in sorted(here)]), np.stack([here[k] for k in sorted(here)]), rtol=0, atol=1e-6
        )


def _shard_rows(folder: Path) -> dict[bytes, np.ndarray]:
    """Every (key, vector) in a cache namespace folder's shards."""
    rows = {}
    for shard in folder.glob("shard-*.npz"):
        with np.load(shard) as data:
            rows.update(zip(map(bytes, data["keys"]), data["vectors"]))
    return rows


def test_actor_pool_takes_a_gpu_each_only_where_there_are_gpus_and_never_every_cpu():
    """No cluster needed: the pool for given resources (a GPU request on a GPU-less cluster, or a pool holding
    every CPU, would hang forever: RAY.md traps 1 and 2)."""
    from tagscan.config import EngineConfig
    from tagscan.embed.ray_engine import pool_shape
    from tagscan.errors import ConfigError

    ray = EngineConfig(kind="ray")
    assert pool_shape({"CPU": 2.0}, ray) == {"size": 1, "num_cpus": 1.0, "num_gpus": 0}
    assert pool_shape({"CPU": 8.0}, ray) == {"size": 7, "num_cpus": 1.0, "num_gpus": 0}
    assert pool_shape({"CPU": 16.0, "GPU": 4.0}, ray) == {"size": 4, "num_cpus": 1.0, "num_gpus": 1}
    assert pool_shape({"CPU": 2.0}, EngineConfig(kind="ray", num_actors=3, num_cpus_per_actor=0.5))["size"] == 3
    for engine in (EngineConfig(kind="ray", num_actors=2), EngineConfig(kind="ray", num_cpus_per_actor=2)):
        with pytest.raises(ConfigError, match=r"take every CPU of the Ray cluster \(2\)"):
            pool_shape({"CPU": 2.0}, engine)
    with pytest.raises(ConfigError, match="has 1 GPU"):
        pool_shape({"CPU": 8.0, "GPU": 1.0}, EngineConfig(kind="ray", num_actors=2))
