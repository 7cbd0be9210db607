"""Image inputs: local paths -> Label Studio local-files URLs and the folders to attach (no server)."""

from __future__ import annotations

import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.review.service import local_image_urls


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "root"
    for rel in ("set a/x 1.png", "set a/deep/y.png", "set b/z.png"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"png")
    return root


def test_urls_and_minimal_folders(photos):
    images = pd.Series(["set a/x 1.png", str(photos / "set a/deep/y.png"), "set b/z.png", "https://e.org/q.jpg", None])
    fn, folders = local_image_urls(images, image_root=photos, files_root=photos)
    assert fn("set a/x 1.png") == "/data/local-files/?d=set%20a/x%201.png"
    assert fn(str(photos / "set a/deep/y.png")) == "/data/local-files/?d=set%20a/deep/y.png"
    assert fn("https://e.org/q.jpg") == "https://e.org/q.jpg"
    assert folders == [(photos / "set a").resolve(), (photos / "set b").resolve()]


def test_relative_without_image_root(photos):
    with pytest.raises(DataError, match="image 'set b/z.png' is a relative path and no image_root was given"):
        local_image_urls(pd.Series(["set b/z.png"]), image_root=None, files_root=photos)


def test_missing_file(photos):
    with pytest.raises(DataError, match="image 'nope.png' .* is not a file; fix the samples table's image column"):
        local_image_urls(pd.Series(["nope.png"]), image_root=photos, files_root=photos)


def test_no_document_root(photos):
    with pytest.raises(DataError, match="is a local file, so Label Studio must serve it: give the server's local-files document root"):
        local_image_urls(pd.Series(["set b/z.png"]), image_root=photos, files_root=None)


def test_outside_or_directly_in_the_document_root(photos, tmp_path):
    msg = "is not inside a sub-folder of Label Studio's local-files document root"
    with pytest.raises(DataError, match=msg):
        local_image_urls(pd.Series(["set b/z.png"]), image_root=photos, files_root=tmp_path / "elsewhere")
    (photos / "top.png").write_bytes(b"png")  # Label Studio refuses a storage equal to its root
    with pytest.raises(DataError, match=msg):
        local_image_urls(pd.Series(["top.png"]), image_root=photos, files_root=photos)
