"""Image inputs without a server: the service resolves local paths (relative ones under image_root); the
Label Studio backend maps them to local-files URLs and finds the folders to attach."""

from __future__ import annotations

import pandas as pd
import pytest

from tagscan.errors import DataError
from tagscan.review.backends.label_studio import LabelStudioBackend
from tagscan.review.backends.label_studio.urls import local_files_urls
from tagscan.review.service import resolve_images


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "root"
    for rel in ("set a/x 1.png", "set a/deep/y.png", "set b/z.png"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"png")
    return root


def urls(values, root, files_root):
    return local_files_urls(resolve_images(pd.Series(values), image_root=root).values(), files_root=files_root)


def test_resolve_keeps_urls_and_makes_paths_absolute(photos):
    images = pd.Series(["set a/x 1.png", str(photos / "set a/deep/y.png"), "https://e.org/q.jpg", "data:image/png;base64,AA", None])
    got = resolve_images(images, image_root=photos)
    assert got == {
        "set a/x 1.png": str((photos / "set a/x 1.png").resolve()),
        str(photos / "set a/deep/y.png"): str((photos / "set a/deep/y.png").resolve()),
        "https://e.org/q.jpg": "https://e.org/q.jpg",
        "data:image/png;base64,AA": "data:image/png;base64,AA",
    }


def test_urls_and_minimal_folders(photos):
    values = ["set a/x 1.png", str(photos / "set a/deep/y.png"), "set b/z.png", "https://e.org/q.jpg"]
    resolved = resolve_images(pd.Series(values), image_root=photos)
    mapping, folders = local_files_urls(resolved.values(), files_root=photos)
    fn = lambda v: mapping[resolved[v]]  # noqa: E731
    assert fn("set a/x 1.png") == "/data/local-files/?d=set%20a/x%201.png"
    assert fn(str(photos / "set a/deep/y.png")) == "/data/local-files/?d=set%20a/deep/y.png"
    assert fn("https://e.org/q.jpg") == "https://e.org/q.jpg"
    assert folders == [(photos / "set a").resolve(), (photos / "set b").resolve()]


def test_relative_without_image_root(photos):
    with pytest.raises(DataError, match="image 'set b/z.png' is a relative path and no image_root was given"):
        resolve_images(pd.Series(["set b/z.png"]), image_root=None)


def test_missing_file(photos):
    with pytest.raises(DataError, match="image 'nope.png' .* is not a file; fix the samples table's image column"):
        resolve_images(pd.Series(["nope.png"]), image_root=photos)


def test_no_document_root(photos):
    with pytest.raises(DataError, match="is a local file, so Label Studio must serve it: give the server's local-files document root"):
        urls(["set b/z.png"], photos, None)


def test_outside_or_directly_in_the_document_root(photos, tmp_path):
    msg = "is not inside a sub-folder of Label Studio's local-files document root"
    with pytest.raises(DataError, match=msg):
        urls(["set b/z.png"], photos, tmp_path / "elsewhere")
    (photos / "top.png").write_bytes(b"png")  # Label Studio refuses a storage equal to its root
    with pytest.raises(DataError, match=msg):
        urls(["top.png"], photos, photos)


def test_backend_checks_items_before_any_request(photos, review_data):
    """push validates through check_items before the lock and before any request (the server is never
    contacted here: nothing listens on port 1)."""
    from tagscan.review.codec import review_items

    findings, samples = review_data(1, 2)
    samples["image"] = str(photos / "set b/z.png")
    items = review_items(findings, samples, input_kind="image", model_key="m")
    LabelStudioBackend("http://127.0.0.1:1", "k", files_root=photos).check_items(items)
    with pytest.raises(DataError, match="Label Studio must serve it"):
        LabelStudioBackend("http://127.0.0.1:1", "k").check_items(items)
