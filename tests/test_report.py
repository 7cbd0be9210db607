"""The HTML report: escaping, self-containment, edge cases, and a real headless Chromium.

The browser tests need Debian's chromium and chromium-driver (``scripts/browser.sh`` installs
them; ``TAGSCAN_CHROMIUM`` / ``TAGSCAN_CHROMEDRIVER`` point elsewhere) and selenium. Without them
they are skipped locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.outputs.html import build_report, write_report
from tagscan.runs import Counts, RunRecord
from tagscan.scan.findings import FINDING_COLUMNS
from tagscan.scan.severity import DISCOVERY_HARM, severity_level, severity_score
from tagscan.scan.stats import (
    GPSPrior,
    benjamini_hochberg,
    gps_ebgm,
    gps_quantile,
    hypergeom_upper_tail,
    rate_ratio_ci,
    wilson_interval,
)

XSS_LABEL = "<script>alert(1)</script>"
XSS_TEXT = 'caption </script><script>alert(2)</script> & "quoted" <b>bold</b>'
UNICODE_LABEL = "café ☕ — 日本語 \u2028 Ωμέγα"

# -- realistic run data -------------------------------------------------------------------------

_WATCH = {
    "gorilla": ("animal", 1.0), "ape": ("animal", 1.0), "primate": ("animal", 0.9), "monkey": ("animal", 1.0),
    "criminal": ("criminality", 0.9), "mugshot": ("criminality", 0.8), "terrorist": ("criminality", 1.0),
    "thug": ("slur", 1.0), "illegal alien": ("slur", 0.9), "servant": ("demeaning", 0.6),
}  # fmt: skip
_DISCOVERY = [
    "basketball", "hijab", "wedding dress", "kimono", "beard", "lipstick", "business suit", "tattoo",
    "dreadlocks", "chopsticks", "wheelchair", "walking cane", "nurse", "construction worker", "sari",
    "turban", "afro", "reading glasses", "hoodie", "baseball cap",
]  # fmt: skip
_GROUPS = [
    ("tone=dark", "attribute"), ("tone=light", "attribute"), ("tone=medium", "attribute"),
    ("gender=woman", "attribute"), ("gender=man", "attribute"), ("age=70+", "attribute"),
    ("tone=dark & gender=man", "intersection"), ("tone=dark & gender=woman", "intersection"),
    ("age=70+ & gender=woman", "intersection"), ("cluster:k16/3", "cluster"), ("cluster:k64/17", "cluster"),
    ("cluster:k64/41", "cluster"), ("region=south-asia", "attribute"), ("religion_visible=yes", "attribute"),
]  # fmt: skip


def make_run(
    n: int = 40, *, seed: int = 0, extra_labels: tuple[str, ...] = (), n_samples: int = 120
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(run info, findings, samples) of a plausible scan, with real statistics on invented counts."""
    rng = np.random.default_rng(seed)
    N = 24_000
    labels = list(_WATCH) + _DISCOVERY + [f"tag_{j:05d}" for j in range(n if n > 100 else 0)]
    sample_ids = [f"img_{i:05d}" for i in range(n_samples)]
    parts, have, seen = [], 0, set()
    while have < n:  # candidates until n pass Bonferroni in their family (so their BH q <= 0.05 too)
        m = 3 * (n - have) + 20
        c = pd.DataFrame({"label": np.array(labels, dtype=object)[rng.integers(len(labels), size=m)]})
        gi = rng.integers(len(_GROUPS), size=m)
        c["group"] = [_GROUPS[j][0] for j in gi]
        c["group_kind"] = [_GROUPS[j][1] for j in gi]
        c["group_size"] = rng.integers(60, 1500, size=m)
        base = rng.uniform(0.002, 0.03, size=m)
        lift_true = rng.choice([1.5, 2.0, 3.0, 4.0, 6.0, 10.0], size=m)
        c["count"] = np.maximum(3, rng.binomial(c["group_size"], np.minimum(0.9, base * lift_true)))
        c["label_count"] = c["count"] + rng.binomial(N - c["group_size"], base) + 1
        watch = c["label"].isin(list(_WATCH))
        c["family_size"] = np.where(watch, 3_412, 118_907)
        p = hypergeom_upper_tail(c["count"], c["group_size"], c["label_count"], N)
        c = c[p * c["family_size"] <= 0.05]
        c = c[~c.set_index(["label", "group"]).index.isin(seen)].drop_duplicates(["label", "group"])
        seen.update(zip(c["label"], c["group"]))
        parts.append(c)
        have += len(c)
    f = pd.concat(parts, ignore_index=True).head(n).copy()
    for i, lab in enumerate(extra_labels[:n]):  # extra labels join the discovery family
        f.loc[i, ["label", "family_size"]] = [lab, 118_907]
    if n > 3:
        f.loc[3, "label_count"] = f.loc[3, "count"]  # a label seen only in its group: infinite lift
    f["label_name"] = f["label"]
    f["detector"] = "association"
    f["universe"] = N
    f["universe_size"] = N
    f["family"] = np.where(f["label"].isin(list(_WATCH)), "watchlist", "discovery")
    f["watch_category"] = [_WATCH[x][0] if x in _WATCH else None for x in f["label"]]
    f["harm"] = [_WATCH[x][1] if x in _WATCH else DISCOVERY_HARM for x in f["label"]]
    f["about_people"] = (f["group_kind"] != "cluster") | (rng.random(n) < 0.6)
    k, n_, K, N_ = (f[c].to_numpy(dtype=np.int64) for c in ("count", "group_size", "label_count", "universe"))
    f["expected"] = n_ * K / N_
    f["rate_in_group"] = k / n_
    f["rate_outside"] = (K - k) / (N_ - n_)
    f["lift"], f["lift_low"], f["lift_high"] = rate_ratio_ci(k, n_, K - k, N_ - n_)
    f["rate_in_low"], f["rate_in_high"] = wilson_interval(k, n_)
    f["rate_outside_low"], f["rate_outside_high"] = wilson_interval(K - k, N_ - n_)
    baseline = n_ * np.maximum(K - k, 0.5) / (N_ - n_)
    prior = GPSPrior(alpha1=0.2, beta1=0.1, alpha2=2.0, beta2=4.0, p=1 / 3)
    f["eb05"], f["ebgm"] = gps_quantile(k, baseline, prior, q=0.05), gps_ebgm(k, baseline, prior)
    f["detail"] = None
    f["p_value"] = hypergeom_upper_tail(k, n_, K, N_)
    f["q_value"] = 0.0
    for _, part in f.groupby("family"):
        m = max(int(part["family_size"].iat[0]), len(part))
        f.loc[part.index, "family_size"] = m
        f.loc[part.index, "q_value"] = benjamini_hochberg(part["p_value"].to_numpy(), m=m)
    f["severity"] = severity_score(f["harm"].to_numpy(), f["about_people"].to_numpy(), f["eb05"].to_numpy())
    f["severity_level"] = severity_level(f["severity"].to_numpy())
    f["finding_id"] = [hashlib.sha1(f"{a}{b}{i}".encode()).hexdigest()[:16] for i, (a, b) in enumerate(zip(f.label, f.group))]
    f["group_description"] = [
        f"{g.replace('=', ' = ').replace(' & ', ' and ')}: {s:,} of 16,812 samples (people)" if kd != "cluster"
        else f"cluster of {s:,} samples; distinctive labels: outdoor, crowd, stadium; mostly tone = dark (71%)"
        for g, kd, s in zip(f.group, f.group_kind, f.group_size)
    ]  # fmt: skip
    f["examples"] = [list(rng.choice(sample_ids, size=int(rng.integers(0, 11)), replace=False)) for _ in range(n)]
    f["status"] = rng.choice(["new", "new", "persisting", "regressed"], size=n)
    f = f.sort_values("severity", ascending=False, kind="stable").reset_index(drop=True).reindex(columns=FINDING_COLUMNS)

    captions = ["a person smiling at the camera", "two people at a street market", "portrait in warm light",
                "group photo at a wedding", "a man holding a basketball", "an elderly woman reading"]  # fmt: skip
    samples = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "text": [f"{captions[i % len(captions)]} (#{i})" for i in range(n_samples)],
            "tone": rng.choice(["light", "medium", "dark"], size=n_samples),
        }
    )
    levels = f["severity_level"].value_counts().to_dict()
    info = {
        "run_id": "20260514-101502-a1b2c3",
        "config_name": "photo-tagger",
        "created_at": "2026-05-14T10:15:02+00:00",
        "model": {"name": "photo-tagger", "version": "v7"},
        "baseline": "20260501-093000-ffee00",
        "counts": {
            "samples": N, "labels": 21_433, "prediction_rows": 171_220, "positives": 168_904,
            "groups_tested": 112, "groups_untested": 9, "cells_nonzero": 1_204_551, "findings": len(f),
            "findings_by_level": {k_: int(v) for k_, v in levels.items()}, "resolved_since_baseline": 3,
        },
        "families": [
            {"name": "watchlist", "n_labels": 61, "n_pairs": 6_832, "n_testable": 3_412, "tarone_level": 1.4e-5,
             "n_significant": int((f.family == "watchlist").sum())},
            {"name": "discovery", "n_labels": 21_372, "n_pairs": 1_197_719, "n_testable": 118_907,
             "tarone_level": 4.1e-7, "n_significant": int((f.family == "discovery").sum())},
        ],
        "detectors": {"association": "ran", "error_gap": "skipped: needs truth"},
        "timings": {"load": 1.2, "embed": 31.5, "detect": 4.1, "total": 40.3},
        "config": {"name": "photo-tagger", "scan": {"threshold": 0.5, "fdr": 0.05}},
    }  # fmt: skip
    return info, f, samples


def write_images(samples: pd.DataFrame, folder: Path, *, size: tuple[int, int] = (240, 180)) -> pd.DataFrame:
    """Give each sample a small real PNG (relative path under ``folder``) and return the new table."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "img").mkdir(exist_ok=True)
    paths = []
    rng = np.random.default_rng(1)
    for sid in samples["sample_id"]:
        c1, c2 = rng.integers(40, 230, size=3), rng.integers(40, 230, size=3)
        im = Image.new("RGB", size, tuple(int(v) for v in c1))
        d = ImageDraw.Draw(im)
        d.ellipse((size[0] * 0.3, size[1] * 0.15, size[0] * 0.7, size[1] * 0.85), fill=tuple(int(v) for v in c2))
        rel = f"img/{sid}.png"
        im.save(folder / rel)
        paths.append(rel)
    return samples.assign(image=paths)


# -- HTML inspection helpers --------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


@functools.lru_cache(maxsize=4)
def parse(doc: str) -> _Tags:
    p = _Tags()
    p.feed(doc)
    p.close()
    return p


def count(doc: str, tag: str, cls: str) -> int:
    return sum(1 for t, a in parse(doc).tags if t == tag and cls in (a.get("class") or "").split())


_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//|^\s*(?:https?|ftp|ws|wss):", re.I)


def remote_references(doc: str) -> list[str]:
    """Every attribute or CSS url() that would make the browser fetch something over the network (a link
    the reader clicks, ``<a href>``, fetches nothing when the report opens)."""
    found = []
    for tag, attrs in parse(doc).tags:
        for name in ("src", "href", "action", "data", "poster", "srcset", "xlink:href", "formaction"):
            if tag == "a" and name == "href":
                continue
            v = attrs.get(name)
            if v is not None and _REMOTE.search(v):
                found.append(f"<{tag} {name}={v}>")
    for m in re.finditer(r"url\(\s*['\"]?([^'\")]*)", doc):
        if not m.group(1).startswith("data:"):
            found.append(f"url({m.group(1)})")
    found += re.findall(r"@import[^;]*;", doc)
    return found


# -- pure tests ---------------------------------------------------------------------------------


def test_label_markup_is_escaped_everywhere():
    info, f, samples = make_run(12, extra_labels=(XSS_LABEL,))
    info["config_name"] = f"evil {XSS_LABEL}"
    info["detectors"]["broken"] = "failed: ValueError: <img src=x onerror=alert(4)>"
    info["families"][0]["name"] = "<b>fam</b>"
    doc = build_report(info, f, samples=samples)
    assert XSS_LABEL not in doc
    assert "<img src=x" not in doc and "ValueError: &lt;img src=x onerror=alert(4)&gt;" in doc
    assert "<b>fam</b>" not in doc and "&lt;b&gt;fam&lt;/b&gt;" in doc
    assert not any(t == "img" for t, _ in parse(doc).tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    p = parse(doc)
    # Exactly the report's own two script elements; none came from data.
    assert [t for t, _ in p.tags].count("script") == 2
    assert doc.count("</script>") == 2


def test_script_close_inside_example_text_cannot_break_out():
    info, f, samples = make_run(6)
    samples.loc[:, "text"] = XSS_TEXT
    f.at[0, "examples"] = list(samples["sample_id"][:3])
    info["config"]["name"] = "</script><script>alert(3)</script>\u2028\u2029"
    doc = build_report(info, f, samples=samples)
    assert doc.count("</script>") == 2 and doc.count("<script") == 2
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in doc
    # The embedded run JSON has no raw markup and round-trips exactly.
    blob = parse(doc).scripts[0]
    for ch in ("<", ">", "&", "\u2028", "\u2029"):
        assert ch not in blob
    assert json.loads(blob)["config"]["name"] == info["config"]["name"]


def test_no_network_references(tmp_path):
    info, f, samples = make_run(30)
    samples = write_images(samples, tmp_path)
    samples.loc[0, "image"] = "https://example.com/cat.jpg"
    f.at[0, "examples"] = ["img_00000", "img_00001"]
    doc = build_report(info, f, samples=samples, image_root=tmp_path)
    assert remote_references(doc) == []
    assert "remote image (not fetched): cat.jpg" in doc
    # The URL is a link the reader may follow (and a title), never a resource the page loads.
    links = [a for t, a in parse(doc).tags if t == "a" and a.get("href") == "https://example.com/cat.jpg"]
    assert links and all(a["rel"] == "noopener noreferrer" for a in links)
    assert doc.count("https://") == 2 * len(links)
    # A Content-Security-Policy forbids fetches and allows only the report's own script, by hash.
    csp = next(a["content"] for t, a in parse(doc).tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    js = parse(doc).scripts[1]
    digest = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp


def test_no_http_at_all_without_remote_data():
    info, f, samples = make_run(20)
    doc = build_report(info, f, samples=samples)
    assert "http://" not in doc and "https://" not in doc


@pytest.mark.parametrize("frame", [pd.DataFrame(columns=FINDING_COLUMNS), pd.DataFrame()])
def test_empty_findings_render(frame):
    info, _, _ = make_run(1)
    info["counts"].update(findings=0, findings_by_level={})
    doc = build_report(info, frame)
    assert "No (label, group) association passed" in doc
    assert 'id="findings-table"' not in doc and 'id="volcano"' not in doc
    assert remote_references(doc) == []


def test_minimal_info_renders():
    """A run.json with only its identity (every other key takes its default) still renders."""
    _, f, _ = make_run(5)
    doc = build_report({"run_id": "r1", "config_name": "c", "created_at": "2026-01-01T00:00:00+00:00"}, f)
    assert count(doc, "tbody", "f") == 5
    assert re.search(r'<div class="k">Detector findings</div><div class="v">5</div>', doc)


def test_a_run_record_and_its_run_json_give_the_same_report():
    info, f, _ = make_run(8, seed=13)
    record = RunRecord.from_json(info)
    assert build_report(record, f) == build_report(record.to_json(), f) == build_report(info, f)


def test_run_without_its_identity_is_refused_with_the_key():
    _, f, _ = make_run(2)
    with pytest.raises(DataError, match=r"run record: no 'run_id'; pass a RunRecord or the run.json"):
        build_report({}, f)


def _footer(doc: str) -> str:
    return doc.split("<footer>", 1)[1].split("</footer>", 1)[0]


def test_footer_names_the_recorded_correction():
    info, f, _ = make_run(6, seed=14)
    for fam in info["families"]:
        fam["correction"] = "by"
    footer = _footer(build_report(info, f))
    assert "q-values are Benjamini–Yekutieli within each family." in footer
    assert "Hochberg" not in footer
    for fam in info["families"]:
        fam["correction"] = "bh"
    assert "q-values are Benjamini–Hochberg within each family." in _footer(build_report(info, f))


def test_footer_names_each_correction_with_its_families():
    info, f, _ = make_run(6, seed=14)
    info["families"][1]["correction"] = "by"
    footer = _footer(build_report(info, f))
    assert "Benjamini–Hochberg in watchlist; Benjamini–Yekutieli in discovery" in footer


def test_footer_of_a_run_without_families_names_the_configured_correction():
    info, f, _ = make_run(3, seed=15)
    info["families"] = []
    info["config"]["scan"]["correction"] = "by"
    assert "q-values are Benjamini–Yekutieli within each family." in _footer(build_report(info, f))
    del info["config"]["scan"]["correction"]
    assert "q-values are adjusted for multiple testing within each family." in _footer(build_report(info, f))


def test_rows_most_severe_first_with_scan_rank_and_complete_details():
    info, f, samples = make_run(25, seed=3)
    shuffled = f.sample(frac=1.0, random_state=0).reset_index(drop=True)
    doc = build_report(info, shuffled, samples=samples)
    p = parse(doc)
    ranks = [int(a["data-rank"]) for t, a in p.tags if t == "tbody" and "f" in (a.get("class") or "").split()]
    assert sorted(ranks) == list(range(1, 26))  # "#" is the row's rank in the findings table given
    sev = shuffled["severity"].to_numpy()[np.array(ranks) - 1]
    assert list(zip(-sev, ranks)) == sorted(zip(-sev, ranks))  # most severe first, ties by rank
    # 2x2 numbers of the top finding (universe reconstructed from expected = n K / N).
    top = shuffled.iloc[ranks[0] - 1]
    a, n, K, N = int(top["count"]), int(top["group_size"]), int(top["label_count"]), 24_000
    detail = doc.split(f'id="f-{ranks[0]}"', 1)[1].split('<tbody class="f"', 1)[0]
    for v in (a, n - a, K - a, N - n - K + a, N - n, N - K, N):
        assert f">{v:,}<" in detail
    assert f"{int(top['family_size']):,} tests" in detail and str(top["finding_id"]) in detail
    lo, hi = top["rate_in_low"], top["rate_in_high"]
    assert f"[{100 * lo:.2f}%, {100 * hi:.2f}%]" in detail or f"[{100 * lo:.1f}%, {100 * hi:.1f}%]" in detail
    assert "shrunk lift (EBGM)" in detail


def test_detector_detail_and_error_gap_words():
    info, f, _ = make_run(4, seed=8)
    f["detector"] = "error_gap"
    f["detail"] = "TPR shortfall: FPR 1.0% vs 0.5% outside <i>"
    f.loc[1:, "detail"] = "FPR excess: FPR 4.0% vs 1.0% outside"
    doc = build_report(info, f)
    assert "TPR shortfall: FPR 1.0% vs 0.5% outside &lt;i&gt;" in doc
    assert ">missed<" in doc and ">false positive<" in doc


def test_inf_nan_values():
    info, f, samples = make_run(8, seed=2)
    f.loc[0, ["lift", "lift_high"]] = math.inf
    f.loc[1, "q_value"] = 0.0
    f.loc[2, ["lift", "lift_low", "lift_high"]] = math.nan
    f.loc[3, "severity"] = math.nan
    f.at[4, "examples"] = None
    f.loc[5, "watch_category"] = math.nan
    doc = build_report(info, f, samples=samples)
    assert count(doc, "tbody", "f") == 8
    assert count(doc, "circle", "pt") == 7  # the NaN lift is left out, with a note
    assert "1 pair(s) with an undefined lift or q-value are not plotted" in doc
    assert count(doc, "circle", "clipped") == 2
    assert "∞" in doc and "&lt; 1e-300" in doc
    assert 'data-v="Infinity"' in doc
    assert "nan" not in re.sub(r"<script.*?</script>", "", doc, flags=re.S).lower().replace("nanum", "")


def test_ten_thousand_findings_are_capped():
    info, f, samples = make_run(10_000, seed=4)
    doc = build_report(info, f, samples=samples, max_findings=500)
    assert count(doc, "tbody", "f") == 500
    assert count(doc, "circle", "pt") == 500
    assert "Showing the 500 most severe of 10,000 (label, group) pairs" in doc
    kept = pd.to_numeric(f["severity"]).nlargest(500).min()
    first_left_out = pd.to_numeric(f["severity"]).sort_values(ascending=False).iloc[500]
    assert kept >= first_left_out
    assert len(doc) < 8_000_000


def test_unicode_and_write_report(tmp_path):
    info, f, samples = make_run(5, extra_labels=(UNICODE_LABEL,))
    samples.loc[:, "text"] = "naïve 🙂 caption"
    doc = build_report(info, f, samples=samples)
    assert UNICODE_LABEL.replace("\u2028", "") .split()[0] in doc
    out = write_report(tmp_path / "runs" / "r1" / "report.html", doc)
    assert out.read_text(encoding="utf-8") == doc
    write_report(out, doc.replace("photo-tagger", "second"))  # overwrite in place
    assert "second" in out.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temporary left behind


def test_write_report_error_names_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match=r"file/report.html: cannot write the report .*choose a writable folder"):
        write_report(blocker / "report.html", "<html></html>")


def test_thumbnails_embedded_once_and_small(tmp_path):
    from PIL import Image

    info, f, samples = make_run(10, seed=5)
    samples = write_images(samples, tmp_path, size=(640, 200))
    same = list(samples["sample_id"][:4])
    f["examples"] = [same] * len(f)
    samples.loc[3, "image"] = "img/does-not-exist.png"
    doc = build_report(info, f, samples=samples, image_root=tmp_path, thumbnail_px=64)
    tags = re.findall(r'<img class="thumb" src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"', doc)
    uris = {t[0] for t in tags}
    assert len(uris) == 3 and len(tags) == 30  # three readable images, each read once, shown in all ten findings
    assert all((w, h) == ("64", "20") for _, w, h in tags)  # 640 x 200 fitted in 64 x 64
    for b64 in uris:
        w, h = Image.open(io.BytesIO(base64.b64decode(b64))).size
        assert max(w, h) <= 64
    assert "image file missing" in doc


def test_thumbnail_budget_falls_back_to_the_path_and_says_so(tmp_path):
    info, f, samples = make_run(10, seed=5)
    samples = write_images(samples, tmp_path)
    f["examples"] = [list(samples["sample_id"][:4])] * len(f)
    full = build_report(info, f, samples=samples, image_root=tmp_path)
    one = len(re.search(r'<img class="thumb"[^>]*>', full).group(0))
    doc = build_report(info, f, samples=samples, image_root=tmp_path, max_thumbnail_bytes=5 * one)
    assert 4 <= doc.count('<img class="thumb"') <= 5  # the most severe findings' examples, within the budget
    assert "not embedded: over the report&#x27;s thumbnail budget" in doc  # the placeholder says why
    assert "example images are shown by their path, not as thumbnails" in doc
    assert "<code>img/img_00003.png</code>" in doc  # the fallback names the image
    assert len(doc) < len(full)


def test_transparent_images_stay_png_and_data_uris_are_thumbnailed(tmp_path):
    from PIL import Image

    info, f, samples = make_run(4, seed=2)
    samples["image"] = None
    Image.new("RGBA", (300, 150), (255, 0, 0, 80)).save(tmp_path / "a.png")
    buf = io.BytesIO()
    Image.new("RGB", (50, 200), (0, 90, 0)).save(buf, "JPEG")
    samples.loc[0, "image"] = str(tmp_path / "a.png")  # absolute path
    samples.loc[1, "image"] = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    samples.loc[2, "image"] = "data:image/jpeg;base64,not base64!"
    f["examples"] = [list(samples["sample_id"][:3])] * len(f)
    doc = build_report(info, f, samples=samples, thumbnail_px=96)
    png = re.search(r'src="data:image/png;base64,([^"]+)" width="96" height="48"', doc)
    assert png and Image.open(io.BytesIO(base64.b64decode(png.group(1)))).mode == "RGBA"
    assert re.search(r'src="data:image/jpeg;base64,[^"]+" width="24" height="96"', doc)
    assert "unreadable image" in doc


def test_text_inputs_show_text_not_images():
    info, f, samples = make_run(5)
    assert "text" in samples.columns and "image" not in samples.columns
    doc = build_report(info, f, samples=samples)
    assert "<img" not in doc and 'class="snip"' in doc


def test_bad_arguments_name_the_parameter():
    info, f, _ = make_run(3)
    with pytest.raises(ValueError, match=r"thumbnail_px must be an int in \[16, 512\]; found 4"):
        build_report(info, f, thumbnail_px=4)
    with pytest.raises(ValueError, match=r"max_findings must be an int >= 0; found -1"):
        build_report(info, f, max_findings=-1)
    with pytest.raises(DataError, match=r"findings table: missing column\(s\) q_value, severity;"):
        build_report(info, f.drop(columns=["severity", "q_value"]))


def test_heatmap_has_top_labels_and_groups():
    info, f, _ = make_run(200, seed=6)
    doc = build_report(info, f)
    p = parse(doc)
    label_rows = sum(1 for t, a in p.tags if t == "th" and a.get("class") == "lh")
    group_cols = sum(1 for t, a in p.tags if t == "th" and a.get("class") == "gh")
    assert label_rows == min(20, f["label"].nunique())
    assert group_cols == min(15, f["group"].nunique())
    cells = [a for t, a in p.tags if t == "td" and "hc" in (a.get("class") or "").split() and "data-open" in a]
    assert cells and all(1 <= int(a["data-open"]) <= 200 for a in cells)


# -- one row per (label, group) ------------------------------------------------------------------

# Evidence of the other detectors on the pair, with values found nowhere else in the report.
_ERROR_GAP = {"detector": "error_gap", "p_value": 1.1e-06, "q_value": 3.3e-05, "lift": 7.77, "lift_low": 2.34,
              "lift_high": 13.5, "detail": "FPR excess: FPR 4.0% vs 1.0% outside", "finding_id": "eg0000000000feed"}
_LABEL_FAMILY = {"detector": "label_family", "p_value": 2.2e-07, "q_value": 4.4e-06, "lift": 5.55, "lift_low": 1.23,
                 "lift_high": 9.87, "detail": "tested with ape, chimpanzee", "finding_id": "lf0000000000beef"}


def with_other_detectors(f: pd.DataFrame, i: int, *others: dict, severity_drop: float = 5.0) -> pd.DataFrame:
    """``f`` with rows appended for other detectors raising the same (label, group) as row ``i``, each
    less severe than row ``i`` (as findings.parquet has them: one row per detector)."""
    rows = []
    for j, other in enumerate(others, 1):
        r = f.iloc[i].copy()
        for key, value in other.items():
            r[key] = value
        r["severity"] = float(f["severity"].iat[i]) - severity_drop * j
        rows.append(r)
    return pd.concat([f, pd.DataFrame(rows)], ignore_index=True)


def _tbody(doc: str, rank: int) -> str:
    return doc.split(f'id="f-{rank}"', 1)[1].split('<tbody class="f"', 1)[0]


def test_a_pair_raised_by_three_detectors_is_one_row_with_all_evidence():
    info, f, _ = make_run(6, seed=9)
    both = with_other_detectors(f, 2, _ERROR_GAP, _LABEL_FAMILY)
    info["counts"]["findings"] = len(both)
    doc = build_report(info, both)
    p = parse(doc)
    bodies = [a for t, a in p.tags if t == "tbody" and "f" in (a.get("class") or "").split()]
    assert len(bodies) == 6  # one row per (label, group), not one per detector
    assert sorted(int(a["data-rank"]) for a in bodies) == [1, 2, 3, 4, 5, 6]  # the most severe of each pair
    assert [a["data-detectors"] for a in bodies if a["data-rank"] == "3"] == ["association error_gap label_family"]
    row = _tbody(doc, 3)
    assert row.count("also: error_gap, label_family") == 1
    # Every detector's effect and p/q values are in the row's detail, and each one's full detail too.
    for other in (_ERROR_GAP, _LABEL_FAMILY):
        assert f'<tr class="other" data-detector="{other["detector"]}">' in row
        for key in ("p_value", "q_value"):
            assert f">{other[key]:.1e}<" in row
        assert f"<b>{other['lift']:.2f}</b>" in row and f"[{other['lift_low']:.2f}, " in row
        assert other["detail"] in row and other["finding_id"] in row
        assert f"All evidence from <code>{other['detector']}</code>" in row
        assert other["finding_id"] not in doc.replace(row, "")  # nowhere else: not a row of its own
    # The plots have one mark per pair.
    assert count(doc, "circle", "pt") == 6
    assert sum(1 for t, a in p.tags if t == "td" and "data-open" in a) == 6
    # The header says what it counts.
    assert re.search(r'<div class="k">Flagged pairs</div><div class="v">6</div>', doc)
    assert re.search(r'<div class="k">Detector findings</div><div class="v">8</div>', doc)
    assert "6 pairs from 8 detector findings" in doc
    pair_levels = sum(int(n) for n in re.findall(r"<b>(\d+)</b>", doc.split('id="pair-levels"', 1)[1].split("</div>", 1)[0]))
    assert pair_levels == 6


def test_the_most_severe_detector_represents_the_pair_whatever_the_row_order():
    info, f, _ = make_run(4, seed=10)
    both = with_other_detectors(f, 0, _ERROR_GAP, severity_drop=-5.0)  # error_gap is the more severe
    both = both.iloc[::-1].reset_index(drop=True)  # and the frame is in no particular order
    doc = build_report(info, both)
    assert count(doc, "tbody", "f") == 4
    eg_rank = int(np.flatnonzero(both["detector"] == "error_gap")[0]) + 1
    row = _tbody(doc, eg_rank)
    assert '<td class="det" data-v="error_gap"><code>error_gap</code><span class="sub also">also: association</span>' in row
    assert '<tr class="other" data-detector="association">' in row
    first = next(int(a["data-rank"]) for t, a in parse(doc).tags if t == "tbody" and "f" in (a.get("class") or ""))
    assert first == eg_rank  # the pair's severity is its most severe finding's


def test_capped_report_counts_pairs():
    info, f, _ = make_run(30, seed=11)
    both = with_other_detectors(f, 0, _ERROR_GAP)
    doc = build_report(info, both, max_findings=10)
    assert count(doc, "tbody", "f") == 10 and count(doc, "circle", "pt") == 10
    assert "Showing the 10 most severe of 30 (label, group) pairs" in doc
    assert "also: error_gap" in doc


# -- real browser -------------------------------------------------------------------------------


def _browser_paths() -> tuple[str, str]:
    chromium = os.environ.get("TAGSCAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    driver = os.environ.get("TAGSCAN_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [p for p in (chromium, driver) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = (
            f"headless report test needs {', '.join(missing)}: run scripts/browser.sh (as root) to install "
            "chromium and chromium-driver, and install the dev extra (selenium)"
        )
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason + " (CI=true: never skipped in CI)")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}",
    ):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _severe(driver) -> list[dict]:
    return [m for m in driver.get_log("browser") if m.get("level") == "SEVERE"]


def _no_alert(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"an alert is open: {text!r}")


def _column(driver, key: str) -> list[str]:
    """The data-v sort keys of one column, in the current row order."""
    return driver.execute_script(
        "var key = arguments[0];"
        "var ths = Array.from(document.querySelectorAll('#findings-table thead th'));"
        "var idx = ths.findIndex(function (th) { return th.getAttribute('data-key') === key; });"
        "return Array.from(document.querySelectorAll('#findings-table tbody.f'))"
        "  .map(function (b) { return b.rows[0].cells[idx].getAttribute('data-v'); });",
        key,
    )


def _column_sorted_by_rank(f: pd.DataFrame) -> list[str]:
    return [str(x).lower() for x in f.sort_values("severity", ascending=False, kind="stable")["label_name"]]


def _num(v: str) -> float:
    return math.nan if v == "" else float(v)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("report")
    info, f, samples = make_run(40, seed=7, extra_labels=(XSS_LABEL, UNICODE_LABEL))
    samples = write_images(samples, folder)
    samples.loc[:, "text"] = [XSS_TEXT if i % 3 == 0 else t for i, t in enumerate(samples["text"])]
    f.at[int(np.flatnonzero(f["label"] == XSS_LABEL)[0]), "examples"] = ["img_00000", "img_00003"]
    f.loc[5, ["lift", "lift_high"]] = math.inf
    path = write_report(folder / "report.html", build_report(info, f, samples=samples, image_root=folder))
    return path, f


def test_browser_loads_clean_and_shows_markup_as_text(browser, report_file):
    from selenium.webdriver.common.by import By

    path, f = report_file
    browser.get(path.as_uri())
    _no_alert(browser)
    assert _severe(browser) == []
    assert browser.execute_script("return document.readyState") == "complete"
    rows = browser.find_elements(By.CSS_SELECTOR, "#findings-table tbody.f")
    assert len(rows) == len(f) == 40
    names = [r.find_element(By.CSS_SELECTOR, "td.label .name").text for r in rows]
    assert names.count(XSS_LABEL) == 1
    assert XSS_LABEL in browser.find_element(By.ID, "findings-table").text
    assert UNICODE_LABEL.split()[0] in browser.find_element(By.ID, "findings-table").text
    # No element was created from data: the only scripts are the report's own.
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 2
    assert browser.find_elements(By.CSS_SELECTOR, "#volcano circle.pt").__len__() == 40


def test_browser_sorting_expanding_and_plots(browser, report_file):
    from selenium.webdriver.common.by import By

    path, f = report_file
    browser.get(path.as_uri())
    sev = [_num(v) for v in _column(browser, "severity")]
    assert sev == sorted(sev, reverse=True)  # default: severity, descending
    th = browser.find_element(By.CSS_SELECTOR, "#findings-table th[data-key=severity]")
    assert th.get_attribute("aria-sort") == "descending"

    lift_th = browser.find_element(By.CSS_SELECTOR, "#findings-table th[data-key=lift]")
    lift_th.find_element(By.TAG_NAME, "button").click()
    lifts = [_num(v) for v in _column(browser, "lift")]
    assert lifts[0] == math.inf and lifts == sorted(lifts, reverse=True)
    assert lift_th.get_attribute("aria-sort") == "descending" and th.get_attribute("aria-sort") is None
    lift_th.find_element(By.TAG_NAME, "button").click()
    lifts = [_num(v) for v in _column(browser, "lift")]
    assert lifts == sorted(lifts) and lift_th.get_attribute("aria-sort") == "ascending"

    browser.find_element(By.CSS_SELECTOR, "#findings-table th[data-key=label] button").click()
    names = _column(browser, "label")
    assert browser.execute_script(
        "var a = arguments[0]; for (var i = 1; i < a.length; i++) { if (a[i - 1].localeCompare(a[i]) > 0) return false; }"
        " return true;",
        names,
    )
    assert names != _column_sorted_by_rank(f)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#findings-table tbody.f")) == 40

    # Expanding a row shows its details, with the example text as text.
    browser.find_element(By.CSS_SELECTOR, "#findings-table th[data-key=severity] button").click()
    browser.find_element(By.CSS_SELECTOR, "#findings-table th[data-key=severity] button").click()
    xss_rank = browser.execute_script(
        "var want = arguments[0];"
        "return Array.from(document.querySelectorAll('#findings-table tbody.f')).filter(function (b) {"
        "  return b.querySelector('td.label .name').textContent === want; })[0].getAttribute('data-rank');",
        XSS_LABEL,
    )
    body = browser.find_element(By.ID, f"f-{xss_rank}")
    detail = body.find_element(By.CSS_SELECTOR, "tr.detail")
    assert not detail.is_displayed()
    body.find_element(By.CSS_SELECTOR, "tr.row td.label").click()
    assert detail.is_displayed()
    assert "</script><script>alert(2)</script>" in detail.text
    assert "with label" in detail.text and "q-value" in detail.text
    thumbs = detail.find_elements(By.CSS_SELECTOR, "img.thumb")
    assert thumbs and all(t.size["width"] == 96 for t in thumbs)
    assert thumbs[0].get_attribute("src").startswith("data:image/jpeg;base64,")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumbs[0]) == 96

    # A volcano point opens its finding.
    other = 7 if xss_rank != "7" else 8
    target = browser.find_element(By.ID, f"f-{other}")
    assert not target.find_element(By.CSS_SELECTOR, "tr.detail").is_displayed()
    browser.execute_script("document.querySelector('#volcano circle[data-open=\"' + arguments[0] + '\"]')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
        str(other),
    )
    assert target.find_element(By.CSS_SELECTOR, "tr.detail").is_displayed()

    # The text filter hides rows that do not match.
    box = browser.find_element(By.ID, "filter")
    box.send_keys("alert(1)")
    visible = [b for b in browser.find_elements(By.CSS_SELECTOR, "#findings-table tbody.f") if b.is_displayed()]
    assert len(visible) == 1
    assert browser.find_element(By.ID, "shown-count").text == "1 shown"
    _no_alert(browser)
    assert _severe(browser) == []


def test_browser_empty_report(browser, tmp_path):
    info, _, _ = make_run(1)
    info["counts"].update(findings=0, findings_by_level={})
    path = write_report(tmp_path / "empty.html", build_report(info, pd.DataFrame(columns=FINDING_COLUMNS)))
    from selenium.webdriver.common.by import By

    browser.get(path.as_uri())
    assert _severe(browser) == []
    assert "No (label, group) association passed" in browser.find_element(By.ID, "findings").text


def test_browser_one_row_per_pair_with_the_other_detectors_evidence(browser, tmp_path):
    from selenium.webdriver.common.by import By

    info, f, _ = make_run(10, seed=12)
    both = with_other_detectors(f, 1, _ERROR_GAP, _LABEL_FAMILY)
    info["counts"]["findings"] = len(both)
    path = write_report(tmp_path / "pairs.html", build_report(info, both))
    browser.get(path.as_uri())
    assert _severe(browser) == []
    label, group = both["label_name"].iat[1], both["group"].iat[1]
    rows = [
        b for b in browser.find_elements(By.CSS_SELECTOR, "#findings-table tbody.f")
        if b.find_element(By.CSS_SELECTOR, "td.label .name").text == label
        and b.find_element(By.CSS_SELECTOR, "td.group .name").text == group
    ]
    assert len(rows) == 1  # one row for the pair, though three detectors raised it
    assert len(browser.find_elements(By.CSS_SELECTOR, "#findings-table tbody.f")) == 10
    assert len(browser.find_elements(By.CSS_SELECTOR, "#volcano circle.pt")) == 10
    body = rows[0]
    det = body.find_element(By.CSS_SELECTOR, "tr.row td.det")
    assert det.text.splitlines() == ["association", "also: error_gap, label_family"]

    detail = body.find_element(By.CSS_SELECTOR, "tr.detail")
    assert not detail.is_displayed()
    det.click()
    assert detail.is_displayed()
    ev = detail.find_element(By.CSS_SELECTOR, "table.ev")
    assert ev.is_displayed()
    lines = {r.get_attribute("data-detector"): r.text for r in ev.find_elements(By.CSS_SELECTOR, ":scope > tbody > tr")}
    assert list(lines) == ["association", "error_gap", "label_family"]
    for other in (_ERROR_GAP, _LABEL_FAMILY):
        text = lines[other["detector"]]
        assert f"{other['q_value']:.1e}" in text and f"{other['p_value']:.1e}" in text
        assert f"{other['lift']:.2f}" in text and other["detail"] in text
    # Each other detector's full detail opens from the row's detail.
    more = detail.find_element(By.CSS_SELECTOR, 'details.more[data-detector="error_gap"]')
    assert _ERROR_GAP["finding_id"] not in more.text
    more.find_element(By.TAG_NAME, "summary").click()
    assert _ERROR_GAP["finding_id"] in more.text and "false positive" in more.text
    assert detail.is_displayed()  # opening it did not collapse the row

    # Filtering by a detector that is not the row's own still finds the pair.
    box = browser.find_element(By.ID, "filter")
    box.send_keys("label_family")
    visible = [b for b in browser.find_elements(By.CSS_SELECTOR, "#findings-table tbody.f") if b.is_displayed()]
    assert [b.get_attribute("id") for b in visible] == [body.get_attribute("id")]
    assert "10 pairs from 12 detector findings" in browser.find_element(By.ID, "findings").text
    assert _severe(browser) == []


def test_header_says_why_groups_were_not_tested():
    from tagscan.outputs.html.summary import untested_text

    assert untested_text(Counts(groups_untested=9)) == "9 not tested"  # runs written before the reasons
    assert untested_text(Counts(groups_untested=0, groups_untested_by_reason={})) == "none left out"
    reasons = {"below min_group_size 30": 7, "covers its whole universe": 2}
    text = untested_text(Counts(groups_untested=9, groups_untested_by_reason=reasons))
    assert text == "7 below min_group_size 30; 2 covers its whole universe"
    assert untested_text(Counts()) == "none left out"


def test_watch_category_on_a_discovery_finding_is_named_as_the_labels():
    """A watchlist label on a group not about people is a discovery finding: its tag reads 'dehumanizing label'
    (the label's category), while a watchlist hit keeps 'dehumanizing'."""
    info, f, _ = make_run(4, seed=8)
    f["family"] = ["watchlist", "discovery", "discovery", "label_family:watchlist"]
    f["watch_category"] = ["dehumanizing", "dehumanizing", None, "criminality"]
    doc = build_report(info, f)
    tags = re.findall(r'<span class="tag watch">([^<]*)</span>', doc)
    assert set(tags) == {"dehumanizing", "dehumanizing label", "criminality"}
    assert "criminality label" not in doc and "None label" not in doc
