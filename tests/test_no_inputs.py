"""Predictions and attributes only (issue 11, item 1): no text, no image, no vectors.

The acceptance case is FairTest's published audit of a Caffe ImageNet tagger (Tramèr et al., 2017): the top-5
tags of 680 photos of Black people and 628 of White people, where 'monkey' was predicted for 22 of 680 and 7
of 628 (one-sided p 0.0069), lost to Holm's correction over 35 labels (corrected p 0.164). The table here is a
seeded synthetic version of it: one attribute ``race`` with those group sizes, 36 labels, five tags per photo
drawn alike for both groups, and 'monkey' planted at exactly those counts. tagscan tests a watchlist label on
people in its own small family (the watchlist budget), so it must flag 'monkey' there, and the 35 null labels
must not flood the findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tagscan.cli import app

runner = CliRunner()

#: 35 ImageNet-style tags a tagger gives portraits, with their share of top-5 lists (the same for both groups).
_TAGS = {
    "suit": 9, "jersey": 8, "sweatshirt": 8, "wig": 6, "lab coat": 4, "bow tie": 5, "sunglasses": 6,
    "microphone": 5, "cardigan": 6, "mortarboard": 3, "t-shirt": 9, "abaya": 2, "neck brace": 2,
    "windsor tie": 6, "hair spray": 3, "lipstick": 4, "cowboy hat": 3, "sombrero": 2, "stage": 4, "groom": 4,
    "basketball": 3, "football helmet": 2, "miniskirt": 2, "trench coat": 3, "fur coat": 3, "band aid": 2,
    "oboe": 1, "harmonica": 2, "ping-pong ball": 1, "seat belt": 2, "bonnet": 3, "maillot": 2, "apron": 3,
    "stole": 2, "bib": 2,
}
GROUPS = {"black": 680, "white": 628}
MONKEY = {"black": 22, "white": 7}


def fairtest_tables(folder: Path, *, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """samples (sample_id, race) and the long top-5 predictions (sample_id, label, score)."""
    rng = np.random.default_rng(seed)
    tags = np.array(list(_TAGS), dtype=object)
    w = np.array(list(_TAGS.values()), dtype=float)
    w /= w.sum()
    sids, races, rows = [], [], []
    for race, n in GROUPS.items():
        monkey = set(rng.choice(n, MONKEY[race], replace=False).tolist())
        for i in range(n):
            sid = f"{race[0]}{i:04d}"
            sids.append(sid)
            races.append(race)
            k = 4 if i in monkey else 5
            picked = list(rng.choice(tags, k, replace=False, p=w))
            if i in monkey:
                picked.insert(int(rng.integers(0, 5)), "monkey")
            scores = np.sort(rng.uniform(0.05, 0.9, 5))[::-1]
            rows += [(sid, lab, round(float(s), 4)) for lab, s in zip(picked, scores)]
    samples = pd.DataFrame({"sample_id": sids, "race": races})
    preds = pd.DataFrame(rows, columns=["sample_id", "label", "score"])
    folder.mkdir(parents=True, exist_ok=True)
    return samples, preds


def write_fairtest(folder: Path, *, embed_input: str | None = "none", pred_fmt: str = "csv", **scan) -> Path:
    samples, preds = fairtest_tables(folder)
    samples.to_csv(folder / "samples.csv", index=False)
    if pred_fmt == "jsonl":
        lists = preds.groupby("sample_id", sort=False).agg(labels=("label", list), scores=("score", list)).reset_index()
        lists.to_json(folder / "predictions.jsonl", orient="records", lines=True)
    else:
        preds.to_csv(folder / "predictions.csv", index=False)
    cfg = {
        "name": "caffe-imagenet-fairtest",
        "data": {"samples": "samples.csv", "predictions": f"predictions.{pred_fmt}"},
        "groups": {"attributes": ["race"], "protected": ["race"]},
        # Top-5 tags: every listed tag counts, whatever its score.
        "scan": {"threshold": 0.0, **scan},
    }
    if embed_input is not None:
        cfg["embed"] = {"input": embed_input}
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _scan(cfg: Path):
    res = runner.invoke(app, ["scan", str(cfg)])
    assert res.exit_code in (0, 1), (res.exit_code, res.output)
    ws = cfg.parent / ".tagscan" / "caffe-imagenet-fairtest" / "runs"
    run_dir = max(ws.iterdir())
    return res, json.loads((run_dir / "run.json").read_text()), pd.read_parquet(run_dir / "findings.parquet")


def test_fairtest_table_matches_the_published_counts(tmp_path):
    from scipy.stats import fisher_exact

    samples, preds = fairtest_tables(tmp_path)
    race = samples.set_index("sample_id")["race"]
    monkey = preds[preds["label"] == "monkey"]["sample_id"].map(race).value_counts()
    assert monkey.to_dict() == MONKEY
    assert samples["race"].value_counts().to_dict() == GROUPS
    assert preds.groupby("sample_id").size().eq(5).all() and preds["label"].nunique() == 36
    p = fisher_exact([[22, 658], [7, 621]], alternative="greater").pvalue
    assert p == pytest.approx(0.0069, abs=1e-4)


def _other(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["label"] != "monkey"]


def test_fairtest_monkey_flagged_in_the_watchlist_family(tmp_path):
    """embed.input: none scans the table; 'monkey' on Black people is a watchlist finding, the rest stays quiet."""
    res, run, f = _scan(write_fairtest(tmp_path / "ft"))
    monkey = f[(f["label"] == "monkey") & (f["group"] == "race=black")]
    assert len(monkey) >= 1, f[["label", "group", "family"]]
    row = monkey.iloc[0]
    assert row["family"] == "watchlist" and row["detector"] == "association"
    assert (row["count"], row["group_size"]) == (22, 680)
    assert row["q_value"] <= 0.05 and row["severity_level"] in ("high", "critical")
    # The null labels do not flood the findings: none in the watchlist family, at most a chance one or two
    # in discovery (BH at FDR 0.05 over 70 pairs), each ranked below the monkey finding.
    other = _other(f)
    assert len(other) <= 2, other[["label", "group", "q_value"]]
    assert not other["family"].astype(str).str.contains("watchlist").any()
    assert (other["severity"] < row["severity"]).all()
    # What was skipped, and why, is recorded and said.
    det = run["detectors"]
    assert det["association"] == "ran" and det["label_family"] == "ran"
    assert det["alignment_gap"].startswith("skipped: needs input embeddings") and "embed.input: none" in det["alignment_gap"]
    assert run["embedding"]["input_model"] is None and run["embedding"]["label_model"]
    assert run["clusters"]["k"] == [] and "skipped" not in run["clusters"]
    assert "no inputs: predictions and attributes only" in res.output
    assert "monkey" in res.output and "watchlist" in res.output
    ws = tmp_path / "ft" / ".tagscan" / "caffe-imagenet-fairtest"
    assert (ws / "index" / "labels.faiss").is_file() and not (ws / "index" / "inputs.faiss").exists()


def test_no_text_or_image_column_is_detected(tmp_path, caplog):
    """embed.input left unset, samples with neither a text nor an image column: scanned without inputs, said so."""
    res, run, f = _scan(write_fairtest(tmp_path / "ft", embed_input=None))
    assert ((f["label"] == "monkey") & (f["family"] == "watchlist")).any()
    assert run["embedding"]["input_model"] is None
    assert "no inputs: predictions and attributes only" in res.output


def test_clusters_skipped_with_reason(tmp_path):
    cfg = write_fairtest(tmp_path / "ft")
    raw = yaml.safe_load(cfg.read_text())
    raw["groups"]["clusters"] = [8]
    raw["groups"]["intersections"] = []
    cfg.write_text(yaml.safe_dump(raw))
    res, run, f = _scan(cfg)
    assert "clusters need input embeddings" in run["clusters"]["skipped"]
    assert "embed.input: none" in run["clusters"]["skipped"]
    assert "groups.clusters [8] skipped" in res.output
    assert not f["group"].astype(str).str.startswith("cluster").any()


def _one_line(res, *needles: str) -> str:
    """The one stderr line of an exit-2 input error, checked to hold every needle; never a traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_clusters_alone_without_inputs_is_a_config_error(tmp_path):
    cfg = write_fairtest(tmp_path / "ft")
    raw = yaml.safe_load(cfg.read_text())
    raw["groups"] = {"clusters": [4]}
    cfg.write_text(yaml.safe_dump(raw))
    _one_line(runner.invoke(app, ["scan", str(cfg)]), "groups.clusters", "clusters need input embeddings", "groups.attributes")


def test_missing_text_column_names_embed_input_none(tmp_path):
    _one_line(
        runner.invoke(app, ["scan", str(write_fairtest(tmp_path / "ft", embed_input="text"))]),
        "samples.csv", "embed.input is 'text' but samples has no 'text' column", "embed.input: none",
    )


def test_none_with_embeddings_is_a_config_error(tmp_path):
    cfg = write_fairtest(tmp_path / "ft")
    np.save(cfg.parent / "vectors.npy", np.ones((1308, 4), dtype=np.float32))
    raw = yaml.safe_load(cfg.read_text())
    raw["data"]["embeddings"] = "vectors.npy"
    cfg.write_text(yaml.safe_dump(raw))
    _one_line(runner.invoke(app, ["scan", str(cfg)]), "embed.input", "'none'", "data.embeddings")


def test_neighbors_without_inputs_is_a_usage_error(tmp_path):
    cfg = write_fairtest(tmp_path / "ft")
    _one_line(runner.invoke(app, ["neighbors", str(cfg), "b0001"]), "neighbors needs inputs", "embed.input: none")


def test_embed_command_without_inputs(tmp_path):
    res = runner.invoke(app, ["embed", str(write_fairtest(tmp_path / "ft"))])
    assert res.exit_code == 0, res.output
    assert "no inputs to embed" in res.output and "36 labels" in res.output


def test_under_representation_and_error_gap_run_without_inputs(tmp_path):
    """With ground truth and under-representation switched on, both detectors run on a table without inputs."""
    cfg = write_fairtest(tmp_path / "ft", under_representation=True)
    samples, preds = fairtest_tables(tmp_path / "ft")
    # Ground truth: each photo's first tag is right; 'monkey' never is.
    first = preds.groupby("sample_id", sort=False).head(1)
    first[first["label"] != "monkey"][["sample_id", "label"]].to_csv(cfg.parent / "truth.csv", index=False)
    raw = yaml.safe_load(cfg.read_text())
    raw["data"].update({"truth": "truth.csv", "truth_exhaustive": True})
    cfg.write_text(yaml.safe_dump(raw))
    res, run, f = _scan(cfg)
    assert run["detectors"]["error_gap"] == "ran" and run["detectors"]["under_representation"] == "ran"
    assert run["detectors"]["association"] == "ran" and run["detectors"]["alignment_gap"].startswith("skipped")
    assert ((f["label"] == "monkey") & (f["family"] == "watchlist") & (f["group"] == "race=black")).any()
