"""Golden runs: the demo data and a planted set, scanned through the CLI, must give the findings and run.json
recorded in ``tests/golden/``.

The recorded files were written by the code before the package was reshaped (issue 9); a change that moves
code must leave every finding (same rows, same values, same order) and every run.json value unchanged, apart
from ids, timings and the temporary folder the runs were made in. A change that is meant to alter findings
records new golden files on purpose::

    TAGSCAN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and says why in its commit. Each case scans twice, so the second run carries statuses, the baseline
comparison (paired, McNemar) and the resolved rows.

The planted set is generated here, from a seed, by code that lives only in this file: moving the project's
generators cannot change it. Its inputs are recorded by hash in run.json, so a changed input fails too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TAGSCAN_UPDATE_GOLDEN") == "1"

#: run.json keys that differ between any two runs (or machines) by design.
_VOLATILE = {"run_id", "created_at", "timings", "baseline", "run_dir"}
#: Keys a newer run record may add (schema changes that add, never alter, a value).
_ADDED: frozenset[str] = frozenset({"engine"})  # run.json keys newer than the recorded files (where embed and counts ran)


def _planted_set(folder: Path) -> Path:
    """A seeded audit set with every detector's input: attributes with not-applicable rows, an intersection,
    clusters over precomputed vectors, truth on part of the samples, a vocabulary with names, a watchlist
    label legitimately common on non-people rows, and labels tested for under-representation."""
    rng = np.random.default_rng(20261203)
    n, n_labels, dim = 2400, 120, 12
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.array([f"s{i:05d}" for i in range(n)], dtype=object)
    person = rng.random(n) < 0.7
    tone = np.where(person, rng.choice(["light", "medium", "dark"], size=n), None).astype(object)
    gender = np.where(person, rng.choice(["woman", "man"], size=n), None).astype(object)
    region = rng.choice(["north", "south", "east"], size=n).astype(object)
    samples = pd.DataFrame({"sample_id": ids, "tone": tone, "gender": gender, "region": region})
    labels = [f"tag_{j:03d}" for j in range(n_labels)] + ["ape", "criminal", "doctor"]
    base = rng.uniform(0.005, 0.05, size=len(labels))
    P = np.tile(base, (n, 1))
    j = {lab: labels.index(lab) for lab in ("ape", "criminal", "doctor")}
    P[:, j["ape"]] = np.where(person, 0.002, 0.12)  # legitimate on animal photos (no person)
    P[(tone == "dark") & person, j["ape"]] = 0.03  # planted: over-applied to dark-skinned people
    P[(tone == "dark") & (gender == "man"), j["criminal"]] = 0.08
    P[person, j["doctor"]] = 0.05
    P[(gender == "woman"), j["doctor"]] = 0.015  # under-applied to women
    Y = rng.random(P.shape) < P
    r, c = np.nonzero(Y)
    pred = pd.DataFrame(
        {"sample_id": ids[r], "label": np.array(labels, dtype=object)[c], "score": np.round(rng.uniform(0.5, 1, len(r)), 4)}
    )
    low = rng.choice(n, size=n // 10)
    pred = pd.concat([pred, pd.DataFrame({"sample_id": ids[low], "label": "tag_000", "score": 0.2})], ignore_index=True)
    pred = pred.drop_duplicates(["sample_id", "label"], keep="first")
    # Truth: the predictions minus some misses plus some false negatives, on 60% of the samples.
    annotated = rng.random(n) < 0.6
    T = Y & (rng.random(Y.shape) > 0.1)
    T |= rng.random(Y.shape) < 0.004
    T[~annotated] = False
    tr, tc = np.nonzero(T)
    truth = pd.DataFrame({"sample_id": ids[tr], "label": np.array(labels, dtype=object)[tc]})
    vocab = pd.DataFrame({"label": labels, "name": [lab.replace("_", " ") for lab in labels]})
    centres = rng.normal(size=(6, dim))
    topic = np.where(person, rng.integers(0, 3, n), rng.integers(3, 6, n))
    vec = (centres[topic] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)
    samples.to_parquet(folder / "samples.parquet", index=False)
    pred.to_parquet(folder / "predictions.parquet", index=False)
    truth.to_parquet(folder / "truth.parquet", index=False)
    vocab.to_parquet(folder / "vocabulary.parquet", index=False)
    np.save(folder / "emb.npy", vec)
    cfg = {
        "name": "golden-planted",
        "workspace": "ws",
        "model": {"name": "planted-tagger", "version": "v1"},
        "data": {
            "samples": "samples.parquet",
            "predictions": "predictions.parquet",
            "truth": "truth.parquet",
            "vocabulary": "vocabulary.parquet",
            "embeddings": "emb.npy",
        },
        "groups": {
            "attributes": ["tone", "gender", "region"],
            "protected": ["tone", "gender"],  # region describes where, not whom
            "intersections": [["tone", "gender"]],
            "clusters": [4, 8],
            "min_group_size": 30,
        },
        "scan": {"threshold": 0.5, "fdr": 0.1, "correction": "by", "under_representation": ["doctor"]},
        "review": {"examples_per_finding": 5},
    }
    path = folder / "tagscan.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _demo_set(folder: Path) -> Path:
    from tagscan.demo import build_demo

    return build_demo(folder, n_samples=3000, seed=0)


CASES = {"demo": _demo_set, "planted": _planted_set}


def _normalise(obj, root: str):
    """run.json without volatile keys, with the temporary root replaced by '<root>' and the installed
    package's folder by '<package>' (the clone's location differs between machines)."""
    import tagscan

    if isinstance(obj, dict):
        return {k: _normalise(v, root) for k, v in obj.items() if k not in _VOLATILE}
    if isinstance(obj, list):
        return [_normalise(v, root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(root, "<root>").replace(str(Path(tagscan.__file__).resolve().parent), "<package>")
    return obj


def _runs(folder: Path, config: Path) -> list[Path]:
    from tagscan.cli import app

    runner = CliRunner()
    out = []
    for _ in range(2):
        res = runner.invoke(app, ["-q", "scan", str(config), "--format", "json"])
        assert res.exit_code == 0, res.output
        out.append(Path(json.loads(res.stdout)["run_dir"]))
    return out


def _compare_findings(got: pd.DataFrame, want: pd.DataFrame, where: str) -> None:
    assert list(got.columns) == list(want.columns), f"{where}: columns differ"
    assert len(got) == len(want), f"{where}: {len(got)} findings, golden has {len(want)}"
    for col in want.columns:
        a, b = got[col], want[col]
        if pd.api.types.is_float_dtype(b.dtype):
            x, y = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
            same = (x == y) | (np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=1e-9, atol=0)
            assert same.all(), f"{where}: column {col} differs at rows {np.flatnonzero(~same)[:5].tolist()}"
        else:
            la = [list(v) if isinstance(v, np.ndarray | list) else v for v in a.tolist()]
            lb = [list(v) if isinstance(v, np.ndarray | list) else v for v in b.tolist()]
            la = [None if (not isinstance(v, list) and pd.isna(v)) else v for v in la]
            lb = [None if (not isinstance(v, list) and pd.isna(v)) else v for v in lb]
            bad = [i for i, (u, v) in enumerate(zip(la, lb)) if u != v]
            assert not bad, f"{where}: column {col} differs at rows {bad[:5]}: {la[bad[0]]!r} vs {lb[bad[0]]!r}"


def _compare_json(got, want, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: not a mapping"
        extra = set(got) - set(want) - _ADDED
        missing = set(want) - set(got)
        assert not missing and not extra, f"{where}: keys missing {sorted(missing)}, added {sorted(extra)}"
        for k in want:
            _compare_json(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: list differs ({got!r} vs {want!r})"
        for i, (u, v) in enumerate(zip(got, want)):
            _compare_json(u, v, f"{where}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        assert got == pytest.approx(want, rel=1e-9, abs=0) or (np.isnan(got) and np.isnan(want)), f"{where}: {got} vs {want}"
    else:
        assert got == want, f"{where}: {got!r} vs golden {want!r}"


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_run_unchanged(case, tmp_path):
    folder = tmp_path / case
    config = CASES[case](folder)
    runs = _runs(folder, config)
    root = str(folder.resolve())
    for i, run_dir in enumerate(runs):
        where = GOLDEN / case / f"run{i + 1}"
        findings = pd.read_parquet(run_dir / "findings.parquet")
        info = _normalise(json.loads((run_dir / "run.json").read_text()), root)
        if UPDATE:
            where.mkdir(parents=True, exist_ok=True)
            shutil.copy(run_dir / "findings.parquet", where / "findings.parquet")
            (where / "run.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
            continue
        assert where.is_dir(), f"{where}: no golden run recorded; record it with TAGSCAN_UPDATE_GOLDEN=1"
        _compare_findings(findings, pd.read_parquet(where / "findings.parquet"), f"{case} run{i + 1} findings")
        _compare_json(info, json.loads((where / "run.json").read_text()), f"{case} run{i + 1} run.json")
    if UPDATE:
        pytest.skip(f"golden files of '{case}' recorded in {GOLDEN / case}")
