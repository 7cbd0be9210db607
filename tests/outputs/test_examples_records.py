"""The report's examples for samples without text or image: their columns and their review.link."""

from __future__ import annotations

import pandas as pd

from tagscan.outputs.html.examples import Examples


def samples() -> pd.DataFrame:
    return pd.DataFrame({"sample_id": ["p 1", "p2"], "tone": ["dark", None], "city": ["Oslo", "<Rome>"]})


def test_record_samples_show_their_columns_and_link():
    ex = Examples(samples(), None, 96, link="https://photos.example/{sample_id}")
    html = ex.render(["p 1", "p2"])
    assert '<span class="snip">tone: dark · city: Oslo</span>' in html
    assert '<span class="snip">city: &lt;Rome&gt;</span>' in html  # escaped; a missing value left out
    assert '<a class="snip" href="https://photos.example/p%201" target="_blank" rel="noopener">' in html
    only = Examples(samples(), None, 96, show=["city"]).render(["p 1"])
    assert "city: Oslo" in only and "tone" not in only and "<a " not in only


def test_text_samples_keep_their_text_and_get_the_link():
    s = samples().assign(text=["a photo", "another"])
    html = Examples(s, None, 96, link="https://photos.example/{sample_id}").render(["p2"])
    assert "another" in html and "city:" not in html and 'href="https://photos.example/p2"' in html


def test_a_link_naming_a_missing_column_shows_no_link():
    html = Examples(samples(), None, 96, link="https://photos.example/{photo}").render(["p2"])
    assert "<a " not in html and "city: &lt;Rome&gt;" in html
