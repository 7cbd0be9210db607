from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tagscan.config import load_config
from tagscan.errors import ConfigError

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def _write(tmp_path: Path, cfg: dict | str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg))
    return p


BASE = {"name": "x", "data": {"samples": "s.parquet", "predictions": "p.parquet"}}


def test_paths_resolve_against_config_folder(tmp_path):
    cfg = load_config(_write(tmp_path, BASE))
    assert cfg.data.samples == tmp_path / "s.parquet"
    assert cfg.workspace == tmp_path / ".tagscan" / "x"
    assert cfg.scan.fdr == 0.05 and cfg.groups.min_group_size == 30


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'scan\.fdrr'"):
        load_config(_write(tmp_path, {**BASE, "scan": {"fdrr": 0.1}}))


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'colour'"):
        load_config(_write(tmp_path, {**BASE, "colour": "red"}))


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"missing required key 'data\.predictions'"):
        load_config(_write(tmp_path, {"name": "x", "data": {"samples": "s.parquet"}}))


def test_bad_value_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'scan\.fdr'.*found 1\.5"):
        load_config(_write(tmp_path, {**BASE, "scan": {"fdr": 1.5}}))


def test_intersection_must_use_attributes(tmp_path):
    with pytest.raises(ConfigError, match=r"groups.*not in groups\.attributes"):
        load_config(_write(tmp_path, {**BASE, "groups": {"attributes": ["a"], "intersections": [["a", "b"]]}}))


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "name: [unclosed"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(_write(tmp_path, "- a\n- b\n"))


def test_example_configs_exist_and_load():
    assert CONFIGS, "configs/ must ship example configs"
    for path in CONFIGS:
        if path.name == "watchlist.yaml":
            continue
        cfg = load_config(path)
        assert cfg.name and cfg.data.samples.is_absolute()
