"""One embedding cache per machine: two workspaces scanning the same texts under the same model embed them once,
the cache is where TAGSCAN_CACHE_DIR (or embed.cache_dir) says, and where it lives does not change the findings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.demo.planted import Planted, SynthSpec, write_audit_set

runner = CliRunner()


@pytest.fixture
def text_set(tmp_path) -> Path:
    """A small audit set whose inputs are texts (embedded with the packaged MiniLM), in ``tmp_path/a``."""
    cfg = write_audit_set(
        tmp_path / "a", SynthSpec(n=400, n_labels=30, planted=[Planted("gorilla", {"tone": "dark"}, 0.3)])
    )
    raw = yaml.safe_load(cfg.read_text())
    raw["data"]["embeddings"] = None
    raw["groups"]["clusters"] = [3]
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return cfg


def _scan(cfg: Path) -> tuple[dict, pd.DataFrame, str]:
    res = runner.invoke(app, ["scan", str(cfg)])
    assert res.exit_code in (0, 1), res.output
    run_dir = sorted((cfg.parent / "ws" / "runs").iterdir())[-1]
    return (
        json.loads((run_dir / "run.json").read_text()),
        pd.read_parquet(run_dir / "findings.parquet"),
        res.stdout,
    )


def test_a_second_workspace_embeds_nothing_and_loads_no_model(text_set, user_cache_dir, monkeypatch):
    import tagscan.embed.deferred as deferred

    loads = []
    real_load = deferred.load_embedder

    def counting_load(*args, **kwargs):
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(deferred, "load_embedder", counting_load)
    first, first_findings, out = _scan(text_set)
    assert (first["embedding"]["computed_inputs"], first["embedding"]["computed_labels"]) == (400, 31)
    assert len(loads) == 1
    cache = user_cache_dir / "embeddings"
    assert f"embedding cache {cache}: 0 of 400 inputs and 0 of 31 label names came from it" in out
    # The same audit set in another folder: another workspace, the machine's one cache.
    other = text_set.parent.parent / "b"
    shutil.copytree(text_set.parent, other, ignore=shutil.ignore_patterns("ws"))
    second, second_findings, out = _scan(other / "tagscan.yaml")
    assert (second["embedding"]["computed_inputs"], second["embedding"]["computed_labels"]) == (0, 0)
    assert len(loads) == 1  # the model's identity was recorded in the shared cache: never loaded again
    assert f"embedding cache {cache}: 400 of 400 inputs and 31 of 31 label names came from it" in out
    assert second["embedding"]["input_model"] == first["embedding"]["input_model"]
    pd.testing.assert_frame_equal(
        second_findings.drop(columns=["run_id"], errors="ignore"),
        first_findings.drop(columns=["run_id"], errors="ignore"),
    )
    assert not (text_set.parent / "ws" / "cache").exists() and not (other / "ws" / "cache").exists()


def test_embed_cache_dir_in_the_config_wins_and_is_relative_to_it(text_set, user_cache_dir):
    raw = yaml.safe_load(text_set.read_text())
    raw["embed"]["cache_dir"] = "my-cache"
    text_set.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = runner.invoke(app, ["embed", str(text_set)])
    assert res.exit_code == 0, res.output
    cache = text_set.parent / "my-cache" / "embeddings"
    assert f"embedding cache {cache}: 0 of 400 inputs" in res.stdout
    assert any(cache.glob("*/shard-*.npz")) and not (user_cache_dir / "embeddings").exists()
    # The config echo in run.json leaves it out: where vectors are kept is not what the scan computes.
    info, _, _ = _scan(text_set)
    assert "cache_dir" not in info["config"]["embed"] and info["embedding"]["computed_inputs"] == 0


def test_an_unusable_cache_folder_is_exit_2_naming_it(text_set, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("TAGSCAN_CACHE_DIR", str(tmp_path / "a-file"))
    res = runner.invoke(app, ["scan", str(text_set)])
    assert res.exit_code == 2, res.output
    assert (
        "a-file/embeddings" in res.stderr
        and "TAGSCAN_CACHE_DIR" in res.stderr
        and "Traceback" not in res.output
    )
