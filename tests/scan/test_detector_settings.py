"""Detector settings (``scan.detectors``), typed results and declared directions.

A detector defined here, in the test, with its own Config gets its settings from the YAML config and runs
through the engine with no edit anywhere else: adding a detector is one file plus one import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from pydantic import Field

from tagscan.config import ScanConfig, load_config
from tagscan.errors import ConfigError
from tagscan.scan.counts import count_cells
from tagscan.scan.detectors import (
    Detector,
    DetectorConfig,
    DetectorResult,
    FamilyRecord,
    ScanContext,
    available_detectors,
    default_settings,
    register,
    resolve,
)
from tagscan.scan.detectors.base import _REGISTRY, cell_table
from tagscan.scan.detectors.label_family import LabelFamilyConfig
from tagscan.scan.findings import conservative_effect, scan
from tagscan.scan.groups import build_groups

ALL = ["alignment_gap", "association", "error_gap", "label_family", "under_representation"]


def _data():
    rng = np.random.default_rng(0)
    n = 600
    a = np.array(rng.choice(["x", "y"], size=n), dtype=object)
    df = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "a": a})
    Y = rng.random((n, 3)) < 0.1
    Y[:, 0] = np.where(a == "x", rng.random(n) < 0.5, rng.random(n) < 0.05)
    Y = sp.csr_matrix(Y.astype(np.int8))
    g = build_groups(df, attributes=["a"], min_group_size=10)
    labels = np.array(["l0", "l1", "l2"], dtype=object)
    ctx = ScanContext(Y=Y, scores=Y.astype(np.float32), labels=labels, label_names=labels, groups=g,
                      counts=count_cells(g, Y), watch_weight=np.zeros(3), watch_category=np.full(3, None, object))
    return df, ctx


def _scan(df, ctx, detectors):
    return scan(ctx, sample_ids=df["sample_id"].to_numpy(dtype=object), person_rows=np.ones(len(df), bool),
                detectors=detectors)


# --------------------------------------------------------------------------------------------------
# A toy detector: every cell of one label, reported as is
# --------------------------------------------------------------------------------------------------


class ToyConfig(DetectorConfig):
    label: str = "l0"
    min_count: int = Field(default=0, ge=0)


class ToyOver(Detector):
    """Every (group, label) cell of ``config.label`` with at least ``min_count`` hits, p = q = 0.01."""

    name = "toy_over_for_test"
    Config = ToyConfig
    direction = "over"

    def run(self, ctx: ScanContext, config: ToyConfig) -> DetectorResult:
        c = ctx.counts
        j = int(np.flatnonzero(ctx.labels == config.label)[0])
        sel = (c.label == j) & (c.count >= config.min_count)
        m = int(sel.sum())
        rows = cell_table(
            detector=self.name, family="toy", group_index=c.group[sel], label_index=c.label[sel],
            k=c.count[sel], n=c.group_size[sel], K=c.label_count[sel], N=c.total[sel],
            p=np.full(m, 0.01), q=np.full(m, 0.01), family_size=m,
        )
        return DetectorResult(rows, (FamilyRecord("toy", 1, m, m, None, m),), {"label": config.label})


class ToyUnder(ToyOver):
    name = "toy_under_for_test"
    direction = "under"


@pytest.fixture
def toys():
    register(ToyOver)
    register(ToyUnder)
    try:
        yield
    finally:
        _REGISTRY.pop(ToyOver.name, None)
        _REGISTRY.pop(ToyUnder.name, None)


def test_a_new_detector_gets_its_settings_from_the_yaml_config_and_runs(toys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "name": "x",
        "data": {"samples": "s.csv", "predictions": "p.csv"},
        "scan": {"detectors": {"association": None, "toy_over_for_test": {"label": "l1", "min_count": 3}}},
    }))
    cfg = load_config(path)
    settings = resolve(cfg.scan, config_path=cfg.path)
    assert list(settings) == ["association", "toy_over_for_test"]
    assert settings["toy_over_for_test"] == ToyConfig(label="l1", min_count=3)
    df, ctx = _data()
    out = _scan(df, ctx, settings)
    assert out.detectors == {"association": "ran", "toy_over_for_test": "ran"}
    toy = out.findings[out.findings["detector"] == "toy_over_for_test"]
    assert set(toy["label"]) == {"l1"} and (toy["count"] >= 3).all() and len(toy) == 2
    assert out.extra["toy_over_for_test.label"] == "l1"
    assert out.families[-1] == {
        "name": "toy", "n_labels": 1, "n_pairs": 2, "n_testable": 2, "tarone_level": None, "n_significant": 2,
        "correction": "bh", "alternative": "greater",
    }
    # Its settings are validated like any other's.
    with pytest.raises(ConfigError, match=(
        r"c\.yaml: unknown key 'scan\.detectors\.toy_over_for_test\.lable'; did you mean 'label'\? "
        r"valid keys of scan\.detectors\.toy_over_for_test: label, min_count, enabled$"
    )):
        resolve(ScanConfig(detectors={"toy_over_for_test": {"lable": "l1"}}), config_path=path)
    with pytest.raises(ConfigError, match=r"key 'scan\.detectors\.toy_over_for_test\.min_count': .*found -1"):
        resolve(ScanConfig(detectors={"toy_over_for_test": {"min_count": -1}}))


def test_severity_reads_each_detector_direction(toys):
    df, ctx = _data()
    out = _scan(df, ctx, default_settings(["toy_over_for_test", "toy_under_for_test"]))
    f = out.findings.set_index(["detector", "group"])
    # l0 is rare on a=y (5% vs 50%): no harm read as over-representation, a strong effect read as under.
    over, under = f.loc[("toy_over_for_test", "a=y")], f.loc[("toy_under_for_test", "a=y")]
    assert over["lift_high"] < 1
    assert over["severity"] == 7.5  # 100 x discovery harm 0.15 x (0.5 + 0.5 x no effect)
    assert under["severity"] > 10
    # The ratio itself: the lift's lower bound, or the reciprocal of its upper bound.
    rows = pd.DataFrame({"detector": ["a", "b"], "lift_low": [2.0, 0.1], "lift_high": [3.0, 0.25], "eb05": np.nan})
    assert conservative_effect(rows, {"a": "over", "b": "under"}).tolist() == [2.0, 4.0]
    assert conservative_effect(rows, {"a": "over", "b": "over"}).tolist() == [2.0, 0.1]


def test_directions_of_the_built_in_detectors():
    reg = available_detectors()
    assert {n: c.direction for n, c in reg.items() if n in ALL} == {
        "alignment_gap": "over", "association": "over", "error_gap": "over", "label_family": "over",
        "under_representation": "under",
    }


def test_registration_takes_inputs_only_and_a_known_direction():
    class Switch(Detector):
        name = "switch_for_test"
        requires = ("under_representation",)

    class Sideways(Detector):
        name = "sideways_for_test"
        direction = "sideways"

    with pytest.raises(ValueError, match="requires 'under_representation', which is not an input"):
        register(Switch)
    with pytest.raises(ValueError, match="direction must be 'over' or 'under'"):
        register(Sideways)
    assert "switch_for_test" not in available_detectors() and "sideways_for_test" not in available_detectors()


def test_engine_refuses_settings_of_another_detector():
    df, ctx = _data()
    with pytest.raises(TypeError, match="settings must be a LabelFamilyConfig"):
        _scan(df, ctx, {"label_family": DetectorConfig()})


# --------------------------------------------------------------------------------------------------
# resolve: the three forms, the older keys, the errors
# --------------------------------------------------------------------------------------------------


def test_no_detectors_key_runs_every_detector_with_defaults():
    got = resolve(ScanConfig())
    assert list(got) == ALL
    assert got == default_settings()
    assert got["label_family"] == LabelFamilyConfig(similarity=0.8, max_size=25)
    assert got["under_representation"].labels is False


def test_a_list_runs_those_in_its_order():
    assert list(resolve(ScanConfig(detectors=["label_family", "association"]))) == ["label_family", "association"]


def test_a_mapping_enables_the_detectors_it_names_with_their_settings():
    got = resolve(ScanConfig(detectors={
        "under_representation": {"labels": ["doctor"]},
        "label_family": {"similarity": 0.85, "max_size": 10},
        "association": None,
        "error_gap": {"enabled": False},
    }))
    assert list(got) == ["under_representation", "label_family", "association"]
    assert got["under_representation"].labels == ["doctor"]
    assert got["label_family"] == LabelFamilyConfig(similarity=0.85, max_size=10)


def test_the_older_top_level_keys_feed_the_settings():
    got = resolve(ScanConfig(under_representation=["doctor"], family_similarity=0.9))
    assert got["under_representation"].labels == ["doctor"] and got["label_family"].similarity == 0.9
    got = resolve(ScanConfig(under_representation=True, detectors={"under_representation": {}, "label_family": {"max_size": 5}}))
    assert got["under_representation"].labels is True
    assert got["label_family"] == LabelFamilyConfig(similarity=0.8, max_size=5)


@pytest.mark.parametrize(
    ("scan_cfg", "match"),
    [
        ({"detectors": ["asociation"]},
         r"^c\.yaml: key 'scan\.detectors': unknown detector 'asociation'; did you mean 'association'\? "
         r"valid detectors: alignment_gap, association, error_gap, label_family, under_representation$"),
        ({"detectors": {"nope": None}}, r"unknown detector 'nope'; valid detectors: alignment_gap, "),
        ({"detectors": {"label_family": {"similarty": 0.9}}},
         r"^c\.yaml: unknown key 'scan\.detectors\.label_family\.similarty'; did you mean 'similarity'\? "
         r"valid keys of scan\.detectors\.label_family: similarity, max_size, enabled$"),
        ({"detectors": {"association": {"fdr": 0.1}}},
         r"unknown key 'scan\.detectors\.association\.fdr'; detector 'association' has no settings"),
        ({"detectors": {"label_family": {"similarity": 1.5}}},
         r"^c\.yaml: key 'scan\.detectors\.label_family\.similarity': .*less than or equal to 1 \(found 1\.5\); "
         r"fix the value in the config$"),
        ({"detectors": {"under_representation": {"labels": "doctor"}}},
         r"key 'scan\.detectors\.under_representation\.labels': must be true \(every label\), false \(none\) or "
         r"a list of label ids \(found 'doctor'\)"),
        ({"detectors": {"association": {"enabled": "no"}}},
         r"key 'scan\.detectors\.association\.enabled': must be true or false \(found 'no'\)"),
        ({"family_similarity": 0.9, "detectors": {"label_family": {"similarity": 0.85}}},
         r"^c\.yaml: keys 'scan\.family_similarity' and 'scan\.detectors\.label_family\.similarity' both set the "
         r"same thing; keep one"),
        ({"under_representation": ["doctor"], "detectors": {"under_representation": {"labels": ["nurse"]}}},
         r"keys 'scan\.under_representation' and 'scan\.detectors\.under_representation\.labels' both set"),
    ],
)
def test_settings_errors_name_the_key_and_the_fix(scan_cfg, match):
    with pytest.raises(ConfigError, match=match) as exc:
        resolve(ScanConfig(**scan_cfg), config_path="c.yaml")
    assert "\n" not in str(exc.value)
