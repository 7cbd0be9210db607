"""alignment_gap on a real text model (issue 10 item 2): a perfect caption tagger is quiet, the planted case found.

Captions name their people's skin tone, so all-MiniLM-L6-v2 places the tone groups apart in its space: the
case where the earlier design (in-group vs out-group similarity of the positives) flagged 75 pairs of a
perfect tagger on this data (seed 0; 27 of them clusters) and the pipeline's error_gap 71 more through
uneven truth coverage. The planted harm: 'gorilla' on 5% of dark-skinned people's captions, whose cosine
with the label is about 0.13 where the label's own captions sit near 0.58.

Fair data is one seed, so the bound is on that scan: BH at 0.05 under the complete null finds anything
with probability at most 0.05 (scripts/bench/bench_captions.py measures the rate over seeds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tagscan.demo.captions import make_captions, write_captions
from tagscan.pipeline import load_config, run_scan

N = 3000


def _write(folder: Path, seed: int, plant: float, version: str, others: float = 0.0) -> Path:
    return write_captions(folder, make_captions(seed, n=N, plant=plant, plant_others=others), version)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Scans of one caption set in one workspace, each the baseline of the next: fair; planted on 5% of
    dark-skinned people; 'gorilla' on 5% of dark-skinned people and 2.5% of everyone else (effect ~1.5x), then
    on 30% of dark-skinned people and 1% of the rest (effect ~2.8x: a regression).

    The effect is observed over expected within the universe (people), so it is bounded by the universe's
    size over the group's (~3x for a third): a label that is only ever on the group cannot grow it further,
    and association's rate comparison is what reports such a rise."""
    folder = tmp_path_factory.mktemp("captions")
    out = {}
    for version, plant, others in (("fair", 0.0, 0.0), ("planted", 0.05, 0.0), ("base", 0.05, 0.025), ("worse", 0.30, 0.01)):
        res = run_scan(load_config(_write(folder, 0, plant, version, others)))
        out[version] = res.findings[res.findings["status"] != "resolved"].reset_index(drop=True)
    return out


def test_perfect_caption_tagger_gets_no_alignment_gap_or_error_gap_findings(scans):
    f = scans["fair"]
    assert (f["detector"] == "alignment_gap").sum() == 0, f[f["detector"] == "alignment_gap"][["label", "group"]]
    assert (f["detector"] == "error_gap").sum() == 0
    assert not f["severity_level"].isin(["high", "critical"]).any()


def test_planted_label_on_unrelated_captions_is_found_by_alignment_gap_near_the_top(scans):
    f = scans["planted"]
    hit = f[(f["detector"] == "alignment_gap") & (f["label"] == "gorilla") & (f["group"] == "skin_tone=dark")]
    assert len(hit) == 1
    assert hit.index[0] < 10
    row = hit.iloc[0]
    assert row["effect_low"] > 1.5 and row["effect"] >= row["effect_low"]
    assert row["effect_observed"] > row["effect_expected"] > 0


def test_rescan_of_a_growing_alignment_gap_is_regressed_on_its_own_effect(scans):
    f = scans["worse"]
    row = f[(f["detector"] == "alignment_gap") & (f["label"] == "gorilla") & (f["group"] == "skin_tone=dark")].iloc[0]
    assert row["status"] == "regressed"
    assert row["change_q_value"] <= 0.05
    assert "effect given similarity" in row["change_basis"]
