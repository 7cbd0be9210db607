"""`tagscan demo` end to end: real model, real FAISS, planted harms at the top; a rescan embeds nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagscan.cli import app
from tagscan.config import load_config
from tagscan.demo import PLANTED
from tagscan.pipeline import run_embed

runner = CliRunner()
# The module's fixtures warm one workspace (and so the embedding cache) for all its tests.
pytestmark = pytest.mark.module_cache


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo")
    res = runner.invoke(app, ["demo", "--out", str(out)])
    return out, res


def test_demo_finds_planted_harms_at_the_top(demo_run):
    out, res = demo_run
    assert res.exit_code == 0, res.output
    text = res.stdout
    for p in PLANTED:
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{p.label} on {p.group}"))
        rank = int(line.split("found at rank ")[1].split()[0])
        assert rank <= len(PLANTED), line
    assert "critical" in text


def test_demo_run_files_and_families(demo_run):
    out, _ = demo_run
    runs = sorted((out / ".tagscan" / "runs").iterdir())
    info = json.loads((runs[-1] / "run.json").read_text())
    assert info["counts"]["samples"] == 8000 and info["counts"]["labels"] >= 2000
    fams = {f["name"]: f for f in info["families"]}
    assert fams["watchlist"]["n_significant"] >= len(PLANTED)
    assert info["watchlist"]["labels_matched"] > 0
    assert (out / ".tagscan" / "index" / "inputs.faiss").is_file()
    assert (out / ".tagscan" / "index" / "labels.faiss").is_file()


def test_rescan_embeds_nothing(demo_run):
    out, _ = demo_run
    emb = run_embed(load_config(out / "tagscan.yaml"))
    assert emb.computed_inputs == 0 and emb.computed_labels == 0
    res = runner.invoke(app, ["-q", "scan", str(out / "tagscan.yaml"), "--format", "json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert {f["status"] for f in payload["findings"]} == {"persisting"}
    top = payload["findings"][: len(PLANTED)]
    assert {(f["label"], f["group"]) for f in top} == {(p.label, p.group) for p in PLANTED}


def test_demo_says_when_embedding_starts_and_ends_off_a_terminal(demo_run):
    """CliRunner's stderr is not a terminal, as a CI log or `| tee` is not: no bar, but one line when each
    embedding step starts and one when it ends, without -v."""
    _, res = demo_run
    for what in ("input texts", "label names"):
        assert re.search(rf"^tagscan: embedding {what}: [\d,]+ to do \.\.\.$", res.stderr, re.M), res.stderr
        assert re.search(rf"^tagscan: embedding {what}: [\d,]+ done in \d+ s$", res.stderr, re.M), res.stderr
