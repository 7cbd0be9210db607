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
    with pytest.raises(ConfigError, match=r"unknown key 'scan\.fdrr'; did you mean 'fdr'\? valid keys of scan: threshold, fdr,"):
        load_config(_write(tmp_path, {**BASE, "scan": {"fdrr": 0.1}}))
    with pytest.raises(ConfigError, match=r"unknown key 'groups\.kmeans'; valid keys of groups: attributes, "):
        load_config(_write(tmp_path, {**BASE, "groups": {"kmeans": [8]}}))


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'colour'; valid keys of the top level: name, workspace, "):
        load_config(_write(tmp_path, {**BASE, "colour": "red"}))
    with pytest.raises(ConfigError, match=r"unknown key 'data\.sample'; did you mean 'samples'\?"):
        load_config(_write(tmp_path, {**BASE, "data": {**BASE["data"], "sample": "x.csv"}}))


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


# -- found in QA ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "needle"),
    [
        ({"attributes": ["a", "a"]}, r"key 'groups\.attributes': 'a' is listed twice"),
        ({"clusters": [4, 4]}, r"key 'groups\.clusters': 4 is listed twice"),
        (
            {"attributes": ["a", "b"], "intersections": [["a", "b"], ["b", "a"]]},
            r"intersection \['b', 'a'\] is listed twice \(order does not matter\)",
        ),
        ({"seed": -1}, r"key 'groups\.seed'.*greater than or equal to 0"),
    ],
)
def test_groups_are_not_tested_twice(tmp_path, groups, needle):
    """A repeated attribute, k or intersection would test the same groups twice (and inflate the family)."""
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, {**BASE, "groups": groups}))


def test_duplicate_key_is_an_error_not_the_last_one_wins(tmp_path):
    with pytest.raises(ConfigError, match=r"line 5: key 'scan' appears twice in one mapping \(first at line 3\)"):
        load_config(_write(tmp_path, "name: x\ndata: {samples: s.csv, predictions: p.csv}\nscan: {fdr: 0.01}\n\nscan: {fdr: 0.2}\n"))


@pytest.mark.parametrize("text", ["", "# all commented out\n"])
def test_empty_config(tmp_path, text):
    with pytest.raises(ConfigError, match="the config is empty"):
        load_config(_write(tmp_path, text))


def test_empty_section_means_its_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, "name: x\ndata: {samples: s.csv, predictions: p.csv}\nreview:\nscan:\n"))
    assert cfg.review.url == "http://127.0.0.1:8080" and cfg.scan.fdr == 0.05


def test_section_of_the_wrong_type_is_named_without_class_names(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'scan': must be a mapping") as exc:
        load_config(_write(tmp_path, {**BASE, "scan": [1, 2]}))
    assert "ScanConfig" not in str(exc.value)


@pytest.mark.parametrize(
    ("review", "needle"),
    [
        ({"url": "localhost:8080"}, r"key 'review\.url': must be the http\(s\) URL"),
        ({"url": "ftp://host"}, r"key 'review\.url'"),
        ({"api_key_env": ""}, r"key 'review\.api_key_env': must be the name of an environment variable"),
        ({"min_level": "urgent"}, r"key 'review\.min_level'.*'low', 'medium', 'high' or 'critical'"),
    ],
)
def test_review_settings_are_checked_before_any_request(tmp_path, review, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, {**BASE, "review": review}))


def test_empty_detector_list(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'scan\.detectors': lists no detector; name at least one, or leave"):
        load_config(_write(tmp_path, {**BASE, "scan": {"detectors": []}}))


@pytest.mark.parametrize(
    ("detectors", "needle"),
    [
        ({}, r"key 'scan\.detectors': names no detector"),
        (["association", "association"], r"key 'scan\.detectors': 'association' is listed twice; list each once"),
        ({"label_family": 0.85}, r"key 'scan\.detectors': detector 'label_family' must map to its settings \(label_family: "),
        ("association", r"key 'scan\.detectors': must be a list of detector names or a mapping"),
    ],
)
def test_detectors_key_shape(tmp_path, detectors, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, {**BASE, "scan": {"detectors": detectors}}))


def test_detectors_mapping_with_settings(tmp_path):
    text = (
        "name: x\ndata: {samples: s.csv, predictions: p.csv}\nscan:\n  detectors:\n    association:\n"
        "    under_representation: {labels: [doctor]}\n    label_family: {similarity: 0.85}\n"
    )
    cfg = load_config(_write(tmp_path, text))
    assert cfg.scan.detectors == {
        "association": None, "under_representation": {"labels": ["doctor"]}, "label_family": {"similarity": 0.85}
    }
    assert cfg.scan.detector_setting("under_representation", "labels", legacy="under_representation") == (
        "scan.detectors.under_representation.labels", ["doctor"]
    )
    assert cfg.scan.detector_setting("label_family", "max_size", legacy="family_similarity")[0] == "scan.family_similarity"


def test_older_scan_keys_keep_their_place_in_the_dump(tmp_path):
    cfg = load_config(_write(tmp_path, {**BASE, "scan": {"under_representation": ["doctor"], "detectors": ["association"]}}))
    assert cfg.scan.model_dump() == {
        "threshold": 0.5, "fdr": 0.05, "correction": "bh", "watchlist": "default",
        "under_representation": ["doctor"], "detectors": ["association"], "family_similarity": 0.8,
        "watchlist_min_effect": 1.5, "benign": [],
    }
    assert list(cfg.scan.model_dump()) == list(load_config(_write(tmp_path, BASE)).scan.model_dump())
    assert cfg.scan.detector_setting("under_representation", "labels", legacy="under_representation") == (
        "scan.under_representation", ["doctor"]
    )


@pytest.mark.parametrize(
    ("scan", "key"),
    [
        ({"under_representation": ["dog", "doctor"]}, "scan.under_representation"),
        ({"detectors": {"under_representation": {"labels": ["dog", "doctor"]}}}, "scan.detectors.under_representation.labels"),
    ],
)
def test_under_representation_labels_must_exist_in_either_spelling(tmp_path, scan, key):
    from tagscan.inputs import load_audit_set

    (tmp_path / "s.csv").write_text("sample_id,text\ns1,a\ns2,b\n")
    (tmp_path / "p.csv").write_text("sample_id,label,score\ns1,dog,0.9\ns2,cat,0.8\n")
    cfg = load_config(_write(tmp_path, {"name": "x", "data": {"samples": "s.csv", "predictions": "p.csv"}, "scan": scan}))
    with pytest.raises(ConfigError, match=rf"c\.yaml: key '{key}' lists 'doctor', which is not a label \(1 of 2 unknown"):
        load_audit_set(cfg)


@pytest.mark.parametrize("name", ["..", "a/b"])
def test_name_that_is_not_a_folder_name(tmp_path, name):
    with pytest.raises(ConfigError, match=r"key 'name'.*default workspace folder"):
        load_config(_write(tmp_path, {**BASE, "name": name}))
    cfg = load_config(_write(tmp_path, {**BASE, "name": name, "workspace": "ws"}))  # fine with its own workspace
    assert cfg.workspace == tmp_path / "ws"


def test_python_embedder_spec_is_not_read_as_a_path(tmp_path):
    cfg = load_config(_write(tmp_path, {**BASE, "embed": {"model": "python:mypkg.mod:make"}}))
    assert cfg.embed.model == "python:mypkg.mod:make"


def test_version_written_as_a_number_says_to_quote_it(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'model\.version': must be text, found the number 1\.1; put the value in quotes"):
        load_config(_write(tmp_path, "name: x\nmodel: {name: m, version: 1.10}\ndata: {samples: s.csv, predictions: p.csv}\n"))


def test_config_path_is_a_directory(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, not a config file"):
        load_config(tmp_path)


def test_input_kinds_registry_matches_the_config_vocabulary():
    """embed.input accepts exactly the registered input kinds, each with its samples column, and 'none'
    (predictions and attributes only)."""
    import typing

    from tagscan.config import EmbedConfig
    from tagscan.constants import INPUT_KINDS, NO_INPUTS
    from tagscan.inputs import RESERVED_COLUMNS, input_kind, input_kinds

    assert tuple(k.name for k in input_kinds()) == INPUT_KINDS
    assert typing.get_args(EmbedConfig.model_fields["input"].annotation) == (*INPUT_KINDS, NO_INPUTS)
    assert {k.column for k in input_kinds()} <= set(RESERVED_COLUMNS)
    assert input_kind("image").is_path and not input_kind("text").is_path
    with pytest.raises(KeyError, match="unknown input kind 'audio'; valid kinds: text, image"):
        input_kind("audio")


def test_protected_attributes_must_be_group_attributes(tmp_path):
    bad = {**BASE, "groups": {"attributes": ["tone"], "protected": ["gender"]}}
    with pytest.raises(ConfigError, match="protected lists 'gender', which is not in groups.attributes"):
        load_config(_write(tmp_path, bad))
    ok = load_config(_write(tmp_path, {**BASE, "groups": {"attributes": ["tone", "region"], "protected": ["tone"]}}))
    assert ok.groups.protected == ["tone"]


@pytest.mark.parametrize(
    "link, needle",
    [
        ("https://photos.example/{sample_id", r"key 'review\.link': is not a template with \{column\} placeholders"),
        ("https://photos.example/{}", r"key 'review\.link': placeholder \{\} must name a sample column"),
        ("https://photos.example/{a.b}", r"key 'review\.link': placeholder \{a\.b\} must name a sample column"),
    ],
)
def test_review_link_must_be_a_template_over_sample_columns(tmp_path, link, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, {**BASE, "review": {"link": link}}))


def test_review_link_and_show(tmp_path):
    cfg = load_config(_write(tmp_path, {**BASE, "review": {"link": "https://photos.example/{sample_id}?t={tone}", "show": ["tone"]}}))
    assert cfg.review.link == "https://photos.example/{sample_id}?t={tone}" and cfg.review.show == ["tone"]
    assert load_config(_write(tmp_path, BASE)).review.link is None
